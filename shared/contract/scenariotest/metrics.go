package scenariotest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sparkflow/sparkflow/shared/contract/backendtest"
	"github.com/sparkflow/sparkflow/shared/metrics"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// Meter is a World whose metrics can be read as a monitoring system reads them: the local engine's
// GET /metrics scraped, the AWS functions' EMF lines added up. Gauges on AWS are recorded by the
// reconciler's passes: a scenario runs Reconcile before it reads them.
type Meter interface {
	Metrics(ctx context.Context) (metrics.Reading, error)
}

func reading(t *T, w World) metrics.Reading {
	t.Helper()
	r, err := w.(Meter).Metrics(context.Background())
	if err != nil {
		t.Fatalf("read the metrics: %v", err)
	}
	return r
}

// metricsScenario: runs on a pool of 1 cluster × 2 slots are counted as they are accepted, start and
// end (by status), their waits and durations are sampled, the pool's queue, slots and clusters are
// measured while a run waits and after all ended, and the EMR calls are counted by operation.
func metricsScenario(t *T, w World) {
	ctx := context.Background()
	p := pool(t, w, 1, 2)
	// Slow enough that the runs still stand so while the reconciler (on AWS, a Lambda under
	// emulation) measures them.
	slow := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 12")})
	ok := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("true")})
	bad := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("false"), MaxAttempts: 1})
	before := reading(t, w)

	// Three slow runs on two slots: one waits while the others run.
	var slowIDs []string
	for i := 0; i < 3; i++ {
		slowIDs = append(slowIDs, submit(t, w, slow.Name).ID)
	}
	deadline := time.Now().Add(w.Wait())
	for {
		held, waiting := 0, 0
		for _, id := range slowIDs {
			r, err := w.Backend().GetRun(ctx, id)
			if err != nil {
				continue
			}
			switch {
			case r.ReservedAt != nil && !r.Status.Terminal():
				held++
			case r.Status == sparkflow.RunQueued || r.Status == sparkflow.RunWaiting:
				waiting++
			}
		}
		if held == 2 && waiting == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slow runs never stood 2 on the slots and 1 waiting (%d, %d)", held, waiting)
		}
		time.Sleep(50 * time.Millisecond)
	}
	must(t, w.Reconcile(ctx))
	busy := reading(t, w)
	pl := map[string]string{"pool": p}
	expect := func(what string, got, want float64) {
		t.Helper()
		if got != want {
			t.Fatalf("%s = %v, want %v", what, got, want)
		}
	}
	expect("queue_depth while one waits", busy.Get(metrics.QueueDepth, pl), 1)
	expect("slots_used while two run", busy.Get(metrics.SlotsUsed, pl), 2)
	expect("slots_total", busy.Get(metrics.SlotsTotal, pl), 2)
	if age := busy.Get(metrics.QueueOldestWait, pl); age <= 0 || age > w.Wait().Seconds() {
		t.Fatalf("queue_oldest_wait_seconds = %v while a run waits, want between 0 and %v", age, w.Wait().Seconds())
	}

	var ids []string
	for _, id := range slowIDs {
		ids = append(ids, id)
	}
	ids = append(ids, submit(t, w, ok.Name).ID, submit(t, w, bad.Name).ID)
	for _, id := range ids {
		ended(t, w, id, 3*w.Wait())
	}
	must(t, w.Reconcile(ctx))
	// Counters and samples land as the runs end; on AWS, in the functions' logs a moment later.
	var after metrics.Reading
	var why string
	for deadline := time.Now().Add(w.Wait()); ; {
		after = reading(t, w)
		why = countsWrong(before, after, p, slow.Name, ok.Name, bad.Name)
		if why == "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if why != "" {
		t.Fatal(why)
	}
	expect("queue_depth once all ended", after.Get(metrics.QueueDepth, pl), 0)
	expect("queue_oldest_wait_seconds once all ended", after.Get(metrics.QueueOldestWait, pl), 0)
	expect("slots_used once all ended", after.Get(metrics.SlotsUsed, pl), 0)
	expect("pool_degraded", after.Get(metrics.PoolDegraded, pl), 0)
	ready := after.Get(metrics.Clusters, map[string]string{"pool": p, "state": string(sparkflow.ClusterWaiting)}) +
		after.Get(metrics.Clusters, map[string]string{"pool": p, "state": string(sparkflow.ClusterRunning)})
	expect("clusters of the pool WAITING or RUNNING", ready, 1)
}

// countsWrong says what differs from the counts 5 runs (3 slow, 1 ok, 1 failing) must add, or "".
func countsWrong(before, after metrics.Reading, p, slow, ok, bad string) string {
	var wrong []string
	delta := func(d metrics.Def, want map[string]string, n float64) {
		if got := after.Get(d, want) - before.Get(d, want); got != n {
			wrong = append(wrong, fmt.Sprintf("%s %v rose by %v, want %v", d.Name, want, got, n))
		}
	}
	samples := func(d metrics.Def, want map[string]string, n float64) {
		if got := after.Samples(d, want) - before.Samples(d, want); got != n {
			wrong = append(wrong, fmt.Sprintf("%s %v has %v new samples, want %v", d.Name, want, got, n))
		}
	}
	for tr, n := range map[string]float64{slow: 3, ok: 1, bad: 1} {
		delta(metrics.RunsAccepted, map[string]string{"pool": p, "transform": tr}, n)
		delta(metrics.RunsStarted, map[string]string{"pool": p, "transform": tr}, n)
		samples(metrics.RunDuration, map[string]string{"pool": p, "transform": tr}, n)
	}
	delta(metrics.RunsEnded, map[string]string{"pool": p, "transform": slow, "status": "SUCCEEDED"}, 3)
	delta(metrics.RunsEnded, map[string]string{"pool": p, "transform": ok, "status": "SUCCEEDED"}, 1)
	delta(metrics.RunsEnded, map[string]string{"pool": p, "transform": bad, "status": "FAILED"}, 1)
	delta(metrics.RunsEnded, map[string]string{"pool": p}, 5)
	samples(metrics.QueueWait, map[string]string{"pool": p}, 5)
	if got := after.Get(metrics.EMRCalls, map[string]string{"operation": "AddJobFlowSteps"}) - before.Get(metrics.EMRCalls, map[string]string{"operation": "AddJobFlowSteps"}); got < 5 {
		wrong = append(wrong, fmt.Sprintf("emr_api_calls{AddJobFlowSteps} rose by %v for 5 runs", got))
	}
	// The waiting slow run waited about as long as a slow run takes (6 s); the others barely.
	if w := after.Get(metrics.QueueWait, map[string]string{"pool": p}) - before.Get(metrics.QueueWait, map[string]string{"pool": p}); w < 3 {
		wrong = append(wrong, fmt.Sprintf("the 5 queue waits add up to %.1f s; one run waited for a slow run's slot (6 s)", w))
	}
	return strings.Join(wrong, "; ")
}
