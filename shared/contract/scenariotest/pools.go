package scenariotest

import (
	"context"
	"fmt"
	"time"

	"github.com/sparkflow/sparkflow/shared/contract/backendtest"
	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// failedStartsHeld: a pool whose clusters keep failing to start (an untagged subnet: EMR's
// VALIDATION_ERROR) stops launching after core.MaxStartFailures in a row, DEGRADED with EMR's reason,
// and launches nothing more, even when the reconciler passes, until the user heals it; then it
// launches what it lacks. A single failed start waits out its backoff instead of relaunching at once.
func failedStartsHeld(t *T, w World) {
	ctx := context.Background()
	b := w.Backend()
	p := name("fs")
	codes := make([]string, core.MaxStartFailures)
	for i := range codes {
		codes[i] = "VALIDATION_ERROR"
	}
	must(t, w.FailStarts(p, codes...))
	if _, err := b.CreatePool(ctx, sparkflow.Pool{Name: p, Tier: "tiny", Clusters: core.MaxStartFailures, StepConcurrency: 1}); err != nil {
		t.Fatal(err)
	}
	v := waitPool(t, w, p, "launches held", func(v sparkflow.PoolView) bool { return v.LaunchesHeld })
	if v.Status != sparkflow.PoolDegraded || v.StartFailures != core.MaxStartFailures || v.LastStartFailure == nil || v.LastStartFailure.Reason.Code != "VALIDATION_ERROR" {
		t.Fatalf("held pool: status %s, %d failed starts, last %+v", v.Status, v.StartFailures, v.LastStartFailure)
	}
	must(t, w.Reconcile(ctx))
	time.Sleep(time.Second)
	if v, _ = b.GetPool(ctx, p); len(v.ClusterRecords) != core.MaxStartFailures {
		t.Fatalf("a held pool launched again: %d clusters", len(v.ClusterRecords))
	}
	// The user fixed the cause and heals the pool.
	must(t, b.HealPool(ctx, p))
	backendtest.Eventually(t, w.Wait(), "pool "+p+" ready after heal", func() bool {
		v, err := b.GetPool(ctx, p)
		return err == nil && v.Status == sparkflow.PoolReady && v.Ready == core.MaxStartFailures && !v.LaunchesHeld
	})

	// One failed start: the next launch waits for its backoff.
	q := name("fs")
	must(t, w.FailStarts(q, "BOOTSTRAP_FAILURE"))
	if _, err := b.CreatePool(ctx, sparkflow.Pool{Name: q, Tier: "tiny", Clusters: 1, StepConcurrency: 1}); err != nil {
		t.Fatal(err)
	}
	waitPool(t, w, q, "backing off", func(v sparkflow.PoolView) bool { return v.NextLaunchAt != nil })
	must(t, w.Reconcile(ctx))
	if v, _ = b.GetPool(ctx, q); len(v.ClusterRecords) != 1 || v.LaunchesHeld || v.LastStartFailure.Reason.Code != "BOOTSTRAP_FAILURE" ||
		v.NextLaunchAt.Sub(v.LastStartFailure.At) != core.StartBackoff(1) {
		t.Fatalf("after one failed start: %d clusters, held %v, last %+v, next %v", len(v.ClusterRecords), v.LaunchesHeld, v.LastStartFailure, v.NextLaunchAt)
	}
	must(t, b.DeletePool(ctx, p, true))
	must(t, b.DeletePool(ctx, q, true))
}

// idleOnDemand: a cluster EMR ended for idleness is not replaced while no run needs it (the pool is
// IDLE, nothing is launched, not even by the reconciler); a run submitted to the idle pool launches
// one cluster and succeeds on it.
func idleOnDemand(t *T, w World) {
	ctx := context.Background()
	b := w.Backend()
	p := name("idle")
	if _, err := b.CreatePool(ctx, sparkflow.Pool{Name: p, Tier: "tiny", Clusters: 1, StepConcurrency: 2, IdleTimeoutSeconds: 60}); err != nil {
		t.Fatal(err)
	}
	var v sparkflow.PoolView
	backendtest.Eventually(t, w.Wait(), "pool "+p+" ready", func() bool {
		var err error
		v, err = b.GetPool(ctx, p)
		return err == nil && v.Status == sparkflow.PoolReady
	})
	first := v.ClusterRecords[0].ID
	must(t, w.EndIdle(first))
	backendtest.Eventually(t, w.Wait(), "pool "+p+" idle", func() bool {
		var err error
		v, err = b.GetPool(ctx, p)
		return err == nil && v.Status == sparkflow.PoolIdle
	})
	must(t, w.Reconcile(ctx))
	time.Sleep(time.Second)
	if v, _ = b.GetPool(ctx, p); len(v.ClusterRecords) != 1 || v.Status != sparkflow.PoolIdle || v.IdleEnded != 1 {
		t.Fatalf("an idle pool with no work: %d clusters, status %s, idle-ended %d", len(v.ClusterRecords), v.Status, v.IdleEnded)
	}
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("true"), MaxAttempts: 1})
	r := ended(t, w, submit(t, w, tr.Name).ID, 2*w.Wait())
	if r.Status != sparkflow.RunSucceeded || r.ClusterID == first {
		t.Fatalf("run on an idle pool: %s on %s: %s", r.Status, r.ClusterID, r.Reason)
	}
	if v, _ = b.GetPool(ctx, p); len(v.ClusterRecords) != 2 {
		t.Fatalf("the run launched %d clusters, want 1", len(v.ClusterRecords)-1)
	}
	must(t, b.DeletePool(ctx, p, true))
}

