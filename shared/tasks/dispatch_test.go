package tasks_test

import (
	"context"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tasks"
)

// cancelOnReserve is a store where the run ends (a cancel lands) right after a dispatch reserved it
// a slot.
type cancelOnReserve struct {
	sparkflow.Store
	run string
}

func (c cancelOnReserve) Reserve(ctx context.Context, runID string, attempt int, clusterID string) (string, error) {
	got, err := c.Store.Reserve(ctx, runID, attempt, clusterID)
	if err == nil && runID == c.run {
		r, gerr := c.Store.GetRun(ctx, runID)
		if gerr == nil {
			r.SetStatus(sparkflow.RunCancelled, time.Now(), "cancelled while its slot was taken")
			_, gerr = c.Store.UpdateRun(ctx, r)
		}
		if gerr != nil {
			return "", gerr
		}
	}
	return got, err
}

// A serial dispatch that grants a run which ended meanwhile gives the slot back and dispatches again
// from inside its own pass: that must neither wait for its own turn (it deadlocked) nor keep the slot.
// (The run holds the slot its ended attempt left, which the dispatch takes over for its retry through
// the store's Reserve; the cancel lands right after.)
func TestASerialDispatchOfARunThatEndedGivesTheSlotBack(t *testing.T) {
	e := openEngine(t, nil)
	readyPool(t, e, "p", 1)
	ctx := context.Background()
	now := time.Now().UTC()
	r := sparkflow.Run{ID: "x", Transform: "t", Pool: "p", Status: sparkflow.RunWaiting, Attempt: 2, MaxAttempts: 2, CreatedAt: now,
		History: []sparkflow.Transition{{Status: sparkflow.RunWaiting, Attempt: 2, At: now}}}
	if _, err := e.Store.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	cs, _ := e.Store.ListClusters(ctx, "p")
	if _, err := e.Store.Reserve(ctx, "x", 1, cs[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := e.Store.Enqueue(ctx, sparkflow.Waiter{Pool: "p", RunID: "x", Since: now}); err != nil {
		t.Fatal(err)
	}
	svc := tasks.New(tasks.Service{Store: cancelOnReserve{e.Store, "x"}, Clusters: e.Service.Clusters, Callbacks: e.Service.Callbacks,
		Tiers: e.Service.Tiers, SerialDispatch: true})
	done := make(chan error, 1)
	go func() { done <- svc.Dispatch(ctx, "p") }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the dispatch did not return")
	}
	// Its pass runs in the background: it must end, neither waiting for its own turn (it deadlocked)
	// nor leaving the slot held.
	passed := make(chan struct{})
	go func() { svc.WaitBackground(); close(passed) }()
	select {
	case <-passed:
	case <-time.After(5 * time.Second):
		t.Fatal("the dispatch pass did not end: it waits for its own turn")
	}
	cs, _ = e.Store.ListClusters(ctx, "p")
	if len(cs) != 1 || cs[0].Holds("x") {
		t.Fatalf("the ended run keeps its slot: %+v", cs)
	}
	if ws, _ := e.Store.Waiters(ctx, "p", 0); len(ws) != 0 {
		t.Fatalf("the ended run is still in the FIFO: %+v", ws)
	}
}

// cancelBeforeGrant is a store where the run ends (a cancel lands) just before a dispatch writes its
// grant with its slot.
type cancelBeforeGrant struct {
	sparkflow.Store
	run string
}

func (c cancelBeforeGrant) UpdateRunSlot(ctx context.Context, r sparkflow.Run, ch sparkflow.SlotChange) (sparkflow.Run, error) {
	if ch.Take != "" && r.ID == c.run {
		cur, err := c.Store.GetRun(ctx, r.ID)
		if err != nil {
			return r, err
		}
		if !cur.Status.Terminal() {
			cur.SetStatus(sparkflow.RunCancelled, time.Now(), "cancelled while its slot was being taken")
			if _, err := c.Store.UpdateRun(ctx, cur); err != nil {
				return r, err
			}
		}
	}
	return c.Store.UpdateRunSlot(ctx, r, ch)
}

// A dispatch whose grant finds the run ended meanwhile takes no slot for it, and takes it out of the
// FIFO: the grant is written with its slot under the run's version, so an end written first wins.
func TestADispatchTakesNoSlotForARunThatEndedMeanwhile(t *testing.T) {
	e := openEngine(t, nil)
	readyPool(t, e, "p", 1)
	ctx := context.Background()
	now := time.Now().UTC()
	r := sparkflow.Run{ID: "x", Transform: "t", Pool: "p", Status: sparkflow.RunWaiting, Attempt: 1, MaxAttempts: 1, CreatedAt: now,
		History: []sparkflow.Transition{{Status: sparkflow.RunWaiting, Attempt: 1, At: now}}}
	if _, err := e.Store.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := e.Store.Enqueue(ctx, sparkflow.Waiter{Pool: "p", RunID: "x", Since: now}); err != nil {
		t.Fatal(err)
	}
	svc := tasks.New(tasks.Service{Store: cancelBeforeGrant{e.Store, "x"}, Clusters: e.Service.Clusters, Callbacks: e.Service.Callbacks, Tiers: e.Service.Tiers})
	if err := svc.Dispatch(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	cs, _ := e.Store.ListClusters(ctx, "p")
	if len(cs) != 1 || cs[0].Holds("x") {
		t.Fatalf("the ended run was given a slot: %+v", cs)
	}
	if ws, _ := e.Store.Waiters(ctx, "p", 0); len(ws) != 0 {
		t.Fatalf("the ended run is still in the FIFO: %+v", ws)
	}
	if got, _ := e.Store.GetRun(ctx, "x"); got.Status != sparkflow.RunCancelled || got.ReservedAt != nil {
		t.Fatalf("the run is %s, reserved %v; want CANCELLED without a grant", got.Status, got.ReservedAt)
	}
}
