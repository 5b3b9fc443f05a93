package localcluster_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/contract/clustertest"
	"github.com/sparkflow/sparkflow/shared/local/localcluster"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

func TestContract(t *testing.T) {
	clustertest.Run(t, func(t *testing.T) clustertest.Harness {
		rec := &clustertest.Recorder{}
		c, err := localcluster.Open(localcluster.Config{Dir: t.TempDir(), ProvisionDelay: 50 * time.Millisecond, KillGrace: time.Second, Emit: rec.Emit})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return clustertest.Harness{Clusters: c, Events: rec, RunsSteps: true, Shell: sh, Limit: 10 * time.Second}
	})
}

func TestRestartReportsRunningStepsInterrupted(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	c, err := localcluster.Open(localcluster.Config{Dir: dir, ProvisionDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := c.Launch(ctx, sparkflow.LaunchSpec{Name: "n", Pool: sparkflow.Pool{StepConcurrency: 1}})
	waitState := func(c *localcluster.Clusters, ok func(sparkflow.ClusterState) bool) {
		deadline := time.Now().Add(5 * time.Second)
		for {
			info, _ := c.Describe(ctx, id)
			if ok(info.State) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster state %s", info.State)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitState(c, sparkflow.ClusterState.Ready)
	running, _ := c.AddStep(ctx, id, sparkflow.StepSpec{Name: "running", Args: sh("echo started; sleep 30")})
	pending, _ := c.AddStep(ctx, id, sparkflow.StepSpec{Name: "pending", Args: sh("echo second")})
	time.Sleep(200 * time.Millisecond)
	c.Close()

	var events []string
	c, err = localcluster.Open(localcluster.Config{Dir: dir, ProvisionDelay: 10 * time.Millisecond, Emit: func(b []byte) { events = append(events, string(b)) }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		steps, _ := c.ListSteps(ctx, id)
		states := map[string]sparkflow.StepState{}
		for _, s := range steps {
			states[s.ID] = s.State
		}
		if states[running] == sparkflow.StepInterrupted && states[pending] == sparkflow.StepCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart: %v", states)
		}
		time.Sleep(10 * time.Millisecond)
	}
	out, _ := os.ReadFile(filepath.Join(c.LogDir(id, pending), "stdout"))
	if strings.TrimSpace(string(out)) != "second" {
		t.Fatalf("pending step output %q", out)
	}
	if len(events) == 0 || !strings.Contains(strings.Join(events, ""), `"INTERRUPTED"`) {
		t.Fatalf("no INTERRUPTED event emitted: %v", events)
	}
}

func TestStepThatCannotStartFails(t *testing.T) {
	ctx := context.Background()
	c, _ := localcluster.Open(localcluster.Config{Dir: t.TempDir(), ProvisionDelay: time.Millisecond})
	defer c.Close()
	id, _ := c.Launch(ctx, sparkflow.LaunchSpec{Name: "n", Pool: sparkflow.Pool{StepConcurrency: 1}})
	time.Sleep(50 * time.Millisecond)
	s, err := c.AddStep(ctx, id, sparkflow.StepSpec{Name: "x", Args: []string{"/no/such/program"}})
	if err != nil {
		t.Fatal(err)
	}
	steps, _ := c.ListSteps(ctx, id)
	if steps[0].ID != s || steps[0].State != sparkflow.StepFailed || !strings.Contains(steps[0].Reason.Message, "cannot start") {
		t.Fatalf("step = %+v", steps[0])
	}
}

// TestAnIdleClusterEndsAfterItsIdleTimeout: as EMR's auto-termination policy, a local cluster ends
// (TERMINATED, ALL_STEPS_COMPLETED) once it has waited its pool's idle timeout with nothing to do, not
// while a step runs, and its timeout starts again after each step; a kept cluster (an elastic pool's
// minimum) never ends for idleness.
func TestAnIdleClusterEndsAfterItsIdleTimeout(t *testing.T) {
	ctx := context.Background()
	c, err := localcluster.Open(localcluster.Config{Dir: t.TempDir(), ProvisionDelay: 10 * time.Millisecond, KillGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	pool := sparkflow.Pool{Name: "p", StepConcurrency: 1, IdleTimeoutSeconds: 1}
	burst, _ := c.Launch(ctx, sparkflow.LaunchSpec{Name: "burst", Pool: pool})
	kept, _ := c.Launch(ctx, sparkflow.LaunchSpec{Name: "kept", Pool: pool, Kept: true})
	state := func(id string) sparkflow.ClusterInfo {
		info, err := c.Describe(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	deadline := time.Now().Add(5 * time.Second)
	for !state(burst).State.Ready() || !state(kept).State.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("clusters not ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A step longer than the idle timeout: the cluster is busy, not idle.
	step, err := c.AddStep(ctx, burst, sparkflow.StepSpec{Name: "long", Args: sh("sleep 1.6")})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1300 * time.Millisecond)
	if s := state(burst).State; s.Ended() {
		t.Fatalf("the cluster ended (%s) while its step ran", s)
	}
	deadline = time.Now().Add(6 * time.Second)
	var stepEnded time.Time
	for {
		if stepEnded.IsZero() {
			if steps, _ := c.ListSteps(ctx, burst); len(steps) == 1 && steps[0].ID == step && steps[0].State.Terminal() {
				stepEnded = time.Now()
			}
		}
		if info := state(burst); info.State.Ended() {
			if info.State != sparkflow.ClusterTerminated || info.Reason.Code != "ALL_STEPS_COMPLETED" {
				t.Fatalf("an idle cluster ended %s (%+v), want TERMINATED, ALL_STEPS_COMPLETED", info.State, info.Reason)
			}
			if stepEnded.IsZero() || time.Since(stepEnded) < 800*time.Millisecond {
				t.Fatalf("ended %v after its step, want its idle timeout (1s) after", time.Since(stepEnded))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the idle cluster did not end: %s", state(burst).State)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := state(kept).State; !s.Ready() {
		t.Fatalf("a kept cluster is %s after %s idle", s, time.Since(deadline.Add(-6*time.Second)))
	}
}
