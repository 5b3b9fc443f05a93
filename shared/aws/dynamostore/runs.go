package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// RunShards is how many partitions each run index's key is spread over. Every write of a run is
// also a write of the indexes it is in, so a key that every run shares (all runs, the active ones, one
// transform's: a backfill's) would take every write of every run into one index partition, whose
// throughput DynamoDB caps (about 1,000 writes a second); spread over RunShards keys (the run id's
// hash picks one) they take RunShards times that. Listings query every shard and merge.
const RunShards = 8

// runKeys are the keys of a run index: base#00 … base#07, then base itself, which runs written
// before the indexes were sharded carry (listings find them there; their next write moves them).
func runKeys(base string) []string {
	keys := make([]string, 0, RunShards+1)
	for i := 0; i < RunShards; i++ {
		keys = append(keys, fmt.Sprintf("%s#%02d", base, i))
	}
	return append(keys, base)
}

// runShard is the index key of run id under base.
func runShard(base, id string) string {
	h := fnv.New32a()
	h.Write([]byte(id))
	return fmt.Sprintf("%s#%02d", base, h.Sum32()%RunShards)
}

func (s *Store) runItem(r sparkflow.Run) map[string]types.AttributeValue {
	it := key("RUN#" + r.ID)
	sk := sortKey(r.CreatedAt, r.ID)
	it["data"], it["version"], it["st"], it["pl"], it["tf"] = data(r), num(r.Version), str(string(r.Status)), str(r.Pool), str(r.Transform)
	it["g1pk"], it["g1sk"] = str(runShard("RUNS", r.ID)), str(sk)
	it["g2pk"], it["g2sk"] = str(runShard("TRANSFORM#"+r.Transform, r.ID)), str(sk)
	if !r.Status.Terminal() {
		it["g3pk"], it["g3sk"] = str(runShard("ACTIVE", r.ID)), str(sk)
	} else if r.EndedAt != nil {
		s.expire(it, *r.EndedAt)
	}
	return it
}

func (s *Store) CreateRun(ctx context.Context, r sparkflow.Run) (bool, error) {
	r.Version = 1
	err := s.putVersioned(ctx, s.runItem(r), 0, "run", r.ID)
	if sparkflow.IsCode(err, sparkflow.Conflict) {
		return false, nil
	}
	return err == nil, err
}

func (s *Store) GetRun(ctx context.Context, id string) (sparkflow.Run, error) {
	return getDoc[sparkflow.Run](ctx, s, "RUN#"+id, "run", id)
}

// UpdateRun writes the run's attributes in place (UpdateItem, not PutItem): the item also keeps the
// run's reservation (slots.go), which a run's own write must leave as it is.
func (s *Store) UpdateRun(ctx context.Context, r sparkflow.Run) (sparkflow.Run, error) {
	old := max(r.Version, 1)
	r.Version = old + 1
	u := s.runUpdate(r, old)
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: key("RUN#" + r.ID),
		UpdateExpression: u.expr(), ConditionExpression: aws.String(u.cond), ExpressionAttributeNames: u.names, ExpressionAttributeValues: u.values})
	return r, s.runWriteErr(ctx, err, r.ID, old)
}

// runWriteErr classifies the error of a run's versioned write: NotFound for a run that is not there,
// Conflict for one that changed since version old.
func (s *Store) runWriteErr(ctx context.Context, err error, id string, old int64) error {
	var ccf *types.ConditionalCheckFailedException
	if err == nil || !errors.As(err, &ccf) {
		return classify("update run", err)
	}
	cur, gerr := s.get(ctx, "RUN#"+id)
	if gerr != nil {
		return gerr
	}
	if cur == nil {
		return sparkflow.Errorf(sparkflow.NotFound, "run %q not found", id)
	}
	return sparkflow.Errorf(sparkflow.Conflict, "run %s changed since version %d", id, old)
}

// update is an UpdateItem's expression being built: SET and REMOVE clauses, a condition, the
// placeholders they use.
type update struct {
	set, remove []string
	cond        string
	names       map[string]string
	values      map[string]types.AttributeValue
}

func (u *update) expr() *string {
	e := "SET " + strings.Join(u.set, ", ")
	if len(u.remove) > 0 {
		e += " REMOVE " + strings.Join(u.remove, ", ")
	}
	return aws.String(e)
}

// runUpdate writes every attribute of the run's item that its record makes (runItem), on the
// condition that the stored version is old.
func (s *Store) runUpdate(r sparkflow.Run, old int64) *update {
	u := &update{names: map[string]string{}, values: map[string]types.AttributeValue{":old": num(old)}, cond: "version = :old"}
	for k, v := range s.runItem(r) {
		if k == AttrPK || k == AttrSK {
			continue
		}
		u.names["#"+k] = k
		u.values[":"+k] = v
		u.set = append(u.set, "#"+k+" = :"+k)
	}
	sort.Strings(u.set)
	if r.Status.Terminal() {
		u.names["#g3pk"], u.names["#g3sk"] = "g3pk", "g3sk"
		u.remove = append(u.remove, "#g3pk", "#g3sk")
	}
	return u
}

func (s *Store) ListRuns(ctx context.Context, f sparkflow.RunFilter) ([]sparkflow.Run, error) {
	index, base := Index1, "RUNS"
	switch {
	case f.Active:
		index, base = Index3, "ACTIVE"
	case f.Transform != "":
		index, base = Index2, "TRANSFORM#"+f.Transform
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
	var filter *string
	if len(conds) > 0 {
		filter = aws.String(strings.Join(conds, " AND "))
	}
	// Each shard's newest f.Limit matches, read at once, merged newest first.
	keys := runKeys(base)
	pages := make([][]map[string]types.AttributeValue, len(keys))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, pk := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pages[i], errs[i] = s.queryIndex(ctx, index, pk, false, filter, vals, f.Limit)
		}()
	}
	wg.Wait()
	var items []map[string]types.AttributeValue
	for i := range keys {
		if errs[i] != nil {
			return nil, errs[i]
		}
		items = append(items, pages[i]...)
	}
	sortAttr := IndexKeys[index][1]
	sortKeyOf := func(it map[string]types.AttributeValue) string {
		v, _ := it[sortAttr].(*types.AttributeValueMemberS)
		if v == nil {
			return ""
		}
		return v.Value
	}
	sort.SliceStable(items, func(a, b int) bool { return sortKeyOf(items[a]) > sortKeyOf(items[b]) })
	if f.Limit > 0 && len(items) > f.Limit {
		items = items[:f.Limit]
	}
	return decodeAll[sparkflow.Run](items)
}

func (s *Store) PutRejected(ctx context.Context, r sparkflow.Rejected) error {
	it := key("REJECTED#" + r.ID)
	it["data"], it["g1pk"], it["g1sk"] = data(r), str("REJECTED"), str(sortKey(r.At, r.ID))
	s.expire(it, r.At)
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
