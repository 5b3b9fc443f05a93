package core

import (
	"fmt"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// TestPlanElasticPool: an elastic pool keeps its minimum (kept clusters, replaced whatever the work),
// launches beyond it only for waiting runs (a cluster per StepConcurrency of them beyond the free
// slots of clusters not draining, less those starting), never past its maximum, and backs off after failed starts as a fixed pool does.
func TestPlanElasticPool(t *testing.T) {
	elastic := func(min, max int, status sparkflow.PoolStatus) sparkflow.Pool {
		return sparkflow.Pool{Clusters: max, MinClusters: &min, StepConcurrency: 4, IdleTimeoutSeconds: 600, Status: status}
	}
	kept := func(c sparkflow.Cluster) sparkflow.Cluster { c.Kept = true; return c }
	idle := func(id string) sparkflow.Cluster { // ended by its idle timeout
		c := cl(id, sparkflow.ClusterTerminated, 4)
		r := t0
		c.ReadyAt, c.Reason = &r, sparkflow.StateReason{Code: "ALL_STEPS_COMPLETED"}
		return c
	}
	lost := func(c sparkflow.Cluster) sparkflow.Cluster {
		c.State, c.Reason = sparkflow.ClusterTerminatedWithErrors, sparkflow.StateReason{Code: "INSTANCE_FAILURE"}
		r := t0
		c.ReadyAt = &r
		return c
	}
	draining := func(c sparkflow.Cluster) sparkflow.Cluster { // idle for all but 30 s of its 10 minutes
		c.IdleTimeoutSeconds, c.StateTime = 600, t0.Add(-570*time.Second)
		return c
	}
	w := sparkflow.ClusterWaiting
	tests := []struct {
		name             string
		pool             sparkflow.Pool
		clusters         []sparkflow.Cluster
		waiting          int
		launch, keptLaun int
		room             int
		status           sparkflow.PoolStatus
	}{
		{"new: the minimum, kept", elastic(2, 5, sparkflow.PoolCreating), nil, 0, 2, 2, 3, sparkflow.PoolCreating},
		{"minimum ready, no work: nothing", elastic(2, 5, sparkflow.PoolCreating), []sparkflow.Cluster{kept(cl("a", w, 4)), kept(cl("b", w, 4))}, 0, 0, 0, 3, sparkflow.PoolReady},
		{"9 waiting: 3 more (4 slots each)", elastic(2, 5, sparkflow.PoolReady), []sparkflow.Cluster{kept(cl("a", w, 4, "1", "2", "3", "4")), kept(cl("b", w, 4, "5", "6", "7", "8"))}, 9, 3, 0, 3, sparkflow.PoolReady},
		{"never past the maximum", elastic(2, 3, sparkflow.PoolReady), []sparkflow.Cluster{kept(cl("a", w, 4)), kept(cl("b", w, 4))}, 40, 1, 0, 1, sparkflow.PoolReady},
		{"those starting count", elastic(1, 5, sparkflow.PoolReady), []sparkflow.Cluster{kept(cl("a", w, 4, "1", "2", "3", "4")), cl("b", sparkflow.ClusterStarting, 4)}, 8, 1, 0, 3, sparkflow.PoolReady},
		{"free slots count: a cluster just ready takes those waiting", elastic(0, 3, sparkflow.PoolCreating), []sparkflow.Cluster{cl("a", w, 4)}, 3, 0, 0, 2, sparkflow.PoolReady},
		{"free slots count: beyond them, one more", elastic(0, 3, sparkflow.PoolReady), []sparkflow.Cluster{cl("a", w, 4, "1")}, 4, 1, 0, 2, sparkflow.PoolReady},
		{"a draining cluster's slots are not free", elastic(0, 3, sparkflow.PoolReady), []sparkflow.Cluster{draining(cl("a", w, 4))}, 1, 1, 0, 2, sparkflow.PoolReady},
		{"a burst cluster idle-ended is not replaced", elastic(1, 3, sparkflow.PoolReady), []sparkflow.Cluster{kept(cl("a", w, 4)), idle("b")}, 0, 0, 0, 2, sparkflow.PoolReady},
		{"a kept cluster lost is replaced without work", elastic(1, 3, sparkflow.PoolReady), []sparkflow.Cluster{lost(kept(cl("a", w, 4))), cl("b", w, 4)}, 0, 1, 1, 1, sparkflow.PoolReady},
		{"the kept one lost, room only for it", elastic(2, 2, sparkflow.PoolReady), []sparkflow.Cluster{lost(kept(cl("a", w, 4))), kept(cl("b", w, 4))}, 0, 1, 1, 0, sparkflow.PoolDegraded},
		{"min 0, nothing: idle", elastic(0, 3, sparkflow.PoolCreating), nil, 0, 0, 0, 3, sparkflow.PoolIdle},
		{"min 0, a run waits: one", elastic(0, 3, sparkflow.PoolIdle), []sparkflow.Cluster{idle("a")}, 1, 1, 0, 3, sparkflow.PoolIdle},
		{"min 0, one starting for it", elastic(0, 3, sparkflow.PoolIdle), []sparkflow.Cluster{cl("b", sparkflow.ClusterStarting, 4)}, 1, 0, 0, 2, sparkflow.PoolCreating},
		{"min 0, all idle-ended: idle", elastic(0, 3, sparkflow.PoolReady), []sparkflow.Cluster{idle("a"), idle("b")}, 0, 0, 0, 3, sparkflow.PoolIdle},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := PlanPool(tc.pool, tc.clusters, tc.waiting, t0)
			if p.Launch != tc.launch || p.LaunchKept != tc.keptLaun || p.Room != tc.room || p.Status != tc.status {
				t.Fatalf("got launch %d (kept %d), room %d, status %s; want launch %d (kept %d), room %d, status %s", p.Launch, p.LaunchKept, p.Room, p.Status, tc.launch, tc.keptLaun, tc.room, tc.status)
			}
		})
	}
	// Failed starts hold an elastic pool's launches too.
	p := elastic(1, 3, sparkflow.PoolCreating)
	var failed []sparkflow.Cluster
	for i := 0; i < MaxStartFailures; i++ {
		c := cl(fmt.Sprintf("f%d", i), sparkflow.ClusterTerminatedWithErrors, 4)
		c.Kept, c.CreatedAt = true, t0.Add(time.Duration(i)*time.Minute)
		c.Reason = sparkflow.StateReason{Code: "VALIDATION_ERROR"}
		failed = append(failed, c)
	}
	if plan := PlanPool(p, failed, 5, t0.Add(time.Hour)); plan.Launch != 0 || plan.LaunchKept != 0 || !plan.Held || plan.Status != sparkflow.PoolDegraded {
		t.Fatalf("after %d failed starts: %+v", MaxStartFailures, plan)
	}
}

