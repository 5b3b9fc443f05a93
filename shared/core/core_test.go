package core

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/emrevent"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func cl(id string, state sparkflow.ClusterState, capacity int, held ...string) sparkflow.Cluster {
	return sparkflow.Cluster{ID: id, State: state, Capacity: capacity, Reservations: held}
}

func TestChooseCluster(t *testing.T) {
	tests := []struct {
		name     string
		clusters []sparkflow.Cluster
		want     string // "" = none
	}{
		{"none", nil, ""},
		{"not ready", []sparkflow.Cluster{cl("a", sparkflow.ClusterStarting, 2), cl("b", sparkflow.ClusterTerminated, 2)}, ""},
		{"all full", []sparkflow.Cluster{cl("a", sparkflow.ClusterRunning, 1, "x"), cl("b", sparkflow.ClusterWaiting, 2, "y", "z")}, ""},
		{"least loaded", []sparkflow.Cluster{cl("a", sparkflow.ClusterRunning, 4, "1", "2"), cl("b", sparkflow.ClusterRunning, 4, "3"), cl("c", sparkflow.ClusterRunning, 4, "4", "5", "6")}, "b"},
		{"load is relative to capacity", []sparkflow.Cluster{cl("a", sparkflow.ClusterRunning, 2, "1"), cl("b", sparkflow.ClusterRunning, 8, "2", "3")}, "b"},
		{"skips full and starting", []sparkflow.Cluster{cl("a", sparkflow.ClusterRunning, 1, "1"), cl("b", sparkflow.ClusterStarting, 4), cl("c", sparkflow.ClusterWaiting, 4, "2", "3", "4")}, "c"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ChooseCluster(tc.clusters, "run-1", time.Time{})
			if (tc.want == "") == ok || (ok && got.ID != tc.want) {
				t.Fatalf("ChooseCluster = %q, %v; want %q", got.ID, ok, tc.want)
			}
		})
	}
}

func TestChooseClusterSpreadsTies(t *testing.T) {
	clusters := []sparkflow.Cluster{cl("a", sparkflow.ClusterWaiting, 4), cl("b", sparkflow.ClusterWaiting, 4), cl("c", sparkflow.ClusterWaiting, 4)}
	hits := map[string]int{}
	for i := 0; i < 300; i++ {
		c, _ := ChooseCluster(clusters, fmt.Sprintf("run-%d", i), time.Time{})
		hits[c.ID]++
	}
	for _, id := range []string{"a", "b", "c"} {
		if hits[id] < 60 {
			t.Fatalf("ties are not spread: %v", hits)
		}
	}
}

// Property: filling clusters one run at a time never exceeds any capacity and uses every slot.
func TestChooseClusterNeverOverCapacity(t *testing.T) {
	for seed := 0; seed < 20; seed++ {
		clusters := []sparkflow.Cluster{cl("a", sparkflow.ClusterRunning, 1+seed%3), cl("b", sparkflow.ClusterRunning, 2+seed%5), cl("c", sparkflow.ClusterStarting, 4)}
		total := clusters[0].Capacity + clusters[1].Capacity
		placed := 0
		for i := 0; i < 50; i++ {
			c, ok := ChooseCluster(clusters, fmt.Sprintf("%d-%d", seed, i), time.Time{})
			if !ok {
				break
			}
			for j := range clusters {
				if clusters[j].ID == c.ID {
					clusters[j].Reservations = append(clusters[j].Reservations, fmt.Sprint(i))
					if len(clusters[j].Reservations) > clusters[j].Capacity {
						t.Fatalf("cluster %s over capacity", c.ID)
					}
				}
			}
			placed++
		}
		if placed != total {
			t.Fatalf("placed %d runs, want %d (every free ready slot)", placed, total)
		}
	}
}

