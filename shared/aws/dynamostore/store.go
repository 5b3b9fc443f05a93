// Package dynamostore is the AWS home's Store: one DynamoDB table holding pools, clusters,
// transforms, runs (with their reservations), the per-pool FIFO of waiting runs and rejected requests. Records are
// JSON documents with a version for optimistic locking; the rules that must hold under concurrency are
// conditional writes and transactions:
//
//   - a run holds at most one slot: its reservation is kept on the run's own item (rcl, ratt), set
//     under attribute_not_exists (slots.go);
//   - a cluster never holds more than its capacity: the run id joins the cluster's string set res in the
//     same transaction, under size(res) < cap (guarded with attribute_not_exists, as a bare size() on a
//     missing attribute errors); the run's own write can join that transaction (CreateRunOn,
//     UpdateRunSlot), so a grant or a run's end with its slot freed is one write of two items;
//   - of several dispatchers only one wins a waiter: its place in the FIFO is deleted with
//     attribute_exists (fifo.go).
//
// Runs are listed through three indexes (all runs, one transform's, the active ones), newest first;
// their keys are spread over RunShards partitions each, so that no index key takes every run's writes.
//
// It passes the same contract suite (package storetest) as the embedded store.
package dynamostore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/sparkflow/sparkflow/shared/aws/names"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// API is the part of the DynamoDB client the store uses.
type API interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Attribute and index names of the table: names.Table* (the CDK stack creates the same table).
const (
	AttrPK  = names.TableKey
	AttrSK  = names.TableSortKey
	AttrTTL = names.TableTTLAttribute
	Index1  = names.TableIndex1
	Index2  = names.TableIndex2
	Index3  = names.TableIndex3
)

// IndexKeys names the key attributes of each index.
var IndexKeys = names.TableIndexKeys

// Store implements sparkflow.Store on DynamoDB.
type Store struct {
	db    API
	table string
	// retention: how long ended runs and rejected requests are kept (0: forever).
	retention time.Duration
}

var _ sparkflow.Store = (*Store)(nil)

// New returns a store on table through db.
func New(db API, table string) *Store { return &Store{db: db, table: table} }

// WithRetention has ended runs and rejected requests expire retention after they ended or were
// rejected: each carries the table's time-to-live attribute (names.TableTTLAttribute), and DynamoDB
// deletes it some time after (typically within days). 0 keeps them forever.
func (s *Store) WithRetention(retention time.Duration) *Store {
	c := *s
	c.retention = retention
	return &c
}

// expire marks item to expire retention after t.
func (s *Store) expire(item map[string]types.AttributeValue, t time.Time) {
	if s.retention > 0 && !t.IsZero() {
		item[AttrTTL] = num(t.Add(s.retention).Unix())
	}
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func num(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}
func key(pk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrPK: str(pk), AttrSK: str("#")}
}

// sortKey orders by time, then id, as a string.
func sortKey(t time.Time, id string) string { return fmt.Sprintf("%020d#%s", t.UnixNano(), id) }

// classify turns SDK errors into domain kinds, once.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return sparkflow.Wrap(sparkflow.Conflict, err, "%s", op)
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "InternalServerError", "ServiceUnavailable", "TransactionInProgressException":
			return sparkflow.Wrap(sparkflow.Transient, err, "%s", op)
		case "ValidationException":
			return sparkflow.Wrap(sparkflow.Invalid, err, "%s", op)
		}
	}
	var tc *types.TransactionCanceledException
	if errors.As(err, &tc) {
		for _, r := range tc.CancellationReasons {
			if aws.ToString(r.Code) == "TransactionConflict" || aws.ToString(r.Code) == "ThrottlingError" {
				return sparkflow.Wrap(sparkflow.Transient, err, "%s", op)
			}
		}
		return sparkflow.Wrap(sparkflow.Conflict, err, "%s", op)
	}
	return sparkflow.Wrap(sparkflow.Transient, err, "%s", op) // network and timeouts: worth a retry
}

