package dynamostore

import (
	"context"
	"errors"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func (s *Store) CreateCluster(ctx context.Context, c sparkflow.Cluster) error {
	c.Version, c.Reservations, c.FreedAt = 1, nil, nil // res and freed are attributes of their own
	it := key("CLUSTER#" + c.ID)
	it["data"], it["version"], it["cap"], it["ready"] = data(c), num(1), num(int64(c.Capacity)), &types.AttributeValueMemberBOOL{Value: c.State.Ready()}
	it["g2pk"], it["g2sk"] = str("POOLC#"+c.Pool), str(c.ID)
	it["g1pk"], it["g1sk"] = str("CLUSTERS"), str(c.ID)
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: it, ConditionExpression: aws.String("attribute_not_exists(pk)")})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return sparkflow.Errorf(sparkflow.Conflict, "cluster %s exists already", c.ID)
	}
	return classify("create cluster", err)
}

func (s *Store) UpdateCluster(ctx context.Context, c sparkflow.Cluster) (sparkflow.Cluster, error) {
	res, freed := c.Reservations, c.FreedAt
	old := c.Version
	c.Version++
	c.Reservations, c.FreedAt = nil, nil
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: key("CLUSTER#" + c.ID),
		UpdateExpression:         aws.String("SET #d = :d, version = :v, cap = :cap, ready = :ready, g2pk = :g2"),
		ConditionExpression:      aws.String("attribute_exists(pk) AND version = :old"),
		ExpressionAttributeNames: map[string]string{"#d": "data"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":d": data(c), ":v": num(c.Version), ":cap": num(int64(c.Capacity)),
			":ready": &types.AttributeValueMemberBOOL{Value: c.State.Ready()}, ":g2": str("POOLC#" + c.Pool), ":old": num(old)},
	})
	c.Reservations, c.FreedAt = res, freed
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		if _, gerr := s.GetCluster(ctx, c.ID); gerr != nil {
			return c, gerr
		}
		return c, sparkflow.Errorf(sparkflow.Conflict, "cluster %s changed since version %d", c.ID, old)
	}
	return c, classify("update cluster", err)
}

func clusterOf(item map[string]types.AttributeValue) (sparkflow.Cluster, error) {
	c, err := decode[sparkflow.Cluster](item)
	if err != nil {
		return c, err
	}
	c.Reservations = []string{}
	if ss, ok := item["res"].(*types.AttributeValueMemberSS); ok {
		c.Reservations = append(c.Reservations, ss.Value...)
		sort.Strings(c.Reservations)
	}
	if n, ok := item["freed"].(*types.AttributeValueMemberN); ok {
		if ns, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
			t := time.Unix(0, ns).UTC()
			c.FreedAt = &t
		}
	}
	return c, nil
}

func (s *Store) GetCluster(ctx context.Context, id string) (sparkflow.Cluster, error) {
	item, err := s.get(ctx, "CLUSTER#"+id)
	if err != nil {
		return sparkflow.Cluster{}, err
	}
	if item == nil {
		return sparkflow.Cluster{}, sparkflow.Errorf(sparkflow.NotFound, "cluster %q not found", id)
	}
	return clusterOf(item)
}

