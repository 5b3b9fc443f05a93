package crosshome_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/sparkflow/sparkflow/shared/aws/awstest"
	"github.com/sparkflow/sparkflow/shared/aws/dynamostore"
	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/emrevent"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tasks"
	"github.com/sparkflow/sparkflow/shared/tiers"
)

// writeCounter is the DynamoDB client with its write requests counted as the twin counts them: each
// PutItem, UpdateItem and DeleteItem, and each item of a TransactWriteItems (a write that fails its
// condition counts: DynamoDB charges it).
type writeCounter struct {
	*dynamodb.Client
	mu     sync.Mutex
	writes []string
}

func (c *writeCounter) note(what string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := 0; i < n; i++ {
		c.writes = append(c.writes, what)
	}
}

func (c *writeCounter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.writes
	c.writes = nil
	sort.Strings(w)
	return w
}

func (c *writeCounter) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.note("PutItem", 1)
	return c.Client.PutItem(ctx, in, o...)
}
func (c *writeCounter) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.note("UpdateItem", 1)
	return c.Client.UpdateItem(ctx, in, o...)
}
func (c *writeCounter) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	c.note("DeleteItem", 1)
	return c.Client.DeleteItem(ctx, in, o...)
}
func (c *writeCounter) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	c.note("TransactItem", len(in.TransactItems))
	return c.Client.TransactWriteItems(ctx, in, o...)
}

// stepsAdded plays EMR for the task logic: it adds steps (running nothing) and counts the calls.
type stepsAdded struct {
	sparkflow.Clusters
	mu    sync.Mutex
	calls []string
}

func (e *stepsAdded) AddStep(ctx context.Context, clusterID string, step sparkflow.StepSpec) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, "AddJobFlowSteps")
	return fmt.Sprintf("s-%d", len(e.calls)), nil
}

func (e *stepsAdded) ListSteps(ctx context.Context, clusterID string) ([]sparkflow.StepInfo, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, "ListSteps")
	return nil, nil
}

// resumed records the workflow resumes the task logic sends.
type resumed struct {
	mu   sync.Mutex
	sent map[string]string
}

func (r *resumed) SendTaskSuccess(ctx context.Context, token string, output []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent[token] = string(output)
	return nil
}
func (r *resumed) SendTaskFailure(ctx context.Context, token, name, cause string) error { return nil }

