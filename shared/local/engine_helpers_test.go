package local_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/local"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/workflow"
)

var fastRetry = workflow.Retry{Interval: 20 * time.Millisecond, BackoffRate: 2, MaxAttempts: 5}

func openEngine(t *testing.T, dir string, mod func(*local.Config)) *local.Engine {
	t.Helper()
	cfg := local.Config{DataDir: dir, ProvisionDelay: 100 * time.Millisecond, ReconcileInterval: time.Hour, Retry: &fastRetry}
	if mod != nil {
		mod(&cfg)
	}
	e, err := local.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func newEngine(t *testing.T, mod func(*local.Config)) *local.Engine {
	t.Helper()
	e := openEngine(t, filepath.Join(t.TempDir(), "data"), mod)
	t.Cleanup(func() { e.Close() })
	return e
}

func createPool(t *testing.T, e *local.Engine, name string, clusters, slots int) {
	t.Helper()
	_, err := e.Service.CreatePool(context.Background(), sparkflow.Pool{Name: name, Tier: "tiny", Clusters: clusters, StepConcurrency: slots})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "pool "+name+" ready", func() bool {
		p, err := e.Service.GetPool(context.Background(), name)
		return err == nil && p.Ready == clusters
	})
}

func createTransform(t *testing.T, e *local.Engine, tr sparkflow.Transform) {
	t.Helper()
	if _, err := e.Service.CreateTransform(context.Background(), tr); err != nil {
		t.Fatal(err)
	}
}

func submit(t *testing.T, e *local.Engine, transform string, params map[string]string) sparkflow.Run {
	t.Helper()
	r, err := e.Submit(context.Background(), sparkflow.RunRequest{Transform: transform, Params: params})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitRun(t *testing.T, e *local.Engine, id string, limit time.Duration) sparkflow.Run {
	t.Helper()
	var r sparkflow.Run
	waitFor(t, limit, "run "+id+" to end", func() bool {
		var err error
		r, err = e.Store.GetRun(context.Background(), id)
		return err == nil && r.Status.Terminal()
	})
	return r
}

func waitAll(t *testing.T, e *local.Engine, limit time.Duration) []sparkflow.Run {
	t.Helper()
	var runs []sparkflow.Run
	defer func() {
		if t.Failed() {
			dump(t, e)
		}
	}()
	waitFor(t, limit, "every run to end", func() bool {
		active, err := e.Store.ListRuns(context.Background(), sparkflow.RunFilter{Active: true})
		if err != nil || len(active) > 0 {
			return false
		}
		runs, err = e.Store.ListRuns(context.Background(), sparkflow.RunFilter{})
		return err == nil
	})
	return runs
}

func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

func describe(r sparkflow.Run) string {
	return fmt.Sprintf("run %s: %s attempt %d/%d reason %q", r.ID, r.Status, r.Attempt, r.MaxAttempts, r.Reason)
}

// dump logs what a stuck test left behind: the active runs, the FIFOs and the clusters.
func dump(t *testing.T, e *local.Engine) {
	ctx := context.Background()
	active, _ := e.Store.ListRuns(ctx, sparkflow.RunFilter{Active: true})
	t.Logf("%d active runs, %d workflows", len(active), e.Active())
	for i, r := range active {
		if i == 5 {
			break
		}
		t.Logf("  %s %s attempt %d cluster %s step %s/%s token %v reserved %v history %+v", r.ID, r.Status, r.Attempt, r.ClusterID, r.StepID, r.StepState, r.Token != "", r.ReservedAt != nil, r.History)
	}
	pools, _ := e.Store.ListPools(ctx)
	for _, p := range pools {
		ws, _ := e.Store.Waiters(ctx, p.Name, 0)
		t.Logf("pool %s %s: %d waiters", p.Name, p.Status, len(ws))
		cs, _ := e.Store.ListClusters(ctx, p.Name)
		for _, c := range cs {
			t.Logf("  cluster %s %s holds %v", c.ID, c.State, c.Reservations)
		}
	}
}
