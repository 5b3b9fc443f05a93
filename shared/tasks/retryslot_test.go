package tasks_test

import (
	"context"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tasks"
)

// reserveBeforeRelease is a store in which, once armed, the next attempt's Reserve task runs just
// before the Finish that ended the attempt frees its slot: the workflow moved on (a duplicate Finish
// answered) while the Finish that concluded the attempt still runs.
type reserveBeforeRelease struct {
	sparkflow.Store
	reserve func() error
	armed   bool
}

func (s *reserveBeforeRelease) Release(ctx context.Context, runID string, attempt int, clusterID string, at time.Time) error {
	if s.armed {
		s.armed = false
		if err := s.reserve(); err != nil {
			return err
		}
	}
	return s.Store.Release(ctx, runID, attempt, clusterID, at)
}

// The next attempt's Reserve takes over the slot its ended attempt left; the ended attempt's Finish,
// freeing that slot a moment later, leaves it alone, and no grant moves the run to another cluster
// after its Submit has been told where to go (seed 11585 of the simulation: the step went to one
// cluster, the run's record said another, and its Finish found no step).
func TestTheEndedAttemptsFinishLeavesTheSlotTheRetryTookOver(t *testing.T) {
	e := openEngine(t, nil)
	readyPool(t, e, "p", 2)
	ctx := context.Background()
	if _, err := e.Service.CreateTransform(ctx, sparkflow.Transform{Name: "t", Pool: "p", Command: []string{"true"}, MaxAttempts: 2}); err != nil {
		t.Fatal(err)
	}
	cs, err := e.Store.ListClusters(ctx, "p")
	if err != nil || len(cs) != 2 {
		t.Fatalf("clusters %+v %v", cs, err)
	}
	first := cs[0].ID
	// Another run on the first cluster, so that a fresh dispatch would pick the second.
	other := sparkflow.Run{ID: "other", Transform: "t", Pool: "p", Status: sparkflow.RunRunning, Attempt: 1, MaxAttempts: 1, CreatedAt: time.Now().UTC(), History: []sparkflow.Transition{}}
	if _, err := e.Store.CreateRun(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.Reserve(ctx, "other", 1, first); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	r := sparkflow.Run{ID: "x", Transform: "t", Pool: "p", Status: sparkflow.RunRunning, Attempt: 1, MaxAttempts: 2, CreatedAt: now,
		ClusterID: first, ReservedAt: &now, StepID: "s-1", StepState: sparkflow.StepFailed,
		History: []sparkflow.Transition{{Status: sparkflow.RunRunning, Attempt: 1, At: now}}}
	if _, err := e.Store.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.Reserve(ctx, "x", 1, first); err != nil {
		t.Fatal(err)
	}
	store := &reserveBeforeRelease{Store: e.Store}
	svc := tasks.New(tasks.Service{Store: store, Clusters: e.Service.Clusters, Callbacks: e.Service.Callbacks, Tiers: e.Service.Tiers})
	store.reserve = func() error {
		return svc.Reserve(ctx, "x", "token-of-attempt-2", sparkflow.Fence{Epoch: 1, Attempt: 2})
	}
	store.armed = true
	res, err := svc.FinishAttempt(ctx, "x", 1, core.Outcome{StepState: sparkflow.StepFailed, Reason: "exit 1"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Retry || res.Attempt != 2 || store.armed {
		t.Fatalf("Finish %+v (the interleaving tried: %v)", res, !store.armed)
	}
	got, err := e.Store.GetRun(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	cs, _ = e.Store.ListClusters(ctx, "p")
	holds := ""
	for _, c := range cs {
		if c.Holds("x") {
			holds += c.ID
		}
	}
	if got.ClusterID != first || got.ReservedAt == nil || holds != first {
		t.Fatalf("attempt 2 was granted %s; now its record says %s (granted %v) and it holds a slot on %q", first, got.ClusterID, got.ReservedAt != nil, holds)
	}
}
