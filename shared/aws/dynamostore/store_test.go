package dynamostore_test

import (
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
