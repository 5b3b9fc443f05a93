package tasks_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// resumes records the resumes sent (and answers as a token no longer waited on would not: OK).
type resumes struct {
	sparkflow.Callbacks
	mu   sync.Mutex
	sent map[string]string
}

func (r *resumes) SendTaskSuccess(ctx context.Context, token string, output []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent[token] = string(output)
	return nil
}

// TestReconcilerRepairsAWaitWhoseDispatchWasCutOff: a run waiting in Reserve whose Dispatch took it
// out of the FIFO with a slot and died before resuming it gets its grant sent again; one that holds
// no slot and has lost its FIFO place gets the place back (by acceptance time, ahead of a younger
// waiter). A wait younger than a minute is left alone.
func TestReconcilerRepairsAWaitWhoseDispatchWasCutOff(t *testing.T) {
	e := openEngine(t, nil)
	ctx := context.Background()
	readyPool(t, e, "p", 1)
	if _, err := e.Service.CreateTransform(ctx, sparkflow.Transform{Name: "t", Pool: "p", Command: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	cs, _ := e.Store.ListClusters(ctx, "p")
	t0 := time.Now().UTC()
	waiting := func(id, token string, since time.Time) sparkflow.Run {
		r := sparkflow.Run{ID: id, Transform: "t", Pool: "p", Attempt: 1, Token: token, CreatedAt: since, UpdatedAt: since,
			Fence: &sparkflow.Fence{Attempt: 1, Task: sparkflow.FenceReserve}, MaxAttempts: 1}
		r.SetStatus(sparkflow.RunWaiting, since, "waiting for a free slot in pool p")
		if _, err := e.Store.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	granted := waiting("granted", "tok-granted", t0.Add(-10*time.Minute))
	if _, err := e.Store.Reserve(ctx, granted.ID, 1, cs[0].ID); err != nil {
		t.Fatal(err)
	}
	waiting("lost-place", "tok-lost", t0.Add(-9*time.Minute))
	if err := e.Store.Enqueue(ctx, sparkflow.Waiter{Pool: "p", RunID: "younger", Token: "tok-y", Since: t0.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	waiting("fresh", "tok-fresh", t0.Add(-10*time.Second))
	rec := &resumes{sent: map[string]string{}}
	svc := *e.Service
	svc.Callbacks, svc.Clock = rec, later{t0}
	rep, err := svc.Reconcile(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	svc.WaitBackground() // the pass's dispatch (the local engine's run in the background)
	var g struct{ ClusterID string }
	if out, ok := rec.sent["tok-granted"]; !ok || json.Unmarshal([]byte(out), &g) != nil || g.ClusterID != cs[0].ID {
		t.Fatalf("the cut-off grant was not sent again: %v", rec.sent)
	}
	// Its place back, and the one free slot (the cluster has 2, "granted" holds one) goes to it, not
	// to the younger waiter: the pass's dispatch serves the FIFO in order.
	if _, ok := rec.sent["tok-lost"]; !ok {
		t.Fatalf("the run that had lost its place was not served: resumes %v", rec.sent)
	}
	ws, err := e.Store.Waiters(ctx, "p", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 1 || ws[0].RunID != "younger" {
		t.Fatalf("FIFO after the repair %+v; want the younger waiter alone (still waiting)", ws)
	}
	if _, ok := rec.sent["tok-fresh"]; ok {
		t.Fatal("a wait younger than a minute was repaired")
	}
	if got, _ := e.Store.Waiters(ctx, "p", 0); len(got) != 1 {
		t.Fatalf("the fresh wait was given a place: %+v", got)
	}
	if rep.WaitsRepaired != 2 {
		t.Fatalf("report: %d waits repaired, want 2", rep.WaitsRepaired)
	}
}