func TestStepName(t *testing.T) {
	for _, prefix := range []string{DefaultNamePrefix, "sparkflow/prod"} {
		name := StepName(prefix, "6f1c2b8e-3d4a-4b5c-9d8e-7f6a5b4c3d2e", 3, "daily:sales")
		id, attempt, ok := ParseStepName(prefix, name)
		if !ok || id != "6f1c2b8e-3d4a-4b5c-9d8e-7f6a5b4c3d2e" || attempt != 3 {
			t.Fatalf("ParseStepName(%q) = %q %d %v", name, id, attempt, ok)
		}
	}
	for _, bad := range []string{"CustomJAR", "sparkflow:x", "sparkflow::1:t", "sparkflow:id:zero:t", "sparkflow:id:0:t", "other:id:1:t", "sparkflow/prod:id:1:t"} {
		if _, _, ok := ParseStepName(DefaultNamePrefix, bad); ok {
			t.Errorf("ParseStepName(%q) accepted", bad)
		}
	}
	// Another stack's steps are not ours, whatever their run id.
	for _, other := range []string{"sparkflow/staging:id:1:t", "sparkflow/prod2:id:1:t", "sparkflow:id:1:t"} {
		if _, _, ok := ParseStepName("sparkflow/prod", other); ok {
			t.Errorf("stack prod took %q for its own", other)
		}
	}
}

func TestStep(t *testing.T) {
	run := sparkflow.Run{ID: "r1", Attempt: 2, Params: map[string]string{"day": "2026-11-22"}}
	tests := []struct {
		name    string
		tr      sparkflow.Transform
		want    string
		wantErr string
	}{
		{"spark jar", sparkflow.Transform{Name: "t", Kind: sparkflow.KindSpark, MainResource: "s3://b/j.jar", MainClass: "C",
			SparkOptions: []string{"--conf", "a=1", "--conf", "b=2"}, Args: []string{"--day", "${day}", "${run_id}/${attempt}"}, Params: map[string]string{"day": "x"}},
			"spark-submit --deploy-mode cluster --class C --conf a=1 --conf b=2 s3://b/j.jar --day 2026-11-22 r1/2", ""},
		{"pyspark", sparkflow.Transform{Name: "t", Kind: sparkflow.KindSpark, MainResource: "s3://b/j.py", Params: map[string]string{"day": "x"}},
			"spark-submit --deploy-mode cluster s3://b/j.py", ""},
		{"command", sparkflow.Transform{Name: "t", Kind: sparkflow.KindCommand, Command: []string{"echo", "${day}"}, Params: map[string]string{"day": "x"}},
			"echo 2026-11-22", ""},
		{"unknown override", sparkflow.Transform{Name: "t", Kind: sparkflow.KindCommand, Command: []string{"true"}}, "", `no parameter "day"`},
		{"too long", sparkflow.Transform{Name: "t", Kind: sparkflow.KindCommand, Command: []string{strings.Repeat("x", 10300)}, Params: map[string]string{"day": "x"}}, "", "EMR allows 10240"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Step(tc.tr, run)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !sparkflow.IsCode(err, sparkflow.Invalid) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(s.Args, " "); got != tc.want {
				t.Fatalf("args = %s\nwant   %s", got, tc.want)
			}
			if s.Jar != CommandRunner || s.ActionOnFailure != "CONTINUE" || s.Name != StepName(DefaultNamePrefix, "r1", 2, "t") {
				t.Fatalf("step = %+v", s)
			}
		})
	}
}

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func TestConclude(t *testing.T) {
	run := sparkflow.Run{Pool: "etl", ClusterID: "j-1", Attempt: 1, MaxAttempts: 2, TimeoutSeconds: 60, QueueTimeoutSeconds: 30}
	last := run
	last.Attempt = 2
	cancelled := run
	cancelled.CancelRequested = true
	tests := []struct {
		name   string
		run    sparkflow.Run
		out    Outcome
		status sparkflow.RunStatus
		retry  bool
		reason string
	}{
		{"success", run, Outcome{StepState: sparkflow.StepCompleted}, sparkflow.RunSucceeded, false, ""},
		{"failure retries", run, Outcome{StepState: sparkflow.StepFailed, Reason: "exit 1"}, "", true, "attempt 1 of 2: step FAILED: exit 1; retrying"},
		{"failure on last attempt fails", last, Outcome{StepState: sparkflow.StepFailed}, sparkflow.RunFailed, false, "attempt 2 of 2: step FAILED"},
		{"lost cluster retries", run, Outcome{Cause: CauseClusterLost, StepState: sparkflow.StepInterrupted}, "", true, "cluster j-1 was lost"},
		{"cancel wins over failure", cancelled, Outcome{StepState: sparkflow.StepCancelled}, sparkflow.RunCancelled, false, "cancelled"},
		{"timeout does not retry", run, Outcome{Cause: CauseTimeout}, sparkflow.RunTimedOut, false, "timeout of 1m0s"},
		{"queue timeout", run, Outcome{Cause: CauseQueueTimeout}, sparkflow.RunTimedOut, false, "no free slot in pool etl within the queue timeout of 30s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := Conclude(tc.run, tc.out)
			if v.Status != tc.status || v.Retry != tc.retry || !strings.Contains(v.Reason, tc.reason) {
				t.Fatalf("got %+v, want %s retry=%v reason ~ %q", v, tc.status, tc.retry, tc.reason)
			}
		})
	}
}

