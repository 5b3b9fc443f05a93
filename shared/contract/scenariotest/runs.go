package scenariotest

import (
	"context"
	"strings"
	"time"

	"github.com/sparkflow/sparkflow/shared/contract/backendtest"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// happyPath: 24 runs over a pool of 3 clusters × 2 slots all succeed, every cluster is used, and
// from the recorded times no cluster ever held more runs than its slots.
func happyPath(t *T, w World) {
	p := pool(t, w, 3, 2)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 0.5")})
	var ids []string
	for i := 0; i < 24; i++ {
		ids = append(ids, submit(t, w, tr.Name).ID)
	}
	byCluster := map[string][][2]time.Time{}
	for _, id := range ids {
		r := ended(t, w, id, 3*w.Wait())
		if r.Status != sparkflow.RunSucceeded {
			t.Fatalf("run %s %s: %s", r.ID, r.Status, r.Reason)
		}
		if r.ReservedAt == nil || r.EndedAt == nil {
			t.Fatalf("run %s has no reservation or end time", r.ID)
		}
		byCluster[r.ClusterID] = append(byCluster[r.ClusterID], [2]time.Time{*r.ReservedAt, *r.EndedAt})
	}
	if len(byCluster) != 3 {
		t.Fatalf("runs went to %d clusters, want all 3", len(byCluster))
	}
	for c, iv := range byCluster {
		if n := maxOverlap(iv); n > 2 {
			t.Fatalf("cluster %s held %d runs at once; it has 2 slots", c, n)
		}
	}
}

func retryAfterFailure(t *T, w World) {
	p := pool(t, w, 1, 2)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("test ${attempt} -ge 2"), MaxAttempts: 2})
	r := ended(t, w, submit(t, w, tr.Name).ID, w.Wait())
	if r.Status != sparkflow.RunSucceeded || r.Attempt != 2 {
		t.Fatalf("run %s attempt %d: %s", r.Status, r.Attempt, r.Reason)
	}
	if !historyHas(r, "attempt 1 of 2") {
		t.Fatalf("the history does not say why attempt 1 ended: %+v", r.History)
	}
}

func historyHas(r sparkflow.Run, note string) bool {
	for _, h := range r.History {
		if strings.Contains(h.Note, note) {
			return true
		}
	}
	return false
}

func attemptTimeout(t *T, w World) {
	p := pool(t, w, 1, 1)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 60"), TimeoutSeconds: 2})
	r := ended(t, w, submit(t, w, tr.Name).ID, w.Wait())
	if r.Status != sparkflow.RunTimedOut || !strings.Contains(r.Reason, "timeout") {
		t.Fatalf("run %s: %s", r.Status, r.Reason)
	}
	// Its step was cancelled: the record says so (CANCEL_PENDING is the step's last known state when
	// the run ended; EMR cancels asynchronously).
	if r.StepState != sparkflow.StepCancelPending && r.StepState != sparkflow.StepCancelled {
		t.Fatalf("the timed-out run's step is %s; its cancel was not recorded", r.StepState)
	}
	// The slot is free again: the next run goes through.
	quick := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("true")})
	if r := ended(t, w, submit(t, w, quick.Name).ID, w.Wait()); r.Status != sparkflow.RunSucceeded {
		t.Fatalf("the run after a timed-out one: %s %s", r.Status, r.Reason)
	}
}

func queueTimeout(t *T, w World) {
	p := pool(t, w, 1, 1)
	block := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 60")})
	waiter := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("true"), QueueTimeoutSeconds: 2})
	b := submit(t, w, block.Name)
	backendtest.WaitStatus(t, w.Backend(), b.ID, w.Wait(), status(sparkflow.RunRunning), "to run")
	r := ended(t, w, submit(t, w, waiter.Name).ID, w.Wait())
	if r.Status != sparkflow.RunTimedOut || !strings.Contains(r.Reason, "no free slot") {
		t.Fatalf("waiting run %s: %s", r.Status, r.Reason)
	}
	if _, err := w.Backend().CancelRun(context.Background(), b.ID); err != nil {
		t.Fatal(err)
	}
	if r := ended(t, w, b.ID, w.Wait()); r.Status != sparkflow.RunCancelled {
		t.Fatalf("blocker %s", r.Status)
	}
}

func cancelRunning(t *T, w World) {
	p := pool(t, w, 1, 1)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 60")})
	r := submit(t, w, tr.Name)
	backendtest.WaitStatus(t, w.Backend(), r.ID, w.Wait(), status(sparkflow.RunRunning), "to run")
	if _, err := w.Backend().CancelRun(context.Background(), r.ID); err != nil {
		t.Fatal(err)
	}
	if r := ended(t, w, r.ID, w.Wait()); r.Status != sparkflow.RunCancelled || r.StepState != sparkflow.StepCancelled {
		t.Fatalf("cancelled run %s, step %s", r.Status, r.StepState)
	}
}

func cancelWaiting(t *T, w World) {
	p := pool(t, w, 1, 1)
	block := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 60")})
	b := submit(t, w, block.Name)
	backendtest.WaitStatus(t, w.Backend(), b.ID, w.Wait(), status(sparkflow.RunRunning), "to run")
	r := submit(t, w, block.Name)
	backendtest.WaitStatus(t, w.Backend(), r.ID, w.Wait(), status(sparkflow.RunWaiting), "to wait for a slot")
	if _, err := w.Backend().CancelRun(context.Background(), r.ID); err != nil {
		t.Fatal(err)
	}
	if r := ended(t, w, r.ID, w.Wait()); r.Status != sparkflow.RunCancelled || r.StepID != "" {
		t.Fatalf("cancelled waiting run %s, step %q", r.Status, r.StepID)
	}
	if _, err := w.Backend().CancelRun(context.Background(), b.ID); err != nil {
		t.Fatal(err)
	}
	ended(t, w, b.ID, w.Wait())
}

func clusterLost(t *T, w World) {
	p := pool(t, w, 2, 1)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 3"), MaxAttempts: 2})
	r := submit(t, w, tr.Name)
	r = backendtest.WaitStatus(t, w.Backend(), r.ID, w.Wait(), status(sparkflow.RunRunning), "to run")
	lost := r.ClusterID
	must(t, w.LoseCluster(lost))
	done := ended(t, w, r.ID, 2*w.Wait())
	if done.Status != sparkflow.RunSucceeded || done.Attempt != 2 || done.ClusterID == lost {
		t.Fatalf("run after its cluster was lost: %s attempt %d on %s (lost %s): %s", done.Status, done.Attempt, done.ClusterID, lost, done.Reason)
	}
	// The pool replaces the lost cluster.
	backendtest.Eventually(t, 2*w.Wait(), "pool "+p+" healed", func() bool {
		v, err := w.Backend().GetPool(context.Background(), p)
		return err == nil && v.Ready == 2 && v.Status == sparkflow.PoolReady
	})
}
