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
