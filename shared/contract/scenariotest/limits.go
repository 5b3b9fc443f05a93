package scenariotest

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sparkflow/sparkflow/shared/contract/backendtest"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// queueFullScenario: a pool whose queue holds 2 refuses a third waiting run with a conflict that says
// why (on AWS a request put on the queue by another producer is kept as rejected with that reason),
// and takes runs again once its queue has room.
func queueFullScenario(t *T, w World) {
	ctx := context.Background()
	p := name("sc")
	if _, err := w.Backend().CreatePool(ctx, sparkflow.Pool{Name: p, Tier: "tiny", Clusters: 1, StepConcurrency: 1, MaxQueue: 2}); err != nil {
		t.Fatalf("create pool: %v", err)
	}
	backendtest.Eventually(t, w.Wait(), "pool "+p+" ready", func() bool {
		v, err := w.Backend().GetPool(ctx, p)
		return err == nil && v.Status == sparkflow.PoolReady && v.Pool.MaxQueue == 2
	})
	slow := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 8")})
	blocker := submit(t, w, slow.Name)
	backendtest.WaitStatus(t, w.Backend(), blocker.ID, w.Wait(), func(r sparkflow.Run) bool { return r.ReservedAt != nil }, "to hold the slot")
	waiting := []string{submit(t, w, slow.Name).ID, submit(t, w, slow.Name).ID}
	backendtest.Eventually(t, w.Wait(), "two runs waiting", func() bool {
		v, err := w.Backend().GetPool(ctx, p)
		return err == nil && v.Waiting == 2
	})
	_, err := w.Backend().SubmitRun(ctx, sparkflow.RunRequest{ID: uuid.NewString(), Transform: slow.Name})
	if !sparkflow.IsCode(err, sparkflow.Conflict) || !strings.Contains(err.Error(), "queue is full") {
		t.Fatalf("a third waiting run: %v, want a conflict saying the queue is full", err)
	}
	if q, ok := w.(Queue); ok {
		marker := uuid.NewString()
		must(t, q.SendRaw(ctx, `{"id":"`+marker+`","transform":"`+slow.Name+`"}`))
		rejectedWith(t, w, marker, "queue is full", "the request kept as rejected, queue full")
	}
	// Once a waiting run has its slot, the queue has room again.
	backendtest.WaitStatus(t, w.Backend(), waiting[0], 3*w.Wait(), func(r sparkflow.Run) bool { return r.ReservedAt != nil }, "to get the slot")
	deadline := time.Now().Add(w.Wait())
	for {
		_, err := w.Backend().SubmitRun(ctx, sparkflow.RunRequest{ID: uuid.NewString(), Transform: slow.Name})
		if err == nil {
			break
		}
		if !sparkflow.IsCode(err, sparkflow.Conflict) || time.Now().After(deadline) {
			t.Fatalf("a submit with room in the queue: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, id := range append(waiting, blocker.ID) {
		w.Backend().CancelRun(ctx, id)
	}
}
