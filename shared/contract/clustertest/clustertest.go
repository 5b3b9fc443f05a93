// Package clustertest is the contract every sparkflow.Clusters implementation passes: the local
// clusters here, the EMR adapter (against an emulator) in the AWS home. What an implementation cannot
// do (moto's EMR never runs a step) it declares in its Harness, and those checks are reported as
// skipped with the reason, never silently passed.
package clustertest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/emrevent"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// Harness is one implementation under test.
type Harness struct {
	Clusters sparkflow.Clusters
	// Events, when set, receives every event the implementation emits.
	Events *Recorder
	// RunsSteps: steps really run (and complete or fail by themselves).
	RunsSteps bool
	// Shell builds the step arguments that run a shell script.
	Shell func(script string) []string
	// Limit is how long to wait for an asynchronous change.
	Limit time.Duration
	// Gaps names checks the implementation under test cannot pass for a reason outside the adapter
	// (an emulator's missing feature), with that reason; each is logged where it is left out.
	Gaps map[string]string
}

// Checks that a Harness may list in Gaps.
const (
	GapTerminateReason   = "TerminateReason"   // the USER_REQUEST reason code after Terminate
	GapAddStepUnknown    = "AddStepUnknown"    // NotFound for AddStep on an unknown cluster
	GapAddStepEnded      = "AddStepEnded"      // Conflict for AddStep on a terminated cluster
	GapCancelStepUnknown = "CancelStepUnknown" // NotFound for CancelStep of an unknown step
)

// check runs fn unless the harness declares the check a gap, which it logs.
func (h Harness) check(t *testing.T, name string, fn func()) {
	t.Helper()
	if reason := h.Gaps[name]; reason != "" {
		t.Logf("not checked here: %s (%s)", name, reason)
		return
	}
	fn()
}

// Recorder collects events; pass its Emit as the implementation's event route.
type Recorder struct {
	mu     sync.Mutex
	events []emrevent.Event
}