func TestPlanPool(t *testing.T) {
	pool := sparkflow.Pool{Clusters: 3, Status: sparkflow.PoolCreating}
	readyPool := pool
	readyPool.Status = sparkflow.PoolReady
	deleting := pool
	deleting.Status = sparkflow.PoolDeleting
	was := func(c sparkflow.Cluster) sparkflow.Cluster { // a cluster that was ready before it ended
		r := t0
		c.ReadyAt = &r
		return c
	}
	tests := []struct {
		name     string
		pool     sparkflow.Pool
		clusters []sparkflow.Cluster
		launch   int
		status   sparkflow.PoolStatus
	}{
		{"new", pool, nil, 3, sparkflow.PoolCreating},
		{"starting", pool, []sparkflow.Cluster{cl("a", sparkflow.ClusterStarting, 1), cl("b", sparkflow.ClusterStarting, 1), cl("c", sparkflow.ClusterWaiting, 1)}, 0, sparkflow.PoolCreating},
		{"ready", pool, []sparkflow.Cluster{cl("a", sparkflow.ClusterRunning, 1), cl("b", sparkflow.ClusterWaiting, 1), cl("c", sparkflow.ClusterWaiting, 1)}, 0, sparkflow.PoolReady},
		{"one lost", readyPool, []sparkflow.Cluster{was(cl("a", sparkflow.ClusterTerminatedWithErrors, 1)), cl("b", sparkflow.ClusterWaiting, 1), cl("c", sparkflow.ClusterWaiting, 1)}, 1, sparkflow.PoolDegraded},
		{"replacement starting", readyPool, []sparkflow.Cluster{was(cl("a", sparkflow.ClusterTerminated, 1)), cl("b", sparkflow.ClusterWaiting, 1), cl("c", sparkflow.ClusterWaiting, 1), cl("d", sparkflow.ClusterStarting, 1)}, 0, sparkflow.PoolDegraded},
		{"healed", readyPool, []sparkflow.Cluster{was(cl("a", sparkflow.ClusterTerminated, 1)), cl("b", sparkflow.ClusterWaiting, 1), cl("c", sparkflow.ClusterWaiting, 1), cl("d", sparkflow.ClusterWaiting, 1)}, 0, sparkflow.PoolReady},
		{"deleting launches nothing", deleting, []sparkflow.Cluster{cl("a", sparkflow.ClusterTerminated, 1)}, 0, sparkflow.PoolDeleting},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := PlanPool(tc.pool, tc.clusters, 0, t0)
			if p.Launch != tc.launch || p.Status != tc.status {
				t.Fatalf("got %+v, want launch %d status %s", p, tc.launch, tc.status)
			}
		})
	}
}

