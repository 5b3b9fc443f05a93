package dynamostore_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sparkflow/sparkflow/shared/aws/awstest"
	"github.com/sparkflow/sparkflow/shared/aws/dynamostore"
	"github.com/sparkflow/sparkflow/shared/contract/storetest"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func TestMain(m *testing.M) { awstest.Main(m) }

var tables atomic.Int64

func contract(t *testing.T, endpoint string, opt storetest.Options) {
	db := dynamodb.NewFromConfig(awstest.Config(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
	storetest.Run(t, func(t *testing.T) sparkflow.Store {
		name := fmt.Sprintf("sparkflow-test-%d-%d", os.Getpid(), tables.Add(1))
		if err := dynamostore.CreateTable(awstest.Context(t), db, name); err != nil {
			t.Fatal(err)
		}
		return dynamostore.New(db, name)
	}, opt)
}

func TestContractOnMoto(t *testing.T) {
	contract(t, awstest.Moto(t), storetest.Options{
		NoConcurrency: "moto does not isolate concurrent transactions (seen: 4 reservations on a 3-slot cluster); TestContractOnDynamoDBLocal checks this on DynamoDB Local",
	})
}

// TestContractOnDynamoDBLocal runs the whole contract, concurrency included, on DynamoDB Local.
func TestContractOnDynamoDBLocal(t *testing.T) {
	awstest.DynamoDBLocal(t, func(t *testing.T, endpoint string) { contract(t, endpoint, storetest.Options{}) })
}

// TestEndedRunsAndRejectsExpire: an ended run and a rejected request carry the table's TTL attribute
// at the retention after they ended or were rejected; an active run and every record of a store
// without retention carry none.
func TestEndedRunsAndRejectsExpire(t *testing.T) {
	ctx := awstest.Context(t)
	db := dynamodb.NewFromConfig(awstest.Config(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(awstest.Moto(t)) })
	name := fmt.Sprintf("sparkflow-ttl-%d", os.Getpid())
	if err := dynamostore.CreateTable(ctx, db, name); err != nil {
		t.Fatal(err)
	}
	expiresAt := func(pk string) (int64, bool) {
		t.Helper()
		out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(name), Key: map[string]types.AttributeValue{
			dynamostore.AttrPK: &types.AttributeValueMemberS{Value: pk}, dynamostore.AttrSK: &types.AttributeValueMemberS{Value: "#"}}})
		if err != nil || out.Item == nil {
			t.Fatalf("get %s: %v %v", pk, out, err)
		}
		v, ok := out.Item[dynamostore.AttrTTL].(*types.AttributeValueMemberN)
		if !ok {
			return 0, false
		}
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if err != nil {
			t.Fatalf("%s = %q is not epoch seconds", dynamostore.AttrTTL, v.Value)
		}
		return n, true
	}
	retention := 90 * 24 * time.Hour
	kept := dynamostore.New(db, name)
	s := kept.WithRetention(retention)
	created := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	ended := created.Add(90 * time.Minute)
	run := sparkflow.Run{ID: "ttl-1", Transform: "t", Pool: "p", Status: sparkflow.RunRunning, CreatedAt: created}
	if ok, err := s.CreateRun(ctx, run); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if v, ok := expiresAt("RUN#ttl-1"); ok {
		t.Fatalf("an active run expires at %d", v)
	}
	run.Version, run.Status, run.EndedAt = 1, sparkflow.RunSucceeded, &ended
	if _, err := s.UpdateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if v, ok := expiresAt("RUN#ttl-1"); !ok || v != ended.Add(retention).Unix() {
		t.Fatalf("ended run expires at %d (set %v), want %d", v, ok, ended.Add(retention).Unix())
	}
	rejectedAt := created.Add(time.Hour)
	if err := s.PutRejected(ctx, sparkflow.Rejected{ID: "msg-1", Body: "{", Reason: "not JSON", At: rejectedAt}); err != nil {
		t.Fatal(err)
	}
	if v, ok := expiresAt("REJECTED#msg-1"); !ok || v != rejectedAt.Add(retention).Unix() {
		t.Fatalf("rejected request expires at %d (set %v), want %d", v, ok, rejectedAt.Add(retention).Unix())
	}
	// Without retention nothing expires.
	if err := kept.PutRejected(ctx, sparkflow.Rejected{ID: "msg-2", Body: "{", Reason: "not JSON", At: rejectedAt}); err != nil {
		t.Fatal(err)
	}
	if v, ok := expiresAt("REJECTED#msg-2"); ok {
		t.Fatalf("a store without retention set expiry %d", v)
	}
}

