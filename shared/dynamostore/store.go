// Package dynamostore is the AWS home's Store: one DynamoDB table holding pools, clusters,
// transforms, runs, reservations, the per-pool FIFO of waiting runs and rejected requests. Records are
// JSON documents with a version for optimistic locking; the rules that must hold under concurrency are
// conditional writes and transactions:
//
//   - a run holds at most one slot: its reservation item RES#<run> is created with attribute_not_exists;
//   - a cluster never holds more than its capacity: the run id joins the cluster's string set res in the
//     same transaction, under size(res) < cap (guarded with attribute_not_exists, as a bare size() on a
//     missing attribute errors);
//   - of several dispatchers only one wins a waiter: its index item is deleted with attribute_exists.
//
// It passes the same contract suite (package storetest) as the embedded store.
package dynamostore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

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

// Attribute and index names of the table (the CDK stack creates the same).
const (
	AttrPK = "pk"
	AttrSK = "sk"
	Index1 = "gsi1" // lists: pools, transforms, all runs (newest first), rejected requests
	Index2 = "gsi2" // clusters of a pool, all clusters, runs of a transform (newest first)
	Index3 = "gsi3" // sparse: runs not yet ended
)

// IndexKeys names the key attributes of each index.
var IndexKeys = map[string][2]string{Index1: {"g1pk", "g1sk"}, Index2: {"g2pk", "g2sk"}, Index3: {"g3pk", "g3sk"}}

// Store implements sparkflow.Store on DynamoDB.
type Store struct {
	db    API
	table string
}

var _ sparkflow.Store = (*Store)(nil)

// New returns a store on table through db.
func New(db API, table string) *Store { return &Store{db: db, table: table} }

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

// ---- pools ----

func poolItem(p sparkflow.Pool) map[string]types.AttributeValue {
	it := key("POOL#" + p.Name)
	it["data"], it["version"] = data(p), num(p.Version)
	it["g1pk"], it["g1sk"] = str("POOLS"), str(p.Name)
	return it
}

func (s *Store) CreatePool(ctx context.Context, p sparkflow.Pool) error {
	p.Version = 1
	return s.putVersioned(ctx, poolItem(p), 0, "pool", p.Name)
}

func (s *Store) GetPool(ctx context.Context, name string) (sparkflow.Pool, error) {
	return getDoc[sparkflow.Pool](ctx, s, "POOL#"+name, "pool", name)
}

func (s *Store) ListPools(ctx context.Context) ([]sparkflow.Pool, error) {
	items, err := s.queryIndex(ctx, Index1, "POOLS", true, nil, nil, 0)
	if err != nil {
		return nil, err
	}
	return decodeAll[sparkflow.Pool](items)
}

func (s *Store) UpdatePool(ctx context.Context, p sparkflow.Pool) (sparkflow.Pool, error) {
	old := p.Version
	p.Version++
	return p, s.putVersioned(ctx, poolItem(p), max(old, 1), "pool", p.Name)
}

func (s *Store) DeletePool(ctx context.Context, name string) error {
	_, err := s.deleteExisting(ctx, "POOL#"+name, "pool", name)
	return err
}

// ---- clusters ----

func (s *Store) CreateCluster(ctx context.Context, c sparkflow.Cluster) error {
	c.Version, c.Reservations = 1, nil
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
	res := c.Reservations
	old := c.Version
	c.Version++
	c.Reservations = nil
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: key("CLUSTER#" + c.ID),
		UpdateExpression:         aws.String("SET #d = :d, version = :v, cap = :cap, ready = :ready, g2pk = :g2"),
		ConditionExpression:      aws.String("attribute_exists(pk) AND version = :old"),
		ExpressionAttributeNames: map[string]string{"#d": "data"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":d": data(c), ":v": num(c.Version), ":cap": num(int64(c.Capacity)),
			":ready": &types.AttributeValueMemberBOOL{Value: c.State.Ready()}, ":g2": str("POOLC#" + c.Pool), ":old": num(old)},
	})
	c.Reservations = res
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

