package backendtest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

var seq atomic.Int64

// name makes a pool or transform name unique to this test binary and call.
func name(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%100000, seq.Add(1))
}

// TB is what the helpers below need of a test: testing.TB, or a wrapper that records why it failed.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

// Sh is a command transform's command line that runs script with sh.
func Sh(script string) []string { return []string{"/bin/sh", "-c", script} }

// Eventually waits up to limit for ok, failing the test with what it waited for.
func Eventually(t TB, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ReadyPool creates a pool of clusters × slots of the tiny tier and waits until every cluster is ready.
func ReadyPool(t TB, b sparkflow.Backend, pool string, clusters, slots int, limit time.Duration) sparkflow.PoolView {
	t.Helper()
	ctx := context.Background()
	if _, err := b.CreatePool(ctx, sparkflow.Pool{Name: pool, Tier: "tiny", Clusters: clusters, StepConcurrency: slots}); err != nil {
		t.Fatalf("create pool %s: %v", pool, err)
	}
	var v sparkflow.PoolView
	Eventually(t, limit, "pool "+pool+" ready", func() bool {
		var err error
		v, err = b.GetPool(ctx, pool)
		return err == nil && v.Ready == clusters && v.Status == sparkflow.PoolReady
	})
	return v
}

// WaitRun waits until run id has ended and returns it. A run not yet recorded (on AWS it is on the
// queue until the intake records it) is waited for too.
func WaitRun(t TB, b sparkflow.Backend, id string, limit time.Duration) sparkflow.Run {
	t.Helper()
	return WaitStatus(t, b, id, limit, func(r sparkflow.Run) bool { return r.Status.Terminal() }, "to end")
}

// WaitStatus waits until run id satisfies ok.
func WaitStatus(t TB, b sparkflow.Backend, id string, limit time.Duration, ok func(sparkflow.Run) bool, what string) sparkflow.Run {
	t.Helper()
	var r sparkflow.Run
	var err error
	Eventually(t, limit, "run "+id+" "+what, func() bool {
		r, err = b.GetRun(context.Background(), id)
		return err == nil && ok(r)
	})
	return r
}

func mustCode(t *testing.T, err error, code sparkflow.Code, what string) {
	t.Helper()
	if !sparkflow.IsCode(err, code) {
		t.Fatalf("%s: got %v (code %q), want a %s error", what, err, sparkflow.ErrorCode(err), code)
	}
}

func field(err error) string {
	var e *sparkflow.Error
	for err != nil {
		if x, ok := err.(*sparkflow.Error); ok {
			e = x
			if e.Field != "" {
				return e.Field
			}
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			break
		}
		err = u.Unwrap()
	}
	return ""
}
