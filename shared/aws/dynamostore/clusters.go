package dynamostore

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"sync"
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
	// Index reads may lag: the records (and their reservations) come from the table itself, read at
	// once (a look for a slot lists its pool's clusters: one read's time, not one a cluster).
	got := make([]sparkflow.Cluster, len(items))
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			got[i], errs[i] = s.GetCluster(ctx, it["g1sk"].(*types.AttributeValueMemberS).Value)
		}()
	}
	wg.Wait()
	out := make([]sparkflow.Cluster, 0, len(items))
	for i := range items {
		if sparkflow.IsCode(errs[i], sparkflow.NotFound) {
			continue
		}
		if errs[i] != nil {
			return nil, errs[i]
		}
		out = append(out, got[i])
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
			if err := s.dropReservation(ctx, run, id); err != nil {
				return err
			}
		}
	}
	return nil
}