// TestWritesPerRunOnDynamoDB counts, on the AWS home's store (DynamoDB, in moto), the write requests
// of a run's whole life as its workflow and EMR's events drive the task logic: a run that finds a
// free slot costs 6 (its record with its slot, a transaction of 2 items; its Submit's token and claim,
// 1; its step's RUNNING event, 1; its COMPLETED event, which ends it and frees the slot, 2), and one
// EMR call; a run that waits for a slot costs 10 (its record and FIFO place, 2; its Reserve's token,
// 1; its grant with its slot, 2, and its place given up, 1; then as the other). No cluster record is
// written (ready clusters' RUNNING and WAITING are not recorded).
func TestWritesPerRunOnDynamoDB(t *testing.T) {
	ctx := context.Background()
	endpoint := awstest.Moto(t)
	db := &writeCounter{Client: dynamodb.NewFromConfig(awstest.Config(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })}
	name := fmt.Sprintf("sparkflow-writes-%d-%d", os.Getpid(), tables.Add(1))
	if err := dynamostore.CreateTable(awstest.Context(t), db.Client, name); err != nil {
		t.Fatal(err)
	}
	store := dynamostore.New(db, name)
	now := time.Now().UTC()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(store.CreatePool(ctx, sparkflow.Pool{Name: "etl", Tier: "tiny", Clusters: 1, StepConcurrency: 1, Status: sparkflow.PoolReady, CreatedAt: now}))
	must(store.CreateCluster(ctx, sparkflow.Cluster{ID: "j-1", Pool: "etl", State: sparkflow.ClusterWaiting, Capacity: 1, CreatedAt: now, StateTime: now, ReadyAt: &now}))
	must(store.CreateTransform(ctx, sparkflow.Transform{Name: "noop", Pool: "etl", Kind: sparkflow.KindCommand, Command: []string{"true"}, MaxAttempts: 1}))
	emr := &stepsAdded{}
	calls := &resumed{sent: map[string]string{}}
	svc := tasks.New(tasks.Service{Store: store, Clusters: emr, Callbacks: calls, Tiers: tiers.Default()})
	db.take()

	total := 0
	step := func(what string, want int, fn func() error) {
		t.Helper()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		got := db.take()
		total += len(got)
		t.Logf("%-40s %d write requests %v", what, len(got), got)
		if len(got) != want {
			t.Errorf("%s: %d write requests %v, want %d", what, len(got), got, want)
		}
	}
	event := func(run string, attempt int, stepID string, state sparkflow.StepState) func() error {
		return func() error {
			return svc.HandleStepChange(ctx, emrevent.StepChange{ClusterID: "j-1", StepID: stepID,
				Name: core.StepName(core.DefaultNamePrefix, run, attempt, "noop"), State: state, Time: time.Now()})
		}
	}
	fence := func(task int) sparkflow.Fence { return sparkflow.Fence{Attempt: 1, Task: task} }

	// A: the slot is free.
	a, b := "1e0c6a4d-4a8b-4c1d-9e2f-0a1b2c3d4e5f", "2f1d7b5e-5b9c-4d2e-8f3a-1b2c3d4e5f6a"
	step("A: accepted (with its slot)", 2, func() error { _, _, err := svc.Accept(ctx, sparkflow.RunRequest{ID: a, Transform: "noop"}); return err })
	step("A: Reserve", 0, func() error { return svc.Reserve(ctx, a, "a-reserve", fence(sparkflow.FenceReserve)) })
	step("A: Submit", 1, func() error { return svc.Submit(ctx, a, "a-submit", fence(sparkflow.FenceSubmit)) })
	step("A: its step's PENDING event", 0, event(a, 1, "s-1", sparkflow.StepPending))
	step("A: its step's RUNNING event", 1, event(a, 1, "s-1", sparkflow.StepRunning))

	// B comes while A runs: it waits for A's slot.
	beforeB := total
	step("B: accepted (no slot: its FIFO place)", 2, func() error { _, _, err := svc.Accept(ctx, sparkflow.RunRequest{ID: b, Transform: "noop"}); return err })
	step("B: Reserve (waits)", 1, func() error { return svc.Reserve(ctx, b, "b-reserve", fence(sparkflow.FenceReserve)) })
	bWrites := total - beforeB

	// A's step completes: A ends with its slot freed (2), and its Dispatch grants the slot to B (3).
	step("A: COMPLETED event, and B's grant", 5, event(a, 1, "s-1", sparkflow.StepCompleted))
	bWrites += 3
	if calls.sent["b-reserve"] == "" {
		t.Fatal("B's wait was not resumed with a grant when A's slot was freed")
	}
	step("A: Finish", 0, func() error {
		_, err := svc.FinishAttempt(ctx, a, 1, core.Outcome{StepState: sparkflow.StepCompleted})
		return err
	})
	aWrites := total - bWrites

	before := total
	step("B: Submit", 1, func() error { return svc.Submit(ctx, b, "b-submit", fence(sparkflow.FenceSubmit)) })
	step("B: its step's RUNNING event", 1, event(b, 1, "s-2", sparkflow.StepRunning))
	step("B: its step's COMPLETED event", 2, event(b, 1, "s-2", sparkflow.StepCompleted))
	step("B: Finish", 0, func() error {
		_, err := svc.FinishAttempt(ctx, b, 1, core.Outcome{StepState: sparkflow.StepCompleted})
		return err
	})
	bWrites += total - before

	for _, id := range []string{a, b} {
		r, err := store.GetRun(ctx, id)
		if err != nil || r.Status != sparkflow.RunSucceeded {
			t.Fatalf("run %s: %s %v", id, r.Status, err)
		}
	}
	if c, err := store.GetCluster(ctx, "j-1"); err != nil || len(c.Reservations) != 0 {
		t.Fatalf("the cluster holds %v after both ended (%v)", c.Reservations, err)
	}
	t.Logf("per run: %d write requests for the run that found a free slot, %d for the run that waited; EMR calls %v", aWrites, bWrites, emr.calls)
	if aWrites > 6 || bWrites > 10 {
		t.Errorf("write requests per run: %d and %d, want at most 6 and 10", aWrites, bWrites)
	}
	if strings.Join(emr.calls, " ") != "AddJobFlowSteps AddJobFlowSteps" {
		t.Errorf("EMR calls %v, want one AddJobFlowSteps a run", emr.calls)
	}
}
