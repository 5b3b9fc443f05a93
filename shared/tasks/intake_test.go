package tasks_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/local/engine"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// grantBeforeEnqueue is a store in which, once armed, the run's grant lands between the intake's read
// of a redelivered run and its Enqueue: the slot is taken and the run leaves the FIFO first.
type grantBeforeEnqueue struct {
	sparkflow.Store
	armed bool
}

func (g *grantBeforeEnqueue) Enqueue(ctx context.Context, w sparkflow.Waiter) error {
	if g.armed {
		g.armed = false
		if _, err := g.Store.RemoveWaiter(ctx, w.Pool, w.RunID); err != nil {
			return err
		}
		r, err := g.Store.GetRun(ctx, w.RunID)
		if err != nil {
			return err
		}
		now := time.Now()
		r.ClusterID, r.ReservedAt = "j-granted", &now
		r.SetStatus(sparkflow.RunWaiting, now, "")
		if _, err := g.Store.UpdateRun(ctx, r); err != nil {
			return err
		}
	}
	return g.Store.Enqueue(ctx, w)
}

func TestARedeliveryLeavesNoStalePlaceWhenTheGrantComesBetween(t *testing.T) {
	e := openEngine(t, nil)
	readyPool(t, e, "p", 1)
	ctx := context.Background()
	if _, err := e.Service.CreateTransform(ctx, sparkflow.Transform{Name: "t", Pool: "p", Command: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	fillSlots(t, e, "p") // no slot is free: the run is accepted into the FIFO, not granted at once
	store := &grantBeforeEnqueue{Store: e.Store}
	svc := *e.Service
	svc.Store = store
	req := sparkflow.RunRequest{ID: "0b7e7a52-6a43-4c1e-9a9e-51d2f0c4b6a1", Transform: "t"}
	if _, created, err := svc.Accept(ctx, req); err != nil || !created {
		t.Fatalf("first delivery: created=%v %v", created, err)
	}
	store.armed = true
	if _, created, err := svc.Accept(ctx, req); err != nil || created {
		t.Fatalf("redelivery: created=%v %v", created, err)
	}
	if store.armed {
		t.Fatal("the redelivery did not enqueue, so the interleaving was not tried")
	}
	ws, err := e.Store.Waiters(ctx, "p", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		if w.RunID == req.ID {
			t.Fatalf("the granted run is back in the FIFO after a redelivery: %+v", ws)
		}
	}
}

// A redelivery of a run on a later attempt, waiting in the FIFO with the slot time of its earlier
// attempt still recorded, keeps its place: only a grant since the intake's read makes it stale.
func TestARedeliveryKeepsTheFIFOPlaceOfALaterAttempt(t *testing.T) {
	e := openEngine(t, nil)
	readyPool(t, e, "p", 1)
	ctx := context.Background()
	if _, err := e.Service.CreateTransform(ctx, sparkflow.Transform{Name: "t", Pool: "p", Command: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	fillSlots(t, e, "p")
	req := sparkflow.RunRequest{ID: "3c9d3f0e-2b7a-4f51-8d0c-6e1a2b3c4d5e", Transform: "t"}
	if _, _, err := e.Service.Accept(ctx, req); err != nil {
		t.Fatal(err)
	}
	r, err := e.Store.GetRun(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	earlier := time.Now().Add(-time.Minute)
	r.Attempt, r.ReservedAt = 2, &earlier // attempt 1 held a slot; attempt 2 queues again
	if _, err := e.Store.UpdateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, created, err := e.Service.Accept(ctx, req); err != nil || created {
		t.Fatalf("redelivery: created=%v %v", created, err)
	}
	ws, err := e.Store.Waiters(ctx, "p", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 1 || ws[0].RunID != req.ID {
		t.Fatalf("the waiting run lost its FIFO place to a redelivery: %+v", ws)
	}
}

// fillSlots takes every free slot of the pool's clusters for runs of its own (recorded, as a
// reservation is kept with its run's record).
func fillSlots(t *testing.T, e *engine.Engine, pool string) {
	t.Helper()
	ctx := context.Background()
	cs, err := e.Store.ListClusters(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		for i := c.Free(); i > 0; i-- {
			now := time.Now().UTC()
			id := fmt.Sprintf("filler-%s-%d", c.ID, i)
			r := sparkflow.Run{ID: id, Transform: "filler", Pool: pool, Attempt: 1, CreatedAt: now, UpdatedAt: now}
			r.SetStatus(sparkflow.RunRunning, now, "")
			if _, err := e.Store.CreateRun(ctx, r); err != nil {
				t.Fatal(err)
			}
			if _, err := e.Store.Reserve(ctx, id, 1, c.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
}
