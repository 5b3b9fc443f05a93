package engine_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/contract/backendtest"
	"github.com/sparkflow/sparkflow/shared/local/engine"
	"github.com/sparkflow/sparkflow/shared/local/localtest"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// The engine's own tests drive it through the shared test support (localtest, backendtest); these
// are the short names they use.

var (
	openEngine = localtest.Open
	newEngine  = localtest.New
	waitFor    = backendtest.Eventually
	sh         = backendtest.Sh
	dump       = localtest.Dump
)

func createPool(t *testing.T, e *engine.Engine, name string, clusters, slots int) {
	t.Helper()
	backendtest.ReadyPool(t, e, name, clusters, slots, 10*time.Second)
}

func createTransform(t *testing.T, e *engine.Engine, tr sparkflow.Transform) {
	t.Helper()
	if _, err := e.Service.CreateTransform(context.Background(), tr); err != nil {
		t.Fatal(err)
	}
}

func submit(t *testing.T, e *engine.Engine, transform string, params map[string]string) sparkflow.Run {
	t.Helper()
	r, err := e.Submit(context.Background(), sparkflow.RunRequest{Transform: transform, Params: params})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func waitRun(t *testing.T, e *engine.Engine, id string, limit time.Duration) sparkflow.Run {
	t.Helper()
	return backendtest.WaitRun(t, e, id, limit)
}

func waitAll(t *testing.T, e *engine.Engine, limit time.Duration) []sparkflow.Run {
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

func describe(r sparkflow.Run) string {
	return fmt.Sprintf("run %s: %s attempt %d/%d reason %q", r.ID, r.Status, r.Attempt, r.MaxAttempts, r.Reason)
}
