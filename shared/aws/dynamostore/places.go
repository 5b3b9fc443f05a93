package dynamostore

import (
	"context"
	"errors"
	"sort"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// A transform's places (its concurrency limit) are one item, PLACES#<transform>, whose string set
// "runs" holds the runs with a place: one conditional UpdateItem admits a run, so two admissions never
// both take the last place.

// Admit adds run to the transform's places if it holds one already or fewer than limit are held.
func (s *Store) Admit(ctx context.Context, transform, runID string, limit int) (bool, error) {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: key("PLACES#" + transform),
		UpdateExpression:    aws.String("ADD runs :run"),
		ConditionExpression: aws.String("attribute_not_exists(runs) OR contains(runs, :id) OR size(runs) < :n"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":run": &types.AttributeValueMemberSS{Value: []string{runID}}, ":id": str(runID),
			":n": &types.AttributeValueMemberN{Value: strconv.Itoa(limit)}}})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return false, nil
	}
	return err == nil, classify("admit", err)
}

// Leave takes run out of the transform's places.
func (s *Store) Leave(ctx context.Context, transform, runID string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: key("PLACES#" + transform),
		UpdateExpression:          aws.String("DELETE runs :run"),
		ConditionExpression:       aws.String("attribute_exists(pk)"), // no item is made for a leave
		ExpressionAttributeValues: map[string]types.AttributeValue{":run": &types.AttributeValueMemberSS{Value: []string{runID}}}})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return nil
	}
	return classify("leave", err)
}

// Places lists the runs holding a place of transform (sorted by id: a set keeps no order).
func (s *Store) Places(ctx context.Context, transform string) ([]string, error) {
	item, err := s.get(ctx, "PLACES#"+transform)
	if err != nil {
		return nil, err
	}
	set, _ := item["runs"].(*types.AttributeValueMemberSS)
	if set == nil {
		return nil, nil
	}
	out := append([]string(nil), set.Value...)
	sort.Strings(out)
	return out, nil
}