// Emit records one event.
func (r *Recorder) Emit(raw []byte) {
	ev, err := emrevent.Parse(raw, true)
	if err != nil {
		panic("clustertest: an emitted event does not parse strictly: " + err.Error())
	}
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

func (r *Recorder) stepStates(stepID string) []sparkflow.StepState {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []sparkflow.StepState
	for _, ev := range r.events {
		if ch, err := ev.Step(true); err == nil && ch.StepID == stepID {
			out = append(out, ch.State)
		}
	}
	return out
}

func (r *Recorder) clusterStates(id string) []sparkflow.ClusterState {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []sparkflow.ClusterState
	for _, ev := range r.events {
		if ch, err := ev.Cluster(true); err == nil && ch.ClusterID == id {
			out = append(out, ch.State)
		}
	}
	return out
}

// Run runs the contract suite; open returns a fresh implementation.
func Run(t *testing.T, open func(t *testing.T) Harness) {
	t.Run("LaunchDescribeTerminate", func(t *testing.T) { testLifecycle(t, open(t)) })
	t.Run("StepsAndDedupeByName", func(t *testing.T) { testSteps(t, open(t)) })
	t.Run("StepOutcomes", func(t *testing.T) { testOutcomes(t, open(t)) })
	t.Run("UnknownIDs", func(t *testing.T) { testUnknown(t, open(t)) })
}

func spec(pool string) sparkflow.LaunchSpec {
	return sparkflow.LaunchSpec{Name: "sparkflow:" + pool + ":test", Pool: sparkflow.Pool{Name: pool, Clusters: 1, StepConcurrency: 2, ReleaseLabel: "emr-7.5.0", Applications: []string{"Spark"}},
		Tier: sparkflow.Tier{Name: "tiny", StepConcurrency: 2, SpotTimeoutMinutes: 10,
			Primary: sparkflow.InstanceFleet{InstanceTypes: []string{"m7g.xlarge"}, OnDemandCapacity: 1},
			Core:    sparkflow.InstanceFleet{InstanceTypes: []string{"m7g.xlarge"}, OnDemandCapacity: 1}}}
}

func eventually(t *testing.T, h Harness, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(h.Limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", h.Limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func launchReady(t *testing.T, h Harness, pool string) string {
	t.Helper()
	ctx := context.Background()
	id, err := h.Clusters.Launch(ctx, spec(pool))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, h, "cluster "+id+" ready", func() bool {
		info, err := h.Clusters.Describe(ctx, id)
		return err == nil && info.State.Ready()
	})
	return id
}

func testLifecycle(t *testing.T, h Harness) {
	ctx := context.Background()
	id := launchReady(t, h, "life")
	info, err := h.Clusters.Describe(ctx, id)
	if err != nil || info.ID != id || info.Name != "sparkflow:life:test" {
		t.Fatalf("Describe = %+v, %v", info, err)
	}
	// The ready time tells a cluster that ran from a failed start when its WAITING event was lost.
	if info.ReadyAt == nil {
		t.Fatalf("Describe of a ready cluster has no ready time: %+v", info)
	}
	if err := h.Clusters.Terminate(ctx, id); err != nil {
		t.Fatal(err)
	}
	eventually(t, h, "cluster terminated", func() bool {
		info, err := h.Clusters.Describe(ctx, id)
		return err == nil && info.State.Terminal()
	})
	info, _ = h.Clusters.Describe(ctx, id)
	if info.State != sparkflow.ClusterTerminated {
		t.Fatalf("after Terminate: %s %+v", info.State, info.Reason)
	}
	if info.ReadyAt == nil {
		t.Fatalf("Describe of an ended cluster that ran has lost its ready time: %+v", info)
	}
	h.check(t, GapTerminateReason, func() {
		if info.Reason.Code != "USER_REQUEST" {
			t.Fatalf("after Terminate: reason %+v, want USER_REQUEST", info.Reason)
		}
	})
	if err := h.Clusters.Terminate(ctx, id); err != nil {
		t.Fatalf("terminating twice: %v", err)
	}
	h.check(t, GapAddStepEnded, func() {
		if _, err := h.Clusters.AddStep(ctx, id, sparkflow.StepSpec{Name: "late", Jar: "command-runner.jar", Args: h.Shell("true"), ActionOnFailure: "CONTINUE"}); !sparkflow.IsCode(err, sparkflow.Conflict) {
			t.Fatalf("AddStep on a terminated cluster: want a conflict, got %v", err)
		}
	})
	if h.Events != nil {
		states := h.Events.clusterStates(id)
		if len(states) < 3 || states[0] != sparkflow.ClusterStarting || states[len(states)-1] != sparkflow.ClusterTerminated {
			t.Fatalf("cluster events %v: want STARTING … TERMINATED", states)
		}
	}
}

func testSteps(t *testing.T, h Harness) {
	ctx := context.Background()
	id := launchReady(t, h, "steps")
	a, err := h.Clusters.AddStep(ctx, id, sparkflow.StepSpec{Name: "sparkflow:r1:1:t", Jar: "command-runner.jar", Args: h.Shell("sleep 0.2"), ActionOnFailure: "CONTINUE"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.Clusters.AddStep(ctx, id, sparkflow.StepSpec{Name: "sparkflow:r2:1:t", Jar: "command-runner.jar", Args: h.Shell("sleep 0.2"), ActionOnFailure: "CONTINUE"})
	if err != nil {
		t.Fatal(err)
	}
	steps, err := h.Clusters.ListSteps(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 || steps[0].ID != b || steps[1].ID != a || steps[1].Name != "sparkflow:r1:1:t" {
		t.Fatalf("ListSteps (newest first) = %+v", steps)
	}
	// A caller that retries a submit finds its step by name instead of adding a second one.
	found := 0
	for _, s := range steps {
		if s.Name == "sparkflow:r1:1:t" {
			found++
		}
	}
	if found != 1 {
		t.Fatalf("%d steps named sparkflow:r1:1:t", found)
	}
	if err := h.Clusters.Terminate(ctx, id); err != nil {
		t.Fatal(err)
	}
}

func testOutcomes(t *testing.T, h Harness) {
	if !h.RunsSteps {
		t.Skip("this implementation does not run steps (declared in its harness)")
	}
	ctx := context.Background()
	id := launchReady(t, h, "outcomes")
	add := func(name, script string) string {
		s, err := h.Clusters.AddStep(ctx, id, sparkflow.StepSpec{Name: name, Jar: "command-runner.jar", Args: h.Shell(script), ActionOnFailure: "CONTINUE"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	state := func(stepID string) sparkflow.StepState {
		steps, _ := h.Clusters.ListSteps(ctx, id)
		for _, s := range steps {
			if s.ID == stepID {
				return s.State
			}
		}
		return ""
	}
	ok, bad, long := add("ok", "echo fine"), add("bad", "exit 4"), ""
	eventually(t, h, "steps to end", func() bool { return state(ok).Terminal() && state(bad).Terminal() })
	if state(ok) != sparkflow.StepCompleted || state(bad) != sparkflow.StepFailed {
		t.Fatalf("ok=%s bad=%s", state(ok), state(bad))
	}
	long = add("long", "sleep 30")
	eventually(t, h, "long step to run", func() bool { return state(long) == sparkflow.StepRunning })
	if err := h.Clusters.CancelStep(ctx, id, long); err != nil {
		t.Fatal(err)
	}
	eventually(t, h, "long step cancelled", func() bool { return state(long) == sparkflow.StepCancelled })
	if err := h.Clusters.CancelStep(ctx, id, ok); err != nil {
		t.Fatalf("cancelling an ended step should be a no-op: %v", err)
	}
	if h.Events != nil {
		eventually(t, h, "step events", func() bool {
			s := h.Events.stepStates(ok)
			return len(s) > 0 && s[len(s)-1] == sparkflow.StepCompleted
		})
		if s := h.Events.stepStates(ok); s[0] != sparkflow.StepPending {
			t.Fatalf("events of a completed step: %v", s)
		}
		if s := h.Events.stepStates(bad); s[len(s)-1] != sparkflow.StepFailed {
			t.Fatalf("events of a failed step: %v", s)
		}
	}
	h.Clusters.Terminate(ctx, id)
}

func testUnknown(t *testing.T, h Harness) {
	ctx := context.Background()
	if _, err := h.Clusters.Describe(ctx, "j-NOSUCHCLUSTER"); !sparkflow.IsCode(err, sparkflow.NotFound) {
		t.Fatalf("Describe(unknown) = %v, want NotFound", err)
	}
	h.check(t, GapAddStepUnknown, func() {
		if _, err := h.Clusters.AddStep(ctx, "j-NOSUCHCLUSTER", sparkflow.StepSpec{Name: "x", Args: h.Shell("true")}); !sparkflow.IsCode(err, sparkflow.NotFound) {
			t.Fatalf("AddStep(unknown) = %v, want NotFound", err)
		}
	})
	id := launchReady(t, h, "unknown")
	h.check(t, GapCancelStepUnknown, func() {
		if err := h.Clusters.CancelStep(ctx, id, "s-NOSUCHSTEP"); !sparkflow.IsCode(err, sparkflow.NotFound) {
			t.Fatalf("CancelStep(unknown) = %v, want NotFound", err)
		}
	})
	h.Clusters.Terminate(ctx, id)
}