// A cluster that fails to start is relaunched with backoff; after MaxStartFailures in a row the pool
// launches nothing, with EMR's reason, until the user resumes launches; a cluster that starts ends
// the streak.
func TestPlanPoolBacksOffAndHoldsAfterFailedStarts(t *testing.T) {
	p := sparkflow.Pool{Name: "p", Clusters: 1, Status: sparkflow.PoolCreating}
	failed := func(id string, launched time.Duration, code string) sparkflow.Cluster {
		c := cl(id, sparkflow.ClusterTerminatedWithErrors, 1)
		c.CreatedAt = t0.Add(launched)
		end := c.CreatedAt.Add(5 * time.Minute)
		c.EndedAt, c.StateTime = &end, end
		c.Reason = sparkflow.StateReason{Code: code, Message: "The subnet does not have the tag"}
		return c
	}
	one := []sparkflow.Cluster{failed("a", 0, "VALIDATION_ERROR")}
	ended := *one[0].EndedAt
	if plan := PlanPool(p, one, 0, ended.Add(time.Minute)); plan.Launch != 0 || plan.RetryAt == nil || !plan.RetryAt.Equal(ended.Add(StartBackoff(1))) ||
		plan.StartFailures != 1 || plan.LastStartFailure.Reason.Code != "VALIDATION_ERROR" || plan.Held {
		t.Fatalf("right after one failed start: %+v", plan)
	}
	if plan := PlanPool(p, one, 0, ended.Add(StartBackoff(1))); plan.Launch != 1 || plan.RetryAt != nil {
		t.Fatalf("after the backoff: %+v", plan)
	}
	if StartBackoff(2) <= StartBackoff(1) {
		t.Fatal("the backoff does not grow")
	}
	three := append(one, failed("b", 10*time.Minute, "BOOTSTRAP_FAILURE"), failed("c", 30*time.Minute, "INSTANCE_FLEET_TIMEOUT"))
	later := t0.Add(24 * time.Hour)
	plan := PlanPool(p, three, 5, later)
	if !plan.Held || plan.Launch != 0 || plan.Status != sparkflow.PoolDegraded || plan.StartFailures != 3 || plan.LastStartFailure.ClusterID != "c" ||
		plan.LastStartFailure.Reason.Code != "INSTANCE_FLEET_TIMEOUT" {
		t.Fatalf("after %d failed starts: %+v", MaxStartFailures, plan)
	}
	// The user resumes launches: the old failures no longer count.
	resumed := p
	at := t0.Add(time.Hour)
	resumed.LaunchesResumedAt = &at
	if plan := PlanPool(resumed, three, 0, later); plan.Held || plan.Launch != 1 || plan.StartFailures != 0 {
		t.Fatalf("after the user resumed launches: %+v", plan)
	}
	// A cluster that started in between ends the streak; one ended by request is no failed start.
	ok := cl("ok", sparkflow.ClusterTerminated, 1)
	ok.CreatedAt, ok.ReadyAt = t0.Add(20*time.Minute), &later
	user := failed("u", 40*time.Minute, "USER_REQUEST")
	if plan := PlanPool(p, append(append([]sparkflow.Cluster{}, three[:2]...), ok, three[2], user), 0, later); plan.StartFailures != 1 || plan.Held {
		t.Fatalf("a started cluster should end the streak: %+v", plan)
	}
}

// A cluster EMR ended for idleness is not replaced until runs wait for it; then as many launch as
// the waiting runs need; a pool whose clusters all ended so is IDLE, not DEGRADED.
func TestPlanPoolReplacesIdleClustersOnDemand(t *testing.T) {
	p := sparkflow.Pool{Name: "p", Clusters: 3, StepConcurrency: 2, IdleTimeoutSeconds: 600, Status: sparkflow.PoolReady}
	idle := func(id string) sparkflow.Cluster {
		c := cl(id, sparkflow.ClusterTerminated, 2)
		r, e := t0, t0.Add(time.Hour)
		c.ReadyAt, c.EndedAt = &r, &e
		c.Reason = sparkflow.StateReason{Code: "ALL_STEPS_COMPLETED", Message: "Cluster was idle"}
		return c
	}
	all := []sparkflow.Cluster{idle("a"), idle("b"), idle("c")}
	if plan := PlanPool(p, all, 0, t0.Add(2*time.Hour)); plan.Launch != 0 || plan.Status != sparkflow.PoolIdle || plan.IdleEnded != 3 {
		t.Fatalf("all idle, no work: %+v", plan)
	}
	if plan := PlanPool(p, all, 1, t0.Add(2*time.Hour)); plan.Launch != 1 {
		t.Fatalf("one waiting run: %+v", plan)
	}
	if plan := PlanPool(p, all, 3, t0.Add(2*time.Hour)); plan.Launch != 2 {
		t.Fatalf("three waiting runs, two slots a cluster: %+v", plan)
	}
	if plan := PlanPool(p, all, 50, t0.Add(2*time.Hour)); plan.Launch != 3 {
		t.Fatalf("many waiting runs: at most the pool's size: %+v", plan)
	}
	starting := cl("d", sparkflow.ClusterStarting, 2)
	if plan := PlanPool(p, append(all, starting), 3, t0.Add(2*time.Hour)); plan.Launch != 1 {
		t.Fatalf("a cluster already starting counts: %+v", plan)
	}
	// While EMR is still terminating it, the reason already says which ending it is.
	going := idle("a")
	going.State, going.EndedAt = sparkflow.ClusterTerminating, nil
	if plan := PlanPool(p, []sparkflow.Cluster{going, idle("b"), idle("c")}, 0, t0.Add(2*time.Hour)); plan.Launch != 0 || plan.IdleEnded != 3 {
		t.Fatalf("terminating for idleness: %+v", plan)
	}
	going.Reason = sparkflow.StateReason{Code: "INSTANCE_FAILURE"}
	if plan := PlanPool(p, []sparkflow.Cluster{going, idle("b"), idle("c")}, 0, t0.Add(2*time.Hour)); plan.Launch != 1 || plan.IdleEnded != 2 {
		t.Fatalf("terminating after a failure: %+v", plan)
	}
	// Without an idle timeout the same ending is a loss, replaced at once.
	noIdle := p
	noIdle.IdleTimeoutSeconds = 0
	if plan := PlanPool(noIdle, all, 0, t0.Add(2*time.Hour)); plan.Launch != 3 || plan.Status != sparkflow.PoolDegraded {
		t.Fatalf("no idle timeout: %+v", plan)
	}
	// A lost cluster beside idle ones is replaced without waiting for work.
	lost := cl("x", sparkflow.ClusterTerminatedWithErrors, 2)
	r, e := t0, t0.Add(90*time.Minute)
	lost.ReadyAt, lost.EndedAt = &r, &e
	ready := cl("y", sparkflow.ClusterWaiting, 2)
	if plan := PlanPool(p, []sparkflow.Cluster{idle("a"), lost, ready}, 0, t0.Add(2*time.Hour)); plan.Launch != 1 || plan.IdleEnded != 1 {
		t.Fatalf("lost beside idle: %+v", plan)
	}
}