func (s *Store) ListClusters(ctx context.Context, pool string) ([]sparkflow.Cluster, error) {
	var items []map[string]types.AttributeValue
	var err error
	if pool == "" {
		items, err = s.queryIndex(ctx, Index1, "CLUSTERS", true, nil, nil, 0)
	} else {
		items, err = s.queryIndex(ctx, Index2, "POOLC#"+pool, true, nil, nil, 0)
	}
	if err != nil {
		return nil, err
	}
	out := make([]sparkflow.Cluster, 0, len(items))
	for _, it := range items {
		// Index reads may lag: the reservations come from the table itself.
		c, err := s.GetCluster(ctx, it["g1sk"].(*types.AttributeValueMemberS).Value)
		if sparkflow.IsCode(err, sparkflow.NotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func (s *Store) DeleteCluster(ctx context.Context, id string) error {
	old, err := s.deleteExisting(ctx, "CLUSTER#"+id, "cluster", id)
	if err != nil {
		return err
	}
	if ss, ok := old["res"].(*types.AttributeValueMemberSS); ok {
		for _, run := range ss.Value {
			_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: key("RES#" + run),
				ConditionExpression: aws.String("cl = :c"), ExpressionAttributeValues: map[string]types.AttributeValue{":c": str(id)}})
			var ccf *types.ConditionalCheckFailedException
			if err != nil && !errors.As(err, &ccf) {
				return classify("delete reservation", err)
			}
		}
	}
	return nil
}

// held returns the cluster on which run holds a slot ("" for none) and the attempt it holds it for
// (0 for a reservation an older version wrote).
func (s *Store) held(ctx context.Context, runID string) (string, int, error) {
	item, err := s.get(ctx, "RES#"+runID)
	if err != nil || item == nil {
		return "", 0, err
	}
	attempt := 0
	if n, ok := item["att"].(*types.AttributeValueMemberN); ok {
		attempt, _ = strconv.Atoi(n.Value)
	}
	return item["cl"].(*types.AttributeValueMemberS).Value, attempt, nil
}

// heldBefore is the condition that a reservation is held on cluster :c for an attempt before :a.
const heldBefore = "cl = :c AND (attribute_not_exists(att) OR att < :a)"

func (s *Store) Reserve(ctx context.Context, runID string, attempt int, clusterID string) (string, error) {
	for try := 0; ; try++ {
		held, heldFor, err := s.held(ctx, runID)
		if err != nil || held == "" {
			if err != nil {
				return "", err
			}
			break
		}
		if heldFor >= attempt {
			return held, nil
		}
		// A slot an ended attempt left: this attempt's from now on. One write, on a retry only.
		_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: key("RES#" + runID),
			UpdateExpression: aws.String("SET att = :a"), ConditionExpression: aws.String(heldBefore),
			ExpressionAttributeValues: map[string]types.AttributeValue{":c": str(held), ":a": num(int64(attempt))}})
		var ccf *types.ConditionalCheckFailedException
		if err == nil {
			return held, nil
		}
		if !errors.As(err, &ccf) || try >= 2 {
			return "", classify("reserve", err)
		}
		// Released or taken over meanwhile: look again.
	}
	res := key("RES#" + runID)
	res["cl"] = str(clusterID)
	res["att"] = num(int64(attempt))
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: res, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Update: &types.Update{TableName: &s.table, Key: key("CLUSTER#" + clusterID),
			UpdateExpression:          aws.String("ADD res :run"),
			ConditionExpression:       aws.String("attribute_exists(pk) AND ready = :true AND (attribute_not_exists(res) OR size(res) < cap)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":run": &types.AttributeValueMemberSS{Value: []string{runID}}, ":true": &types.AttributeValueMemberBOOL{Value: true}}}},
	}})
	if err == nil {
		return clusterID, nil
	}
	failed, ok := cancelled(err)
	if !ok || len(failed) != 2 {
		return "", classify("reserve", err)
	}
	if failed[0] {
		return s.Reserve(ctx, runID, attempt, clusterID) // another reserver for this run won: the same answer
	}
	if failed[1] {
		c, gerr := s.GetCluster(ctx, clusterID)
		if gerr != nil {
			return "", gerr
		}
		if !c.State.Ready() {
			return "", sparkflow.Errorf(sparkflow.Conflict, "cluster %s is %s, not ready", clusterID, c.State)
		}
		return "", sparkflow.Errorf(sparkflow.Conflict, "cluster %s is full (%d of %d slots held)", clusterID, len(c.Reservations), c.Capacity)
	}
	return "", classify("reserve", err)
}

func (s *Store) Release(ctx context.Context, runID string, attempt int, clusterID string, at time.Time) error {
	if attempt <= 0 {
		attempt = math.MaxInt32 // any attempt
	}
	held := map[string]types.AttributeValue{":c": str(clusterID), ":a": num(int64(attempt) + 1)}
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: &s.table, Key: key("RES#" + runID), ConditionExpression: aws.String(heldBefore),
			ExpressionAttributeValues: held}},
		// The cluster notes when a slot was last freed (its idle time starts again: core.Draining).
		{Update: &types.Update{TableName: &s.table, Key: key("CLUSTER#" + clusterID), UpdateExpression: aws.String("DELETE res :run SET freed = :now"),
			ConditionExpression: aws.String("attribute_exists(pk)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":run": &types.AttributeValueMemberSS{Value: []string{runID}},
				":now": num(at.UnixNano())}}},
	}})
	if err == nil {
		return nil
	}
	failed, ok := cancelled(err)
	if !ok || len(failed) != 2 {
		return classify("release", err)
	}
	if failed[1] && !failed[0] {
		// The cluster is gone; its reservation item is all that is left.
		_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: key("RES#" + runID),
			ConditionExpression: aws.String(heldBefore), ExpressionAttributeValues: held})
		var ccf *types.ConditionalCheckFailedException
		if err != nil && !errors.As(err, &ccf) {
			return classify("release", err)
		}
	}
	return nil // not held there: releasing twice frees one
}