// ---- reservations ----

func (s *Store) held(ctx context.Context, runID string) (string, error) {
	item, err := s.get(ctx, "RES#"+runID)
	if err != nil || item == nil {
		return "", err
	}
	return item["cl"].(*types.AttributeValueMemberS).Value, nil
}

func (s *Store) Reserve(ctx context.Context, runID, clusterID string) (string, error) {
	if held, err := s.held(ctx, runID); err != nil || held != "" {
		return held, err
	}
	res := key("RES#" + runID)
	res["cl"] = str(clusterID)
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
		return s.held(ctx, runID) // another reserver for this run won: the same answer
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

func (s *Store) Release(ctx context.Context, runID, clusterID string) error {
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: &s.table, Key: key("RES#" + runID), ConditionExpression: aws.String("cl = :c"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":c": str(clusterID)}}},
		{Update: &types.Update{TableName: &s.table, Key: key("CLUSTER#" + clusterID), UpdateExpression: aws.String("DELETE res :run"),
			ConditionExpression:       aws.String("attribute_exists(pk)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":run": &types.AttributeValueMemberSS{Value: []string{runID}}}}},
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
			ConditionExpression: aws.String("cl = :c"), ExpressionAttributeValues: map[string]types.AttributeValue{":c": str(clusterID)}})
		var ccf *types.ConditionalCheckFailedException
		if err != nil && !errors.As(err, &ccf) {
			return classify("release", err)
		}
	}
	return nil // not held there: releasing twice frees one
}

// ---- transforms ----

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

// ---- runs ----

func runItem(r sparkflow.Run) map[string]types.AttributeValue {
	it := key("RUN#" + r.ID)
	sk := sortKey(r.CreatedAt, r.ID)
	it["data"], it["version"], it["st"], it["pl"], it["tf"] = data(r), num(r.Version), str(string(r.Status)), str(r.Pool), str(r.Transform)
	it["g1pk"], it["g1sk"] = str("RUNS"), str(sk)
	it["g2pk"], it["g2sk"] = str("TRANSFORM#"+r.Transform), str(sk)
	if !r.Status.Terminal() {
		it["g3pk"], it["g3sk"] = str("ACTIVE"), str(sk)
	}
	return it
}

func (s *Store) CreateRun(ctx context.Context, r sparkflow.Run) (bool, error) {
	r.Version = 1
	err := s.putVersioned(ctx, runItem(r), 0, "run", r.ID)
	if sparkflow.IsCode(err, sparkflow.Conflict) {
		return false, nil
	}
	return err == nil, err
}

func (s *Store) GetRun(ctx context.Context, id string) (sparkflow.Run, error) {
	return getDoc[sparkflow.Run](ctx, s, "RUN#"+id, "run", id)
}

func (s *Store) UpdateRun(ctx context.Context, r sparkflow.Run) (sparkflow.Run, error) {
	old := r.Version
	r.Version++
	return r, s.putVersioned(ctx, runItem(r), max(old, 1), "run", r.ID)
}

func (s *Store) ListRuns(ctx context.Context, f sparkflow.RunFilter) ([]sparkflow.Run, error) {
	index, pk := Index1, "RUNS"
	switch {
	case f.Active:
		index, pk = Index3, "ACTIVE"
	case f.Transform != "":
		index, pk = Index2, "TRANSFORM#"+f.Transform
	}
	var conds []string
	vals := map[string]types.AttributeValue{}
	if f.Transform != "" && index != Index2 {
		conds, vals[":t"] = append(conds, "tf = :t"), str(f.Transform)
	}
	if f.Pool != "" {
		conds, vals[":p"] = append(conds, "pl = :p"), str(f.Pool)
	}
	if f.Status != "" {
		conds, vals[":s"] = append(conds, "st = :s"), str(string(f.Status))
	}
	in := &dynamodb.QueryInput{IndexName: aws.String(index), KeyConditionExpression: aws.String(IndexKeys[index][0] + " = :pk"), ScanIndexForward: aws.Bool(false)}
	vals[":pk"] = str(pk)
	in.ExpressionAttributeValues = vals
	if len(conds) > 0 {
		expr := conds[0]
		for _, c := range conds[1:] {
			expr += " AND " + c
		}
		in.FilterExpression = aws.String(expr)
	}
	items, err := s.query(ctx, in, f.Limit)
	if err != nil {
		return nil, err
	}
	return decodeAll[sparkflow.Run](items)
}

