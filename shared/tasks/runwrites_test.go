package tasks_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/emrevent"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tasks"
)

// runWrites counts the writes of run records.
type runWrites struct {
	sparkflow.Store
	mu     sync.Mutex
	writes int
}

func (s *runWrites) UpdateRun(ctx context.Context, r sparkflow.Run) (sparkflow.Run, error) {
	s.mu.Lock()
	s.writes++
	s.mu.Unlock()
	return s.Store.UpdateRun(ctx, r)
}

func (s *runWrites) take() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.writes
	s.writes = 0
	return n
}

// A run that finds a free slot at once is granted it, its Reserve token recorded, in one run write;
// the event of its step's completion ends the run in one write and frees its slot; the workflow's
// Finish after that writes nothing.
func TestAFreeSlotAndACompletedStepAreOneRunWriteEach(t *testing.T) {
	e := openEngine(t, nil)
	readyPool(t, e, "p", 1)
	ctx := context.Background()
	if _, err := e.Service.CreateTransform(ctx, sparkflow.Transform{Name: "t", Pool: "p", Command: []string{"true"}, MaxAttempts: 2}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	r := sparkflow.Run{ID: "x", Transform: "t", Pool: "p", Attempt: 1, MaxAttempts: 2, CreatedAt: now, UpdatedAt: now}
	r.SetStatus(sparkflow.RunQueued, now, "")
	if _, err := e.Store.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := e.Store.Enqueue(ctx, sparkflow.Waiter{Pool: "p", RunID: "x", Since: now}); err != nil {
		t.Fatal(err)
	}
	store := &runWrites{Store: e.Store}
	calls := &resumes{Callbacks: e.Service.Callbacks, sent: map[string]string{}}
	svc := tasks.New(tasks.Service{Store: store, Clusters: e.Service.Clusters, Callbacks: calls, Tiers: e.Service.Tiers, NamePrefix: e.Service.NamePrefix})

	if err := svc.Reserve(ctx, "x", "tok-reserve", sparkflow.Fence{Epoch: 1, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	if n := store.take(); n != 1 {
		t.Errorf("Reserve with a free slot wrote the run %d times, want 1", n)
	}
	got, err := e.Store.GetRun(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	var grant tasks.Grant
	if err := json.Unmarshal([]byte(calls.sent["tok-reserve"]), &grant); err != nil || grant.ClusterID == "" || grant.ClusterID != got.ClusterID || got.ReservedAt == nil || got.Token != "tok-reserve" {
		t.Fatalf("after Reserve: resumed with %q, run %+v", calls.sent["tok-reserve"], got)
	}
	if ws, err := e.Store.Waiters(ctx, "p", 0); err != nil || len(ws) != 0 {
		t.Fatalf("the granted run is still in the FIFO: %+v %v", ws, err)
	}
	cluster := got.ClusterID

	// Its Submit, as recorded (the step and the token its end resumes).
	got.Status, got.StepID, got.StepState, got.Token = sparkflow.RunRunning, "s-1", sparkflow.StepRunning, "tok-submit"
	if _, err := e.Store.UpdateRun(ctx, got); err != nil {
		t.Fatal(err)
	}
	name := core.StepName(e.Service.NamePrefix, "x", 1, "t")
	if err := svc.HandleStepChange(ctx, emrevent.StepChange{ClusterID: cluster, StepID: "s-1", Name: name, State: sparkflow.StepCompleted, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if n := store.take(); n != 1 {
		t.Errorf("the completed step's event wrote the run %d times, want 1", n)
	}
	got, _ = e.Store.GetRun(ctx, "x")
	if got.Status != sparkflow.RunSucceeded || got.EndedAt == nil {
		t.Fatalf("after the completed step's event the run is %s (ended %v), want SUCCEEDED", got.Status, got.EndedAt)
	}
	c, err := e.Store.GetCluster(ctx, cluster)
	if err != nil || c.Holds("x") {
		t.Fatalf("the succeeded run still holds its slot: %+v %v", c.Reservations, err)
	}
	var o core.Outcome
	if err := json.Unmarshal([]byte(calls.sent["tok-submit"]), &o); err != nil || o.StepState != sparkflow.StepCompleted {
		t.Fatalf("the workflow was resumed with %q", calls.sent["tok-submit"])
	}

	res, err := svc.FinishAttempt(ctx, "x", 1, o)
	if err != nil {
		t.Fatal(err)
	}
	if n := store.take(); n != 0 || res.Status != sparkflow.RunSucceeded || res.Retry {
		t.Errorf("Finish after the event: %d run writes, result %+v; want none and SUCCEEDED", n, res)
	}
	// A retried Submit of the attempt (its first try's response lost) arriving after the event ended
	// the run is resumed with the step's end, so that its workflow goes on to Finish.
	if err := svc.Submit(ctx, "x", "tok-retried-submit", sparkflow.Fence{Epoch: 1, Attempt: 1, Task: sparkflow.FenceSubmit, Retry: 1}); err != nil {
		t.Fatalf("a retried Submit after the run ended by its step: %v", err)
	}
	if err := json.Unmarshal([]byte(calls.sent["tok-retried-submit"]), &o); err != nil || o.StepState != sparkflow.StepCompleted || store.take() != 0 {
		t.Fatalf("the retried Submit resumed %q; want the step's completion, and no write", calls.sent["tok-retried-submit"])
	}
	// A redelivery of the event changes nothing and resumes again (its first resume may be lost).
	delete(calls.sent, "tok-submit")
	if err := svc.HandleStepChange(ctx, emrevent.StepChange{ClusterID: cluster, StepID: "s-1", Name: name, State: sparkflow.StepCompleted, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if n := store.take(); n != 0 || calls.sent["tok-submit"] == "" {
		t.Errorf("a redelivered end event: %d run writes, resumed %q; want none and a resume", n, calls.sent["tok-submit"])
	}
}