// waitPool waits until pool p is as ok says, and says how it stands when it never is.
func waitPool(t *T, w World, p, what string, ok func(sparkflow.PoolView) bool) sparkflow.PoolView {
	t.Helper()
	deadline := time.Now().Add(w.Wait())
	for {
		v, err := w.Backend().GetPool(context.Background(), p)
		if err == nil && ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			var cs []string
			for _, c := range v.ClusterRecords {
				cs = append(cs, fmt.Sprintf("%s %s %s ready=%v", c.ID, c.State, c.Reason.Code, c.ReadyAt != nil))
			}
			t.Fatalf("pool %s not %s after %s: %v; status %s, failed starts %d, clusters %v", p, what, w.Wait(), err, v.Status, v.StartFailures, cs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// elasticScenario: an elastic pool (1..2 clusters, one slot each) starts with its kept cluster only;
// a run waiting behind a busy one launches a second cluster, and both runs succeed; that cluster,
// ended for idleness, is not replaced while nothing waits, but the kept one, lost, is replaced with
// nothing waiting. A pool of 0..1 starts with no cluster at all, idle, and its first run launches one.
func elasticScenario(t *T, w World) {
	ctx := context.Background()
	b := w.Backend()
	p := name("elastic")
	one, zero := 1, 0
	if _, err := b.CreatePool(ctx, sparkflow.Pool{Name: p, Tier: "tiny", Clusters: 2, MinClusters: &one, StepConcurrency: 1, IdleTimeoutSeconds: 60}); err != nil {
		t.Fatal(err)
	}
	v := waitPool(t, w, p, "ready with its kept cluster", func(v sparkflow.PoolView) bool { return v.Status == sparkflow.PoolReady && v.Ready == 1 })
	if len(v.ClusterRecords) != 1 || !v.ClusterRecords[0].Kept {
		t.Fatalf("an elastic pool of 1..2 started with %d clusters (%+v), want its one kept cluster", len(v.ClusterRecords), v.ClusterRecords)
	}
	kept := v.ClusterRecords[0].ID
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 3"), MaxAttempts: 1})
	first, second := submit(t, w, tr.Name), submit(t, w, tr.Name)
	for _, id := range []string{first.ID, second.ID} {
		if r := ended(t, w, id, 4*w.Wait()); r.Status != sparkflow.RunSucceeded {
			t.Fatalf("run %s on an elastic pool: %s: %s", id, r.Status, r.Reason)
		}
	}
	v, err := b.GetPool(ctx, p)
	must(t, err)
	burst := ""
	for _, c := range v.ClusterRecords {
		if c.ID != kept {
			burst = c.ID
			if c.Kept {
				t.Fatalf("the cluster launched for a waiting run is kept: %+v", c)
			}
		}
	}
	if len(v.ClusterRecords) != 2 || burst == "" {
		t.Fatalf("a run waiting on a busy elastic pool launched %d clusters, want 1", len(v.ClusterRecords)-1)
	}
	must(t, w.EndIdle(burst))
	waitPool(t, w, p, "back to its kept cluster", func(v sparkflow.PoolView) bool {
		for _, c := range v.ClusterRecords {
			if c.ID == burst {
				return c.State.Ended() && v.Status == sparkflow.PoolReady
			}
		}
		return false
	})
	must(t, w.Reconcile(ctx))
	time.Sleep(time.Second)
	if v, _ = b.GetPool(ctx, p); len(v.ClusterRecords) != 2 {
		t.Fatalf("a cluster beyond the minimum that ended for idleness was replaced with nothing waiting: %d clusters", len(v.ClusterRecords))
	}
	must(t, w.LoseCluster(kept))
	waitPool(t, w, p, "its kept cluster replaced", func(v sparkflow.PoolView) bool {
		for _, c := range v.ClusterRecords {
			if c.ID != kept && c.ID != burst && c.Kept && c.State.Ready() {
				return true
			}
		}
		return false
	})
	must(t, b.DeletePool(ctx, p, true))

	p0 := name("zero")
	if _, err := b.CreatePool(ctx, sparkflow.Pool{Name: p0, Tier: "tiny", Clusters: 1, MinClusters: &zero, StepConcurrency: 1, IdleTimeoutSeconds: 60}); err != nil {
		t.Fatal(err)
	}
	if v = waitPool(t, w, p0, "idle", func(v sparkflow.PoolView) bool { return v.Status == sparkflow.PoolIdle }); len(v.ClusterRecords) != 0 {
		t.Fatalf("a pool of 0..1 launched %d clusters with nothing to do", len(v.ClusterRecords))
	}
	tr0 := transform(t, w, p0, sparkflow.Transform{Command: backendtest.Sh("true"), MaxAttempts: 1})
	if r := ended(t, w, submit(t, w, tr0.Name).ID, 3*w.Wait()); r.Status != sparkflow.RunSucceeded {
		t.Fatalf("the first run of a pool of 0..1: %s: %s", r.Status, r.Reason)
	}
	if v, _ = b.GetPool(ctx, p0); len(v.ClusterRecords) != 1 || v.ClusterRecords[0].Kept {
		t.Fatalf("the first run of a pool of 0..1 launched %+v, want one cluster, not kept", v.ClusterRecords)
	}
	must(t, b.DeletePool(ctx, p0, true))
}

// drainScenario: a cluster near its idle end takes no new run (core.Draining), so that EMR's
// auto-termination never ends it under a run that reserved a slot but has not added its step. An
// elastic pool of 0..2 (one slot, a 60 s idle timeout: the last 15 s drain) runs a first run on the
// cluster its arrival launches; a second run submitted 47 s after that cluster's slot was freed is not
// given it: it launches a second cluster and runs there, first time, while the first ends idle with
// nothing held.
func drainScenario(t *T, w World) {
	ctx := context.Background()
	b := w.Backend()
	p := name("drain")
	zero := 0
	if _, err := b.CreatePool(ctx, sparkflow.Pool{Name: p, Tier: "tiny", Clusters: 2, MinClusters: &zero, StepConcurrency: 1, IdleTimeoutSeconds: 60}); err != nil {
		t.Fatal(err)
	}
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("true"), MaxAttempts: 1})
	first := ended(t, w, submit(t, w, tr.Name).ID, 3*w.Wait())
	if first.Status != sparkflow.RunSucceeded || first.ClusterID == "" {
		t.Fatalf("the first run: %s on %q: %s", first.Status, first.ClusterID, first.Reason)
	}
	c1 := first.ClusterID
	var idleSince time.Time
	v := waitPool(t, w, p, "its cluster idle", func(v sparkflow.PoolView) bool {
		for _, c := range v.ClusterRecords {
			if since, ok := core.IdleSince(c); ok && c.ID == c1 {
				idleSince = since
				return c.IdleTimeoutSeconds == 60
			}
		}
		return false
	})
	margin := core.DrainMargin(time.Minute)
	into := time.Until(idleSince.Add(time.Minute - margin + 2*time.Second))
	if into > time.Minute {
		t.Fatalf("cluster %s idle since %v (now %v): the record's clock is off", c1, idleSince, time.Now())
	}
	time.Sleep(into) // 47 s after the slot was freed: 13 s before EMR ends the cluster
	if v, _ = b.GetPool(ctx, p); len(v.ClusterRecords) != 1 || v.ClusterRecords[0].State.Ended() {
		t.Fatalf("cluster %s ended before its idle timeout (%+v)", c1, v.ClusterRecords)
	}
	second := submit(t, w, tr.Name)
	backendtest.Eventually(t, w.Wait(), "the second run waiting or placed", func() bool {
		r, err := b.GetRun(ctx, second.ID)
		return err == nil && (r.Status != sparkflow.RunQueued || r.ClusterID != "")
	})
	if r, _ := b.GetRun(ctx, second.ID); r.ClusterID == c1 {
		t.Fatalf("a run submitted %s before cluster %s's idle end was given a slot on it", margin-2*time.Second, c1)
	}
	// Where EMR's auto-termination does not run by itself (the twin's EMR), it runs now.
	if v, _ = b.GetPool(ctx, p); !endedOrEnd(t, w, v, c1) {
		t.Fatalf("cluster %s could not be ended", c1)
	}
	r := ended(t, w, second.ID, 4*w.Wait())
	if r.Status != sparkflow.RunSucceeded || r.ClusterID == c1 || r.Attempt != 1 {
		t.Fatalf("the run submitted while %s drained: %s on %s after %d attempts (%s); want success on another cluster, first time", c1, r.Status, r.ClusterID, r.Attempt, r.Reason)
	}
	v = waitPool(t, w, p, "its first cluster ended", func(v sparkflow.PoolView) bool {
		for _, c := range v.ClusterRecords {
			if c.ID == c1 {
				return c.State.Ended()
			}
		}
		return false
	})
	for _, c := range v.ClusterRecords {
		if c.ID == c1 && (len(c.Reservations) > 0 || !core.IdleEnded(sparkflow.Pool{IdleTimeoutSeconds: 60}, c)) {
			t.Fatalf("the drained cluster ended %s (%s) holding %v; want an idle end with nothing held", c.State, c.Reason.Code, c.Reservations)
		}
	}
	must(t, b.DeletePool(ctx, p, true))
}

// endedOrEnd ends cluster id as EMR's auto-termination does, unless it has ended already.
func endedOrEnd(t *T, w World, v sparkflow.PoolView, id string) bool {
	for _, c := range v.ClusterRecords {
		if c.ID == id && c.State.Ended() {
			return true
		}
	}
	if err := w.EndIdle(id); err != nil {
		// The home's own auto-termination may have got there first.
		nv, gerr := w.Backend().GetPool(context.Background(), v.Name)
		if gerr != nil {
			return false
		}
		for _, c := range nv.ClusterRecords {
			if c.ID == id && c.State.Ended() {
				return true
			}
		}
		t.Logf("end cluster %s: %v", id, err)
		return false
	}
	return true
}
