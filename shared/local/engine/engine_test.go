package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func TestRunSucceedsAndWritesLogs(t *testing.T) {
	e := newEngine(t, nil)
	createPool(t, e, "etl", 1, 2)
	createTransform(t, e, sparkflow.Transform{Name: "hello", Pool: "etl", Command: sh(`echo "hello $0 attempt $1"; echo oops >&2`),
		Args: []string{"${who}", "${attempt}"}, Params: map[string]string{"who": "world"}})
	r := submit(t, e, "hello", map[string]string{"who": "spark"})
	r = waitRun(t, e, r.ID, 10*time.Second)
	if r.Status != sparkflow.RunSucceeded {
		t.Fatal(describe(r))
	}
	if r.ClusterID == "" || r.StepID == "" || r.StartedAt == nil || r.EndedAt == nil || r.ReservedAt == nil {
		t.Fatalf("run lacks its placement or times: %+v", r)
	}
	var seen []sparkflow.RunStatus
	for _, h := range r.History {
		if len(seen) == 0 || seen[len(seen)-1] != h.Status {
			seen = append(seen, h.Status)
		}
	}
	if got := strings.Trim(strings.Join(strings.Fields(strings.Trim(strings.ReplaceAll(strings.Join(toStrings(seen), " "), "  ", " "), " ")), ">"), ">"); got != "QUEUED>WAITING>SUBMITTED>RUNNING>SUCCEEDED" && got != "QUEUED>SUBMITTED>RUNNING>SUCCEEDED" {
		t.Fatalf("timeline %s", got)
	}
	out, err := os.ReadFile(filepath.Join(e.LogDir(r), "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(out)) != "hello spark attempt 1" {
		t.Fatalf("stdout = %q", out)
	}
	errOut, _ := os.ReadFile(filepath.Join(e.LogDir(r), "stderr"))
	if strings.TrimSpace(string(errOut)) != "oops" {
		t.Fatalf("stderr = %q", errOut)
	}
	c, err := e.Store.GetCluster(context.Background(), r.ClusterID)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Reservations) != 0 {
		t.Fatalf("slot not released: %+v", c.Reservations)
	}
}

func toStrings(s []sparkflow.RunStatus) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = string(x)
	}
	return out
}

func TestFailingStepRetriesThenFails(t *testing.T) {
	e := newEngine(t, nil)
	createPool(t, e, "etl", 2, 1)
	createTransform(t, e, sparkflow.Transform{Name: "bad", Pool: "etl", Command: sh("exit 3"), MaxAttempts: 3})
	r := waitRun(t, e, submit(t, e, "bad", nil).ID, 15*time.Second)
	if r.Status != sparkflow.RunFailed || r.Attempt != 3 || !strings.Contains(r.Reason, "exited with code 3") || !strings.Contains(r.Reason, "attempt 3 of 3") {
		t.Fatal(describe(r))
	}
}
