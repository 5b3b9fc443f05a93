package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// A pool's FIFO is the partition WAIT#<pool>: one item per waiting run, sorted by its place, read a
// page at a time from the head with consistent reads. A run's place is derived from its own record
// (its acceptance time moved by its priority, that time, its id: placeKey), which does not change
// while it can wait, so finding a run's place needs no index item of its own: taking a place and
// giving it up are one write request each. (Places taken before this layout have an index item
// WAITRUN#<pool>#<run> naming them; they are found, kept and removed through it until they are gone.)

// placeKey is the sort key of a run's place in its pool's FIFO: its acceptance time moved by its
// priority, then (between equal keys) its acceptance time, then its id.
func placeKey(since time.Time, p sparkflow.Priority, runID string) string {
	return fmt.Sprintf("%020d#%020d#%s", sparkflow.QueueKey(since, p).UnixNano(), since.UnixNano(), runID)
}

func placeItemKey(pool, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrPK: str("WAIT#" + pool), AttrSK: str(sk)}
}

// legacyPlace is the sort key of a place taken before places were derived from the run ("" for none).
func (s *Store) legacyPlace(ctx context.Context, pool, runID string) (string, error) {
	item, err := s.get(ctx, "WAITRUN#"+pool+"#"+runID)
	if err != nil || item == nil {
		return "", err
	}
	return item["wsk"].(*types.AttributeValueMemberS).Value, nil
}

// place is where run waits (or would wait) in pool's FIFO, and the acceptance time and priority it
// waits with: from the run's record (a waiter of no recorded run: from w).
func (s *Store) place(ctx context.Context, w sparkflow.Waiter) (string, sparkflow.Waiter, error) {
	r, err := s.GetRun(ctx, w.RunID)
	switch {
	case err == nil:
		w.Since, w.Priority = r.QueuedSince(), r.Priority
	case !sparkflow.IsCode(err, sparkflow.NotFound):
		return "", w, err
	}
	return placeKey(w.Since, w.Priority, w.RunID), w, nil
}

func (s *Store) Enqueue(ctx context.Context, w sparkflow.Waiter) error {
	legacy, err := s.legacyPlace(ctx, w.Pool, w.RunID)
	if err != nil {
		return err
	}
	sk, w, err := s.place(ctx, w)
	if err != nil {
		return err
	}
	if legacy != "" {
		sk = legacy
	}
	for try := 0; try < 3; try++ {
		cur, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: placeItemKey(w.Pool, sk), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return classify("enqueue", err)
		}
		var ccf *types.ConditionalCheckFailedException
		if cur.Item != nil {
			// There already: only its token changes (an empty token, or the same, changes nothing).
			if tok, _ := cur.Item["tok"].(*types.AttributeValueMemberS); w.Token == "" || (tok != nil && tok.Value == w.Token) {
				return nil
			}
			_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: placeItemKey(w.Pool, sk),
				UpdateExpression: aws.String("SET tok = :t"), ConditionExpression: aws.String("attribute_exists(pk)"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":t": str(w.Token)}})
			if errors.As(err, &ccf) {
				continue // removed meanwhile (a grant won it): look again
			}
			return classify("enqueue", err)
		}
		if legacy != "" {
			return nil // a legacy index naming a place that is gone: being removed meanwhile
		}
		item := placeItemKey(w.Pool, sk)
		item["run"], item["tok"], item["since"] = str(w.RunID), str(w.Token), num(w.Since.UnixNano())
		if w.Priority != "" {
			item["prio"] = str(string(w.Priority))
		}
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")})
		if errors.As(err, &ccf) {
			continue // enqueued meanwhile: update its token instead
		}
		return classify("enqueue", err)
	}
	return sparkflow.Errorf(sparkflow.Transient, "enqueue %s: contended", w.RunID)
}

func (s *Store) Waiters(ctx context.Context, pool string, limit int) ([]sparkflow.Waiter, error) {
	items, err := s.query(ctx, &dynamodb.QueryInput{KeyConditionExpression: aws.String("pk = :pk"), ConsistentRead: aws.Bool(true),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("WAIT#" + pool)}, ScanIndexForward: aws.Bool(true)}, limit)
	if err != nil {
		return nil, err
	}
	out := make([]sparkflow.Waiter, 0, len(items))
	for _, it := range items {
		since, _ := strconv.ParseInt(it["since"].(*types.AttributeValueMemberN).Value, 10, 64)
		w := sparkflow.Waiter{Pool: pool, RunID: it["run"].(*types.AttributeValueMemberS).Value,
			Token: it["tok"].(*types.AttributeValueMemberS).Value, Since: time.Unix(0, since).UTC()}
		if p, ok := it["prio"].(*types.AttributeValueMemberS); ok {
			w.Priority = sparkflow.Priority(p.Value)
		}
		out = append(out, w)
	}
	return out, nil
}

// placeOf is the sort key of run's place in pool's FIFO; for a run with no record (the FIFO may
// outlive a run that expired), its place is looked for in the FIFO ("" when it has none).
func (s *Store) placeOf(ctx context.Context, pool, runID string) (string, error) {
	r, err := s.GetRun(ctx, runID)
	if err == nil {
		return placeKey(r.QueuedSince(), r.Priority, runID), nil
	}
	if !sparkflow.IsCode(err, sparkflow.NotFound) {
		return "", err
	}
	items, err := s.query(ctx, &dynamodb.QueryInput{KeyConditionExpression: aws.String("pk = :pk"), ConsistentRead: aws.Bool(true),
		FilterExpression: aws.String("#run = :run"), ExpressionAttributeNames: map[string]string{"#run": "run"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("WAIT#" + pool), ":run": str(runID)}}, 1)
	if err != nil || len(items) == 0 {
		return "", err
	}
	return items[0][AttrSK].(*types.AttributeValueMemberS).Value, nil
}

// RemoveWaiter gives up run's place: it reads the place first, so that removing one that is not
// there (a run ending, which need not have waited) writes nothing. Of several removers, the one whose
// conditional delete lands wins.
func (s *Store) RemoveWaiter(ctx context.Context, pool, runID string) (bool, error) {
	legacy, err := s.legacyPlace(ctx, pool, runID)
	if err != nil {
		return false, err
	}
	if legacy != "" {
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Delete: &types.Delete{TableName: &s.table, Key: key("WAITRUN#" + pool + "#" + runID), ConditionExpression: aws.String("attribute_exists(pk)")}},
			{Delete: &types.Delete{TableName: &s.table, Key: placeItemKey(pool, legacy)}},
		}})
		if _, ok := cancelled(err); ok {
			return false, nil // another remover won
		}
		if err != nil {
			return false, classify("remove waiter", err)
		}
		return true, nil
	}
	sk, err := s.placeOf(ctx, pool, runID)
	if err != nil || sk == "" {
		return false, err
	}
	cur, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: placeItemKey(pool, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return false, classify("remove waiter", err)
	}
	if cur.Item == nil {
		return false, nil
	}
	_, err = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: placeItemKey(pool, sk), ConditionExpression: aws.String("attribute_exists(pk)")})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, nil // another remover won
	}
	if err != nil {
		return false, classify("remove waiter", err)
	}
	return true, nil
}
