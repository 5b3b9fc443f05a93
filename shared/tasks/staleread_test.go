package tasks_test

import (
	"context"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/emrevent"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tasks"
)

// staleCache is a store whose cached read of a run is a version of it from before (as a cache would
// give after another writer's change).
type staleCache struct {
	sparkflow.Store
	old   sparkflow.Run
	reads int
}

func (s *staleCache) GetRunCached(ctx context.Context, id string) (sparkflow.Run, error) {
	s.reads++
	return s.old, nil
}

// A read-modify-write may start from a stale cached read: a write made on it is refused by its
// version and made again on a fresh read, and a decision not to write is made again on a fresh read
// too. Here the cached run is still on attempt 1 while the run is on attempt 2: the RUNNING event of
// attempt 2's step, which the stale run would ignore, is recorded.
func TestAStaleCachedReadDecidesNothing(t *testing.T) {
	e := openEngine(t, nil)
	ctx := context.Background()
	now := time.Now().UTC()
	r := sparkflow.Run{ID: "x", Transform: "t", Pool: "p", Attempt: 1, MaxAttempts: 2, CreatedAt: now, UpdatedAt: now, ClusterID: "j-1", ReservedAt: &now}
	r.SetStatus(sparkflow.RunSubmitted, now, "")
	if _, err := e.Store.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	old, _ := e.Store.GetRun(ctx, "x")
	cur := old
	cur.Attempt, cur.StepState, cur.StepID = 2, sparkflow.StepPending, ""
	cur.SetStatus(sparkflow.RunSubmitted, now, "attempt 2")
	if _, err := e.Store.UpdateRun(ctx, cur); err != nil {
		t.Fatal(err)
	}
	store := &staleCache{Store: e.Store, old: old}
	svc := tasks.New(tasks.Service{Store: store, Clusters: e.Service.Clusters, Callbacks: &resumes{sent: map[string]string{}}, Tiers: e.Service.Tiers, NamePrefix: e.Service.NamePrefix})
	name := core.StepName(e.Service.NamePrefix, "x", 2, "t")
	if err := svc.HandleStepChange(ctx, emrevent.StepChange{ClusterID: "j-1", StepID: "s-2", Name: name, State: sparkflow.StepRunning, Time: now}); err != nil {
		t.Fatal(err)
	}
	got, _ := e.Store.GetRun(ctx, "x")
	if store.reads == 0 || got.Status != sparkflow.RunRunning || got.StepID != "s-2" {
		t.Fatalf("after attempt 2's RUNNING event (cached reads %d): %s, step %q; want RUNNING, s-2", store.reads, got.Status, got.StepID)
	}
	// A write made on the stale read is refused and made again on the fresh one.
	store.old, _ = e.Store.GetRun(ctx, "x")
	stale := store.old
	if _, err := svc.Cancel(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	store.old = stale
	if err := svc.HandleStepChange(ctx, emrevent.StepChange{ClusterID: "j-1", StepID: "s-2", Name: name, State: sparkflow.StepFailed, Message: "boom", Time: now}); err != nil {
		t.Fatal(err)
	}
	if got, _ = e.Store.GetRun(ctx, "x"); !got.CancelRequested || got.StepState != sparkflow.StepFailed {
		t.Fatalf("the end written on a stale read lost the cancel written since, or was not written: %+v", got)
	}
}
