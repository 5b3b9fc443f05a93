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

// A step's log files: a stream it writes to is in its file, whole, when the step is reported ended;
// a stream it never writes to has no file (making files is most of a short step's cost); and a
// background process the step leaves holding its output neither keeps the step from ending nor
// loses what it writes later; a log that cannot be written fails the step.
func TestStepLogFiles(t *testing.T) {
	ctx := context.Background()
	c, err := localcluster.Open(localcluster.Config{Dir: t.TempDir(), ProvisionDelay: time.Millisecond, KillGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	id, _ := c.Launch(ctx, sparkflow.LaunchSpec{Name: "n", Pool: sparkflow.Pool{StepConcurrency: 2}})
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if info, _ := c.Describe(ctx, id); info.State.Ready() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("cluster not ready")
		}
	}
	ended := func(step string) sparkflow.StepInfo {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			steps, _ := c.ListSteps(ctx, id)
			for _, s := range steps {
				if s.ID == step && s.State.Terminal() {
					return s
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("step %s did not end: %+v", step, steps)
			}
		}
	}
	// 200 KiB: more than a pipe holds, so the copy runs while the step writes.
	big, _ := c.AddStep(ctx, id, sparkflow.StepSpec{Name: "big", Args: sh(`i=0; while [ $i -lt 2048 ]; do printf '%0100d\n' $i; i=$((i+1)); done`)})
	if s := ended(big); s.State != sparkflow.StepCompleted {
		t.Fatalf("the writing step ended %s (%s)", s.State, s.Reason.Message)
	}
	out, err := os.ReadFile(filepath.Join(c.LogDir(id, big), "stdout"))
	if err != nil || len(out) != 2048*101 || !strings.HasSuffix(string(out), "2047\n") {
		t.Fatalf("its stdout: %d bytes, %v; want 2048 lines of 101 bytes", len(out), err)
	}
	if _, err := os.Stat(filepath.Join(c.LogDir(id, big), "stderr")); !os.IsNotExist(err) {
		t.Fatalf("a stream never written to has a file (%v)", err)
	}
	// The background job holds stdout for 6 s, past the step's end and the log grace.
	bg, _ := c.AddStep(ctx, id, sparkflow.StepSpec{Name: "bg", Args: sh(`(sleep 6; echo late) & echo early`)})
	start := time.Now()
	s := ended(bg)
	if s.State != sparkflow.StepCompleted || time.Since(start) > 5500*time.Millisecond {
		t.Fatalf("the step with a background job ended %s after %v; want COMPLETED before its job's 6 s", s.State, time.Since(start))
	}
	if out, _ := os.ReadFile(filepath.Join(c.LogDir(id, bg), "stdout")); string(out) != "early\n" {
		t.Fatalf("its stdout at its end: %q", out)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if out, _ := os.ReadFile(filepath.Join(c.LogDir(id, bg), "stdout")); string(out) == "early\nlate\n" {
			break
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(filepath.Join(c.LogDir(id, bg), "stdout"))
			t.Fatalf("what its background job wrote later is lost: %q", out)
		}
	}
	// A log that cannot be written fails the step, saying so: its output is not lost silently.
	steps := filepath.Dir(c.LogDir(id, "s-any"))
	if err := os.RemoveAll(steps); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(steps, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	lost, _ := c.AddStep(ctx, id, sparkflow.StepSpec{Name: "lost", Args: sh(`echo out`)})
	if s := ended(lost); s.State != sparkflow.StepFailed || !strings.Contains(s.Reason.Message, "output was lost") || !strings.Contains(s.Reason.Message, "log directory") {
		t.Fatalf("a step whose log cannot be made ended %s (%q); want FAILED saying its output was lost", s.State, s.Reason.Message)
	}
}
