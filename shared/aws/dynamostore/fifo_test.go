package dynamostore_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sparkflow/sparkflow/shared/aws/awstest"
	"github.com/sparkflow/sparkflow/shared/aws/dynamostore"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// writes counts the write requests made through a DynamoDB client (a transaction's items each).
type writes struct {
	*dynamodb.Client
	mu sync.Mutex
	n  map[string]int
}

func (w *writes) add(op string, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n[op] += n
}

func (w *writes) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	w.add("PutItem", 1)
	return w.Client.PutItem(ctx, in, o...)
}

func (w *writes) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	w.add("UpdateItem", 1)
	return w.Client.UpdateItem(ctx, in, o...)
}

func (w *writes) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	w.add("DeleteItem", 1)
	return w.Client.DeleteItem(ctx, in, o...)
}

func (w *writes) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	w.add("transaction items", len(in.TransactItems))
	return w.Client.TransactWriteItems(ctx, in, o...)
}

func (w *writes) take() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.n
	w.n = map[string]int{}
	return n
}

// TestFIFOPlaceIsOneWriteEach: taking a place in a pool's FIFO is one write request, and so is giving
// it up; updating the token of a run already waiting is one; removing a run that does not wait, or
// one removed already, writes nothing.
func TestFIFOPlaceIsOneWriteEach(t *testing.T) {
	ctx := awstest.Context(t)
	db := &writes{Client: dynamodb.NewFromConfig(awstest.Config(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(awstest.Moto(t)) }), n: map[string]int{}}
	name := fmt.Sprintf("sparkflow-fifo-%d", os.Getpid())
	if err := dynamostore.CreateTable(ctx, db.Client, name); err != nil {
		t.Fatal(err)
	}
	s := dynamostore.New(db, name)
	at := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	if _, err := s.CreateRun(ctx, sparkflow.Run{ID: "r1", Transform: "daily", Pool: "p", Status: sparkflow.RunQueued, CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	db.take()
	step := func(what string, want int, fn func() error) {
		t.Helper()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		total := 0
		got := db.take()
		for _, n := range got {
			total += n
		}
		if total != want {
			t.Errorf("%s: %d write requests (%v), want %d", what, total, got, want)
		}
	}
	step("enqueue", 1, func() error { return s.Enqueue(ctx, sparkflow.Waiter{Pool: "p", RunID: "r1", Since: at}) })
	step("enqueue with a token", 1, func() error {
		return s.Enqueue(ctx, sparkflow.Waiter{Pool: "p", RunID: "r1", Token: "tok", Since: at})
	})
	step("remove", 1, func() error {
		won, err := s.RemoveWaiter(ctx, "p", "r1")
		if err == nil && !won {
			err = fmt.Errorf("reported not removed")
		}
		return err
	})
	step("remove again", 0, func() error {
		won, err := s.RemoveWaiter(ctx, "p", "r1")
		if err == nil && won {
			err = fmt.Errorf("reported removed twice")
		}
		return err
	})
}

// TestFIFOKeepsPlacesTakenBeforeTheirLayout: a place taken by an older version (an index item
// WAITRUN#<pool>#<run> naming its FIFO item) is listed in its order, has its token updated in place
// (no second place) and is removed with its index item.
func TestFIFOKeepsPlacesTakenBeforeTheirLayout(t *testing.T) {
	ctx := awstest.Context(t)
	db := dynamodb.NewFromConfig(awstest.Config(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(awstest.Moto(t)) })
	name := fmt.Sprintf("sparkflow-fifo-legacy-%d", os.Getpid())
	if err := dynamostore.CreateTable(ctx, db, name); err != nil {
		t.Fatal(err)
	}
	s := dynamostore.New(db, name)
	at := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	for i, id := range []string{"old", "new"} {
		if _, err := s.CreateRun(ctx, sparkflow.Run{ID: id, Transform: "daily", Pool: "p", Status: sparkflow.RunQueued, CreatedAt: at.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	// "old" as the earlier layout enqueued it: its place keyed by acceptance and enqueue time.
	wsk := fmt.Sprintf("%020d#%020d#%s", at.UnixNano(), at.Add(time.Millisecond).UnixNano(), "old")
	s1 := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	for _, item := range []map[string]types.AttributeValue{
		{dynamostore.AttrPK: s1("WAITRUN#p#old"), dynamostore.AttrSK: s1("#"), "wsk": s1(wsk)},
		{dynamostore.AttrPK: s1("WAIT#p"), dynamostore.AttrSK: s1(wsk), "run": s1("old"), "tok": s1("t-old"), "since": &types.AttributeValueMemberN{Value: fmt.Sprint(at.UnixNano())}},
	} {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(name), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Enqueue(ctx, sparkflow.Waiter{Pool: "p", RunID: "new", Token: "t-new", Since: at.Add(time.Second)}))
	must(s.Enqueue(ctx, sparkflow.Waiter{Pool: "p", RunID: "old", Token: "t-old-2", Since: at}))
	ws, err := s.Waiters(ctx, "p", 0)
	must(err)
	if len(ws) != 2 || ws[0].RunID != "old" || ws[0].Token != "t-old-2" || ws[1].RunID != "new" {
		t.Fatalf("Waiters = %+v, want old (token t-old-2) then new", ws)
	}
	won, err := s.RemoveWaiter(ctx, "p", "old")
	must(err)
	if !won {
		t.Fatal("RemoveWaiter of the legacy place reported false")
	}
	ws, err = s.Waiters(ctx, "p", 0)
	must(err)
	if len(ws) != 1 || ws[0].RunID != "new" {
		t.Fatalf("after removing the legacy place Waiters = %+v", ws)
	}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(name), Key: map[string]types.AttributeValue{dynamostore.AttrPK: s1("WAITRUN#p#old"), dynamostore.AttrSK: s1("#")}})
	must(err)
	if out.Item != nil {
		t.Fatal("the legacy index item was left behind")
	}
}
