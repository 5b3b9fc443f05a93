package dynamostore

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func transformItem(t sparkflow.Transform) map[string]types.AttributeValue {
	it := key("TRANSFORM#" + t.Name)
	it["data"], it["pl"] = data(t), str(t.Pool)
	it["g1pk"], it["g1sk"] = str("TRANSFORMS"), str(t.Name)
	return it
}

func (s *Store) CreateTransform(ctx context.Context, t sparkflow.Transform) error {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: transformItem(t), ConditionExpression: aws.String("attribute_not_exists(pk)")})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return sparkflow.Errorf(sparkflow.Conflict, "transform %q exists already", t.Name)
	}
	return classify("create transform", err)
}

func (s *Store) GetTransform(ctx context.Context, name string) (sparkflow.Transform, error) {
	return getDoc[sparkflow.Transform](ctx, s, "TRANSFORM#"+name, "transform", name)
}

func (s *Store) ListTransforms(ctx context.Context, pool string) ([]sparkflow.Transform, error) {
	var filter *string
	var vals map[string]types.AttributeValue
	if pool != "" {
		filter, vals = aws.String("pl = :pool"), map[string]types.AttributeValue{":pool": str(pool)}
	}
	items, err := s.queryIndex(ctx, Index1, "TRANSFORMS", true, filter, vals, 0)
	if err != nil {
		return nil, err
	}
	return decodeAll[sparkflow.Transform](items)
}

func (s *Store) UpdateTransform(ctx context.Context, t sparkflow.Transform) error {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: transformItem(t), ConditionExpression: aws.String("attribute_exists(pk)")})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return sparkflow.Errorf(sparkflow.NotFound, "transform %q not found", t.Name)
	}
	return classify("update transform", err)
}

func (s *Store) DeleteTransform(ctx context.Context, name string) error {
	_, err := s.deleteExisting(ctx, "TRANSFORM#"+name, "transform", name)
	return err
}