// TestRunIndexesHaveNoSingleHotKey: the runs of one transform, active and ended, are spread over the
// index keys of every run index (all runs, one transform's, the active ones), none holding more than
// a quarter of them; listings merge the shards newest first, and still find a run written before the
// indexes were sharded (its index keys unsharded).
func TestRunIndexesHaveNoSingleHotKey(t *testing.T) {
	ctx := awstest.Context(t)
	db := dynamodb.NewFromConfig(awstest.Config(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(awstest.Moto(t)) })
	name := fmt.Sprintf("sparkflow-shards-%d", os.Getpid())
	if err := dynamostore.CreateTable(ctx, db, name); err != nil {
		t.Fatal(err)
	}
	s := dynamostore.New(db, name)
	start := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	const n = 64
	for i := 0; i < n; i++ {
		r := sparkflow.Run{ID: fmt.Sprintf("backfill-%03d", i), Transform: "daily", Pool: "p", Status: sparkflow.RunQueued, CreatedAt: start.Add(time.Duration(i) * time.Minute)}
		if ok, err := s.CreateRun(ctx, r); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if i%2 == 1 {
			ended := r.CreatedAt.Add(time.Second)
			r.Version, r.Status, r.EndedAt = 1, sparkflow.RunSucceeded, &ended
			if _, err := s.UpdateRun(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A run as the unsharded indexes had it, older than all the others.
	legacy := sparkflow.Run{ID: "legacy-1", Transform: "daily", Pool: "p", Status: sparkflow.RunQueued, CreatedAt: start.Add(-time.Hour), Version: 1}
	body, _ := json.Marshal(legacy)
	sk := fmt.Sprintf("%020d#%s", legacy.CreatedAt.UnixNano(), legacy.ID)
	item := map[string]types.AttributeValue{}
	for k, v := range map[string]string{dynamostore.AttrPK: "RUN#legacy-1", dynamostore.AttrSK: "#", "data": string(body), "st": "QUEUED", "pl": "p", "tf": "daily",
		"g1pk": "RUNS", "g1sk": sk, "g2pk": "TRANSFORM#daily", "g2sk": sk, "g3pk": "ACTIVE", "g3sk": sk} {
		item[k] = &types.AttributeValueMemberS{Value: v}
	}
	item["version"] = &types.AttributeValueMemberN{Value: "1"}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(name), Item: item}); err != nil {
		t.Fatal(err)
	}

	scan, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	for _, attr := range []string{"g1pk", "g2pk", "g3pk"} {
		per := map[string]int{}
		total := 0
		for _, it := range scan.Items {
			if v, ok := it[attr].(*types.AttributeValueMemberS); ok && it[dynamostore.AttrPK].(*types.AttributeValueMemberS).Value != "RUN#legacy-1" {
				per[v.Value]++
				total++
			}
		}
		for k, c := range per {
			if c*4 > total {
				t.Errorf("index key %s=%s holds %d of %d runs (keys: %v)", attr, k, c, total, per)
			}
		}
		if len(per) < dynamostore.RunShards/2 {
			t.Errorf("%s: the runs use %d keys, want at least %d: %v", attr, len(per), dynamostore.RunShards/2, per)
		}
	}

	ids := func(f sparkflow.RunFilter) []string {
		t.Helper()
		runs, err := s.ListRuns(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range runs {
			out = append(out, r.ID)
		}
		return out
	}
	want := func(keep func(i int) bool, limit int, withLegacy bool) []string {
		var out []string
		for i := n - 1; i >= 0; i-- {
			if keep(i) {
				out = append(out, fmt.Sprintf("backfill-%03d", i))
			}
		}
		if withLegacy {
			out = append(out, "legacy-1")
		}
		if limit > 0 && len(out) > limit {
			out = out[:limit]
		}
		return out
	}
	all := func(int) bool { return true }
	active := func(i int) bool { return i%2 == 0 }
	ended := func(i int) bool { return i%2 == 1 }
	for _, c := range []struct {
		f    sparkflow.RunFilter
		want []string
	}{
		{sparkflow.RunFilter{}, want(all, 0, true)},
		{sparkflow.RunFilter{Limit: 10}, want(all, 10, true)},
		{sparkflow.RunFilter{Transform: "daily"}, want(all, 0, true)},
		{sparkflow.RunFilter{Active: true}, want(active, 0, true)},
		{sparkflow.RunFilter{Active: true, Limit: 5}, want(active, 5, true)},
		{sparkflow.RunFilter{Status: sparkflow.RunSucceeded, Limit: 7}, want(ended, 7, false)},
		{sparkflow.RunFilter{Transform: "daily", Status: sparkflow.RunQueued}, want(active, 0, true)},
	} {
		if got := ids(c.f); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("ListRuns(%+v) =\n%v\nwant\n%v", c.f, got, c.want)
		}
	}
}
