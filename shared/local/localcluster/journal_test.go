package localcluster

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func openAt(t testing.TB, dir string) *Clusters {
	t.Helper()
	c, err := Open(Config{Dir: dir, ProvisionDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readyCluster(t *testing.T, c *Clusters) string {
	t.Helper()
	ctx := context.Background()
	id, err := c.Launch(ctx, sparkflow.LaunchSpec{Name: "n", Pool: sparkflow.Pool{StepConcurrency: 4}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, _ := c.Describe(ctx, id)
		if info.State.Ready() {
			return id
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster %s is %s", id, info.State)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A cluster's steps stay bounded however many ran: at most twice maxStepsKept in memory, exactly
// maxStepsKept ended ones after a reopen, and the journal is compacted as it grows.
func TestStepHistoryIsBoundedAndTheJournalCompacted(t *testing.T) {
	dir := t.TempDir()
	c := openAt(t, dir)
	id := readyCluster(t, c)
	ctx := context.Background()
	n := 2*maxStepsKept + compactFloor/2
	for i := 0; i < n; i++ {
		// A program that does not exist fails at once, without a process: many steps, quickly.
		if _, err := c.AddStep(ctx, id, sparkflow.StepSpec{Name: "x", Args: []string{"/no/such/program"}}); err != nil {
			t.Fatal(err)
		}
	}
	steps, _ := c.ListSteps(ctx, id)
	if len(steps) > 2*maxStepsKept {
		t.Fatalf("%d steps kept after %d, want at most %d", len(steps), n, 2*maxStepsKept)
	}
	if lines := c.jr.lines; lines > max(compactFloor, 4*(2*maxStepsKept+1))+2 {
		t.Fatalf("the journal has %d lines after %d steps: it is not compacted", lines, n)
	}
	last := steps[0].ID
	c.Close()
	c = openAt(t, dir)
	defer c.Close()
	steps, _ = c.ListSteps(ctx, id)
	if len(steps) != maxStepsKept || steps[0].ID != last {
		t.Fatalf("after reopen: %d steps, newest %s; want %d, newest %s", len(steps), steps[0].ID, maxStepsKept, last)
	}
	data, _ := os.ReadFile(filepath.Join(dir, journalName))
	if lines := bytes.Count(data, []byte("\n")); lines != maxStepsKept+1 {
		t.Fatalf("compacted journal has %d lines, want %d (the cluster and its kept steps)", lines, maxStepsKept+1)
	}
}

// A line cut short by a crash is dropped; a damaged line before others is an error that says what to
// do; the whole-state file of earlier versions is read once and replaced by the journal.
func TestJournalRecovery(t *testing.T) {
	ctx := context.Background()
	t.Run("cut-short last line", func(t *testing.T) {
		dir := t.TempDir()
		c := openAt(t, dir)
		id := readyCluster(t, c)
		c.Close()
		f, _ := os.OpenFile(filepath.Join(dir, journalName), os.O_WRONLY|os.O_APPEND, 0)
		f.WriteString(`{"clusterId":"` + id + `","step":{"id":"s-HALF`)
		f.Close()
		c = openAt(t, dir)
		defer c.Close()
		if info, err := c.Describe(ctx, id); err != nil || !info.State.Ready() {
			t.Fatalf("cluster after a cut-short line: %+v, %v", info, err)
		}
	})
	t.Run("damaged line before others", func(t *testing.T) {
		dir := t.TempDir()
		c := openAt(t, dir)
		readyCluster(t, c)
		c.Close()
		path := filepath.Join(dir, journalName)
		data, _ := os.ReadFile(path)
		os.WriteFile(path, append([]byte("{not json\n"), data...), 0o644)
		_, err := Open(Config{Dir: dir})
		if err == nil || !strings.Contains(err.Error(), "damaged at line 1") || !strings.Contains(err.Error(), "move it away") {
			t.Fatalf("Open of a damaged journal: %v", err)
		}
	})
	t.Run("state file of an earlier version", func(t *testing.T) {
		dir := t.TempDir()
		legacy := `{"clusters":{"j-OLD":{"id":"j-OLD","name":"old","state":"WAITING","concurrency":2,` +
			`"steps":[{"id":"s-DONE","name":"done","args":["true"],"state":"COMPLETED"}]}}}`
		os.WriteFile(filepath.Join(dir, legacyStateName), []byte(legacy), 0o644)
		c := openAt(t, dir)
		steps, err := c.ListSteps(ctx, "j-OLD")
		if err != nil || len(steps) != 1 || steps[0].ID != "s-DONE" || steps[0].State != sparkflow.StepCompleted {
			t.Fatalf("steps of the old state file: %+v, %v", steps, err)
		}
		c.Close()
		if _, err := os.Stat(filepath.Join(dir, legacyStateName)); !os.IsNotExist(err) {
			t.Fatalf("the old state file is still there: %v", err)
		}
		c = openAt(t, dir)
		defer c.Close()
		if steps, _ := c.ListSteps(ctx, "j-OLD"); len(steps) != 1 {
			t.Fatalf("after the second open: %+v", steps)
		}
	})
}
