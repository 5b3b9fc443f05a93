package tasks_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sparkflow/sparkflow/shared/contract/backendtest"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// TestReconcilerMeasuresAnElasticPoolsSlotTime: the reconciler sets an elastic pool's slot time from
// its runs (reservation to end), and leaves a fixed pool's alone.
func TestReconcilerMeasuresAnElasticPoolsSlotTime(t *testing.T) {
	e := openEngine(t, nil)
	ctx := context.Background()
	one := 1
	if _, err := e.Service.CreatePool(ctx, sparkflow.Pool{Name: "el", Tier: "tiny", Clusters: 2, MinClusters: &one, StepConcurrency: 2, IdleTimeoutSeconds: 600}); err != nil {
		t.Fatal(err)
	}
	readyPool(t, e, "fixed", 1)
	for _, p := range []string{"el", "fixed"} {
		if _, err := e.Service.CreateTransform(ctx, sparkflow.Transform{Name: "t-" + p, Pool: p, Command: backendtest.Sh("sleep 0.3")}); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	for i := 0; i < 3; i++ {
		for _, p := range []string{"el", "fixed"} {
			r, err := e.Submit(ctx, sparkflow.RunRequest{ID: uuid.NewString(), Transform: "t-" + p})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.ID)
		}
	}
	eventually(t, "the runs end", func() bool {
		for _, id := range ids {
			if r, err := e.Store.GetRun(ctx, id); err != nil || !r.Status.Terminal() {
				return false
			}
		}
		return true
	})
	if _, err := e.Service.Reconcile(ctx, 100); err != nil {
		t.Fatal(err)
	}
	el, err := e.Store.GetPool(ctx, "el")
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(el.SlotSeconds * float64(time.Second)); got < 300*time.Millisecond || got > 5*time.Second {
		t.Fatalf("the elastic pool's slot time is %s; its runs sleep 0.3 s", got)
	}
	if f, _ := e.Store.GetPool(ctx, "fixed"); f.SlotSeconds != 0 {
		t.Fatalf("a fixed pool's slot time was measured: %v s", f.SlotSeconds)
	}
}