// ---- waiters ----

func (s *Store) waiterKey(ctx context.Context, pool, runID string) (string, error) {
	item, err := s.get(ctx, "WAITRUN#"+pool+"#"+runID)
	if err != nil || item == nil {
		return "", err
	}
	return item["wsk"].(*types.AttributeValueMemberS).Value, nil
}

func (s *Store) Enqueue(ctx context.Context, w sparkflow.Waiter) error {
	for try := 0; try < 3; try++ {
		wsk, err := s.waiterKey(ctx, w.Pool, w.RunID)
		if err != nil {
			return err
		}
		if wsk != "" {
			_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table,
				Key:                       map[string]types.AttributeValue{AttrPK: str("WAIT#" + w.Pool), AttrSK: str(wsk)},
				UpdateExpression:          aws.String("SET tok = :t"),
				ConditionExpression:       aws.String("attribute_exists(pk)"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":t": str(w.Token)}})
			return classify("enqueue", err)
		}
		// Place: acceptance time, then the time of this enqueue, then the run id.
		wsk = fmt.Sprintf("%020d#%020d#%s", w.Since.UnixNano(), time.Now().UnixNano(), w.RunID)
		idx := key("WAITRUN#" + w.Pool + "#" + w.RunID)
		idx["wsk"] = str(wsk)
		item := map[string]types.AttributeValue{AttrPK: str("WAIT#" + w.Pool), AttrSK: str(wsk), "run": str(w.RunID), "tok": str(w.Token), "since": num(w.Since.UnixNano())}
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{TableName: &s.table, Item: idx, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
			{Put: &types.Put{TableName: &s.table, Item: item}},
		}})
		if _, ok := cancelled(err); ok {
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
		out = append(out, sparkflow.Waiter{Pool: pool, RunID: it["run"].(*types.AttributeValueMemberS).Value,
			Token: it["tok"].(*types.AttributeValueMemberS).Value, Since: time.Unix(0, since).UTC()})
	}
	return out, nil
}

func (s *Store) RemoveWaiter(ctx context.Context, pool, runID string) (bool, error) {
	wsk, err := s.waiterKey(ctx, pool, runID)
	if err != nil || wsk == "" {
		return false, err
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: &s.table, Key: key("WAITRUN#" + pool + "#" + runID), ConditionExpression: aws.String("attribute_exists(pk)")}},
		{Delete: &types.Delete{TableName: &s.table, Key: map[string]types.AttributeValue{AttrPK: str("WAIT#" + pool), AttrSK: str(wsk)}}},
	}})
	if _, ok := cancelled(err); ok {
		return false, nil // another remover won
	}
	if err != nil {
		return false, classify("remove waiter", err)
	}
	return true, nil
}

// ---- rejected ----

func (s *Store) PutRejected(ctx context.Context, r sparkflow.Rejected) error {
	it := key("REJECTED#" + r.ID)
	it["data"], it["g1pk"], it["g1sk"] = data(r), str("REJECTED"), str(sortKey(r.At, r.ID))
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: it, ConditionExpression: aws.String("attribute_not_exists(pk)")})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil // kept already
	}
	return classify("put rejected", err)
}

func (s *Store) ListRejected(ctx context.Context, limit int) ([]sparkflow.Rejected, error) {
	items, err := s.queryIndex(ctx, Index1, "REJECTED", false, nil, nil, limit)
	if err != nil {
		return nil, err
	}
	return decodeAll[sparkflow.Rejected](items)
}