// TestMeasuredStart: the median launch-to-ready time of the newest clusters that became ready.
func TestMeasuredStart(t *testing.T) {
	c := func(launched, took time.Duration) sparkflow.Cluster {
		created := t0.Add(launched)
		ready := created.Add(took)
		return sparkflow.Cluster{CreatedAt: created, ReadyAt: &ready}
	}
	if d, n := MeasuredStart(nil); d != 0 || n != 0 {
		t.Fatalf("no cluster: %v %d", d, n)
	}
	never := sparkflow.Cluster{CreatedAt: t0.Add(time.Hour)} // failed to start: not a sample
	if d, n := MeasuredStart([]sparkflow.Cluster{c(0, 6*time.Minute), never, c(time.Minute, 8*time.Minute), c(2*time.Minute, 7*time.Minute)}); d != 7*time.Minute || n != 3 {
		t.Fatalf("three: %v of %d, want the median 7m of 3", d, n)
	}
	var many []sparkflow.Cluster
	for i := 0; i < StartSamples; i++ {
		many = append(many, c(time.Duration(100+i)*time.Minute, 5*time.Minute)) // the newest: 5 minutes each
	}
	many = append(many, c(0, time.Hour), c(time.Minute, time.Hour)) // older, slow: not among the newest
	if d, n := MeasuredStart(many); d != 5*time.Minute || n != StartSamples {
		t.Fatalf("newest %d: %v of %d", StartSamples, d, n)
	}
}