// cancelled reports which items of a cancelled transaction failed their condition.
func cancelled(err error) ([]bool, bool) {
	var tc *types.TransactionCanceledException
	if !errors.As(err, &tc) {
		return nil, false
	}
	out := make([]bool, len(tc.CancellationReasons))
	for i, r := range tc.CancellationReasons {
		out[i] = aws.ToString(r.Code) == "ConditionalCheckFailed"
	}
	return out, true
}

func (s *Store) get(ctx context.Context, pk string) (map[string]types.AttributeValue, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: key(pk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, classify("get "+pk, err)
	}
	return out.Item, nil
}

func decode[T any](item map[string]types.AttributeValue) (T, error) {
	var v T
	d, ok := item["data"].(*types.AttributeValueMemberS)
	if !ok {
		return v, sparkflow.Errorf(sparkflow.Internal, "item %v has no data", item[AttrPK])
	}
	err := json.Unmarshal([]byte(d.Value), &v)
	return v, err
}

func getDoc[T any](ctx context.Context, s *Store, pk, kind, name string) (T, error) {
	item, err := s.get(ctx, pk)
	if err != nil {
		var zero T
		return zero, err
	}
	if item == nil {
		var zero T
		return zero, sparkflow.Errorf(sparkflow.NotFound, "%s %q not found", kind, name)
	}
	return decode[T](item)
}

func data(v any) types.AttributeValue {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return str(string(b))
}

// query reads every page of a query (or until limit items when limit > 0).
func (s *Store) query(ctx context.Context, in *dynamodb.QueryInput, limit int) ([]map[string]types.AttributeValue, error) {
	in.TableName = &s.table
	var out []map[string]types.AttributeValue
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, classify("query", err)
		}
		out = append(out, page.Items...)
		if (limit > 0 && len(out) >= limit) || len(page.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *Store) queryIndex(ctx context.Context, index, pk string, forward bool, filter *string, values map[string]types.AttributeValue, limit int) ([]map[string]types.AttributeValue, error) {
	names := IndexKeys[index]
	vals := map[string]types.AttributeValue{":pk": str(pk)}
	for k, v := range values {
		vals[k] = v
	}
	return s.query(ctx, &dynamodb.QueryInput{
		IndexName: aws.String(index), KeyConditionExpression: aws.String(names[0] + " = :pk"),
		FilterExpression: filter, ExpressionAttributeValues: vals, ScanIndexForward: aws.Bool(forward),
	}, limit)
}

func decodeAll[T any](items []map[string]types.AttributeValue) ([]T, error) {
	out := make([]T, 0, len(items))
	for _, it := range items {
		v, err := decode[T](it)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// putVersioned writes item if the stored version is old (or, for old == 0, if there is no item).
func (s *Store) putVersioned(ctx context.Context, item map[string]types.AttributeValue, old int64, kind, name string) error {
	in := &dynamodb.PutItemInput{TableName: &s.table, Item: item}
	if old == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(pk)")
	} else {
		in.ConditionExpression = aws.String("version = :old")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":old": num(old)}
	}
	_, err := s.db.PutItem(ctx, in)
	if err == nil {
		return nil
	}
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return classify("put "+kind, err)
	}
	if old == 0 {
		return sparkflow.Errorf(sparkflow.Conflict, "%s %q exists already", kind, name)
	}
	cur, gerr := s.get(ctx, aws.ToString(&item[AttrPK].(*types.AttributeValueMemberS).Value))
	if gerr != nil {
		return gerr
	}
	if cur == nil {
		return sparkflow.Errorf(sparkflow.NotFound, "%s %q not found", kind, name)
	}
	return sparkflow.Errorf(sparkflow.Conflict, "%s %s changed since version %d", kind, name, old)
}

func (s *Store) deleteExisting(ctx context.Context, pk, kind, name string) (map[string]types.AttributeValue, error) {
	out, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: key(pk),
		ConditionExpression: aws.String("attribute_exists(pk)"), ReturnValues: types.ReturnValueAllOld})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil, sparkflow.Errorf(sparkflow.NotFound, "%s %q not found", kind, name)
	}
	if err != nil {
		return nil, classify("delete "+kind, err)
	}
	return out.Attributes, nil
}
