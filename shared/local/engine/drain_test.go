package engine_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// Stopping the engine (Ctrl-C of sparkflow local) drains it: no new run is taken and no pending step
// starts, the steps under way finish and their runs end; what is still queued goes on at the next
// start. A step the grace period cuts off is a failed attempt, retried at the next start.
func TestDrainLetsRunningStepsFinishAndKeepsTheRest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	e := openEngine(t, dir, nil)
	createPool(t, e, "etl", 1, 1)
	createTransform(t, e, sparkflow.Transform{Name: "short", Pool: "etl", Command: sh("sleep 1")})
	running := submit(t, e, "short", nil)
	queued := submit(t, e, "short", nil)
	waitFor(t, 10*time.Second, "the first run to run", func() bool {
		r, _ := e.Store.GetRun(context.Background(), running.ID)
		return r.Status == sparkflow.RunRunning
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rep := e.Drain(ctx)
	if rep.Interrupted != 0 || rep.Finished != 1 {
		t.Fatalf("drain: %+v, want the running step finished", rep)
	}
	if r, _ := e.Store.GetRun(context.Background(), running.ID); r.Status != sparkflow.RunSucceeded {
		t.Fatalf("the running run ended %s after the drain", r.Status)
	}
	if _, err := e.Submit(context.Background(), sparkflow.RunRequest{Transform: "short"}); !sparkflow.IsCode(err, sparkflow.Transient) {
		t.Fatalf("a run submitted while draining: %v", err)
	}
	if r, _ := e.Store.GetRun(context.Background(), queued.ID); r.Status.Terminal() || r.StartedAt != nil {
		t.Fatalf("the queued run was started during the drain: %s", r.Status)
	}
	e.Close()
	e = openEngine(t, dir, nil)
	defer e.Close()
	if r := waitRun(t, e, queued.ID, 20*time.Second); r.Status != sparkflow.RunSucceeded {
		t.Fatalf("the queued run after the restart: %s %s", r.Status, r.Reason)
	}
}

func TestDrainGraceCutsOffAStepThatRetriesAtTheNextStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	e := openEngine(t, dir, nil)
	createPool(t, e, "etl", 1, 1)
	createTransform(t, e, sparkflow.Transform{Name: "slow-once", Pool: "etl", Command: sh("test ${attempt} -ge 2 || sleep 60"), MaxAttempts: 2})
	r := submit(t, e, "slow-once", nil)
	waitFor(t, 10*time.Second, "the run to run", func() bool {
		got, _ := e.Store.GetRun(context.Background(), r.ID)
		return got.Status == sparkflow.RunRunning
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if rep := e.Drain(ctx); rep.Interrupted != 1 {
		t.Fatalf("drain: %+v, want one step cut off", rep)
	}
	e.Close()
	e = openEngine(t, dir, nil)
	defer e.Close()
	done := waitRun(t, e, r.ID, 20*time.Second)
	if done.Status != sparkflow.RunSucceeded || done.Attempt != 2 {
		t.Fatalf("after the restart: %s attempt %d: %s", done.Status, done.Attempt, done.Reason)
	}
}
