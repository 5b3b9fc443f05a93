// Package localtest is the embedded home's test support: engines on temporary data directories with
// fast settings, and a dump of what a stuck test left behind. Tests of every package that drive the
// local engine use it instead of copies of their own.
package localtest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/local/engine"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/workflow"
)

// FastRetry is the task retry policy for tests: the production one waits 31 s in all.
var FastRetry = workflow.Retry{Interval: 20 * time.Millisecond, BackoffRate: 2, MaxAttempts: 5}

// Open starts an engine on dir with fast settings (clusters ready in 50 ms, no periodic reconcile),
// changed by mod; the caller closes it.
func Open(t testing.TB, dir string, mod func(*engine.Config)) *engine.Engine {
	t.Helper()
	cfg := engine.Config{DataDir: dir, ProvisionDelay: 50 * time.Millisecond, ReconcileInterval: time.Hour, Retry: &FastRetry}
	if mod != nil {
		mod(&cfg)
	}
	e, err := engine.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// New is Open on a new temporary directory, closed when the test ends.
func New(t testing.TB, mod func(*engine.Config)) *engine.Engine {
	t.Helper()
	e := Open(t, filepath.Join(t.TempDir(), "data"), mod)
	t.Cleanup(func() { e.Close() })
	return e
}

// Dump logs what a stuck test left behind: the active runs, the FIFOs and the clusters.
func Dump(t testing.TB, e *engine.Engine) {
	t.Helper()
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