func TestStepStartStaysWithinWhatIsKnown(t *testing.T) {
	reserved := t0.Add(200 * time.Millisecond)
	now := t0.Add(1500 * time.Millisecond)
	for _, c := range []struct {
		name  string
		event time.Time
		res   *time.Time
		want  time.Time
	}{
		{"an event time truncated to before the reservation", t0, &reserved, reserved},
		{"an event time after the reservation", t0.Add(time.Second), &reserved, t0.Add(time.Second)},
		{"an event time after it was handled", t0.Add(5 * time.Second), &reserved, now},
		{"no event time", time.Time{}, &reserved, now},
		{"no reservation recorded", t0, nil, t0},
	} {
		if got := StepStart(c.event, c.res, now); !got.Equal(c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	// Through ApplyStep: a RUNNING event whose time is truncated never starts the run before its slot.
	r := sparkflow.Run{ID: "r", Attempt: 1, Status: sparkflow.RunSubmitted, StepID: "s", StepState: sparkflow.StepPending, ReservedAt: &reserved}
	got, _ := ApplyStep(r, emrevent.StepChange{StepID: "s", State: sparkflow.StepRunning, Time: t0}, 1, now)
	if got.StartedAt == nil || !got.StartedAt.Equal(reserved) {
		t.Fatalf("started %v, want the reservation time %v", got.StartedAt, reserved)
	}
}

func TestExecutionChecksRotateThroughTheLongestUnchanged(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var active []sparkflow.Run
	for i := 0; i < 5; i++ {
		active = append(active, sparkflow.Run{ID: fmt.Sprintf("r%d", i), Status: sparkflow.RunRunning, UpdatedAt: t0.Add(time.Duration(5-i) * time.Minute)})
	}
	active = append(active, sparkflow.Run{ID: "done", Status: sparkflow.RunSucceeded})
	ids := func(rs []sparkflow.Run) string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		name string
		now  time.Time
		n    int
		want string
	}{
		{"all when they fit, longest unchanged first", t0, 10, "r4,r3,r2,r1,r0"},
		{"a window of n", t0, 2, "r4,r3"},
		{"the window moves each minute", t0.Add(time.Minute), 2, "r2,r1"},
		{"and wraps", t0.Add(2 * time.Minute), 2, "r0,r4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(ExecutionChecks(active, tc.now, tc.n)); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
	// Over enough minutes every run is looked at.
	seen := map[string]bool{}
	for m := 0; m < 5; m++ {
		for _, r := range ExecutionChecks(active, t0.Add(time.Duration(m)*time.Minute), 2) {
			seen[r.ID] = true
		}
	}
	if len(seen) != 5 {
		t.Fatalf("in 5 minutes only %v were looked at", seen)
	}
}
