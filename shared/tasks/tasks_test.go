package tasks_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/contract/backendtest"
	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/emrevent"
	"github.com/sparkflow/sparkflow/shared/local/engine"
	"github.com/sparkflow/sparkflow/shared/local/localtest"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tasks"
	"github.com/sparkflow/sparkflow/shared/workflow"
)

const tasksNeverStarted = tasks.NeverStarted

// counting counts the EMR calls the reconciler makes.
type counting struct {
	sparkflow.Clusters
	calls atomic.Int64
}

func (c *counting) Describe(ctx context.Context, id string) (sparkflow.ClusterInfo, error) {
	c.calls.Add(1)
	return c.Clusters.Describe(ctx, id)
}

func (c *counting) ListSteps(ctx context.Context, id string) ([]sparkflow.StepInfo, error) {
	c.calls.Add(1)
	return c.Clusters.ListSteps(ctx, id)
}

func openEngine(t *testing.T, filter func([]byte) [][]byte) *engine.Engine {
	t.Helper()
	return localtest.New(t, func(c *engine.Config) {
		c.ProvisionDelay, c.EventFilter = 30*time.Millisecond, filter
		c.Retry = &workflow.Retry{Interval: 10 * time.Millisecond, BackoffRate: 2, MaxAttempts: 3}
	})
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	backendtest.Eventually(t, 10*time.Second, what, ok)
}

func readyPool(t *testing.T, e *engine.Engine, name string, n int) {
	t.Helper()
	backendtest.ReadyPool(t, e, name, n, 2, 10*time.Second)
}

func TestReconcileStaysWithinItsBudget(t *testing.T) {
	e := openEngine(t, nil)
	readyPool(t, e, "a", 3)
	c := &counting{Clusters: e.Service.Clusters}
	svc := *e.Service
	svc.Clusters = c
	rep, err := svc.Reconcile(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if c.calls.Load() > 2 || rep.Calls != int(c.calls.Load()) || rep.Skipped == 0 {
		t.Fatalf("budget 2: %d calls made, report %+v", c.calls.Load(), rep)
	}
	c.calls.Store(0)
	rep, _ = svc.Reconcile(context.Background(), 100)
	// One DescribeCluster and one ListSteps page per cluster: idle clusters are listed too, for
	// steps no run owns (an orphan a crashed Submit added).
	if rep.Skipped != 0 || rep.ClustersChecked != 3 || c.calls.Load() != 6 {
		t.Fatalf("budget 100: %d calls, report %+v", c.calls.Load(), rep)
	}
	cs, _ := e.Store.ListClusters(context.Background(), "a")
	for _, cl := range cs {
		if cl.NormalizedInstanceHours < 1 {
			t.Fatalf("cluster %s: normalized instance hours not recorded", cl.ID)
		}
	}
}

func TestReconcilerRepairsALostClusterWhoseEventsWereAllDropped(t *testing.T) {
	e, r, dropClusterEnd, _ := loseTheClusterOfARun(t)
	ctx := context.Background()
	if got, _ := e.Store.GetRun(ctx, r.ID); got.Status != sparkflow.RunRunning || got.Attempt != 1 {
		t.Fatalf("with the events dropped nothing should have moved yet: %s attempt %d", got.Status, got.Attempt)
	}
	dropClusterEnd.Store(false)
	if _, err := e.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "run to succeed on the other cluster", func() bool {
		got, _ := e.Store.GetRun(ctx, r.ID)
		return got.Status == sparkflow.RunSucceeded && got.Attempt == 2 && got.ClusterID != r.ClusterID
	})
	eventually(t, "pool healed", func() bool {
		p, _ := e.Service.GetPool(ctx, "p")
		return p.Ready == 2 && p.Status == sparkflow.PoolReady
	})
}

func TestDeletePoolRefusesActiveRunsUnlessForced(t *testing.T) {
	e := openEngine(t, nil)
	readyPool(t, e, "p", 1)
	ctx := context.Background()
	e.Service.CreateTransform(ctx, sparkflow.Transform{Name: "long", Pool: "p", Command: []string{"sleep", "30"}})
	r, _ := e.Submit(ctx, sparkflow.RunRequest{Transform: "long"})
	err := e.Service.DeletePool(ctx, "p", false)
	if !sparkflow.IsCode(err, sparkflow.Conflict) || !strings.Contains(err.Error(), "1 active runs") {
		t.Fatalf("delete with an active run: %v", err)
	}
	if err := e.Service.DeleteTransform(ctx, "long"); !sparkflow.IsCode(err, sparkflow.Conflict) {
		t.Fatalf("delete transform with an active run: %v", err)
	}
	if err := e.Service.DeletePool(ctx, "p", true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "run cancelled and pool gone", func() bool {
		got, _ := e.Store.GetRun(ctx, r.ID)
		_, err := e.Store.GetPool(ctx, "p")
		return got.Status == sparkflow.RunCancelled && sparkflow.IsCode(err, sparkflow.NotFound)
	})
	if _, err := e.Submit(ctx, sparkflow.RunRequest{Transform: "long"}); err == nil || !strings.Contains(err.Error(), `pool "p", which does not exist`) {
		t.Fatalf("run of a transform whose pool is gone: %v", err)
	}
}

func TestSubmitIsIdempotentByRunID(t *testing.T) {
	e := openEngine(t, nil)
	readyPool(t, e, "p", 1)
	ctx := context.Background()
	e.Service.CreateTransform(ctx, sparkflow.Transform{Name: "t", Pool: "p", Command: []string{"true"}})
	id := "6f1c2b8e-3d4a-4b5c-9d8e-7f6a5b4c3d2e"
	a, err := e.Submit(ctx, sparkflow.RunRequest{ID: id, Transform: "t"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Submit(ctx, sparkflow.RunRequest{ID: id, Transform: "t"})
	if err != nil || a.ID != b.ID {
		t.Fatalf("second submit: %v %s", err, b.ID)
	}
	eventually(t, "run ends", func() bool {
		r, _ := e.Store.GetRun(ctx, id)
		return r.Status.Terminal()
	})
	runs, _ := e.Store.ListRuns(ctx, sparkflow.RunFilter{})
	steps, _ := e.Clusters.ListSteps(ctx, runs[0].ClusterID)
	if len(runs) != 1 || len(steps) != 1 {
		t.Fatalf("%d runs and %d steps for one run id", len(runs), len(steps))
	}
	if _, err := e.Submit(ctx, sparkflow.RunRequest{ID: "not-a-uuid", Transform: "t"}); !sparkflow.IsCode(err, sparkflow.Invalid) {
		t.Fatalf("bad id: %v", err)
	}
}

// executions reports the statuses a test gives runs' workflow executions, as Step Functions'
// DescribeExecution would, over the engine's own callbacks.
type executions struct {
	sparkflow.Callbacks
	status map[string]string
}

func (x executions) ExecutionStatus(ctx context.Context, runID string) (string, error) {
	if s, ok := x.status[runID]; ok {
		return s, nil
	}
	return "", sparkflow.Errorf(sparkflow.NotFound, "no execution")
}

type later struct{ at time.Time }

func (l later) Now() time.Time { return l.at }

// An execution that ended without a word (its status event lost) ends its run through the
// reconciler, and frees its slot; a run whose execution runs is left alone; a run that never got an
// execution is ended after NeverStarted, not before.
func TestReconcilerEndsRunsWhoseExecutionEndedUnseen(t *testing.T) {
	e := openEngine(t, nil)
	readyPool(t, e, "p", 1)
	ctx := context.Background()
	if _, err := e.Service.CreateTransform(ctx, sparkflow.Transform{Name: "slow", Pool: "p", Command: backendtest.Sh("sleep 30")}); err != nil {
		t.Fatal(err)
	}
	stopped, err := e.Submit(ctx, sparkflow.RunRequest{Transform: "slow"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the run to run", func() bool {
		r, _ := e.Store.GetRun(ctx, stopped.ID)
		return r.Status == sparkflow.RunRunning
	})
	running, err := e.Submit(ctx, sparkflow.RunRequest{Transform: "slow"})
	if err != nil {
		t.Fatal(err)
	}
	orphan, _, err := e.Service.Accept(ctx, sparkflow.RunRequest{Transform: "slow"}) // accepted, never started
	if err != nil {
		t.Fatal(err)
	}
	svc := *e.Service
	svc.Callbacks = executions{Callbacks: e.Service.Callbacks, status: map[string]string{stopped.ID: "ABORTED", running.ID: "RUNNING"}}
	rep, err := svc.Reconcile(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ExecutionsChecked != 3 || rep.ExecutionsEnded != 1 {
		t.Fatalf("report %+v", rep)
	}
	got, _ := e.Store.GetRun(ctx, stopped.ID)
	if got.Status != sparkflow.RunCancelled || !strings.Contains(got.Reason, "status event was lost") {
		t.Fatalf("the run of a stopped execution: %s %q", got.Status, got.Reason)
	}
	if got, _ := e.Store.GetRun(ctx, orphan.ID); got.Status.Terminal() {
		t.Fatalf("a run accepted just now ended: %s", got.Status)
	}
	eventually(t, "the freed slot to go to the next run", func() bool {
		r, _ := e.Store.GetRun(ctx, running.ID)
		return r.Status == sparkflow.RunRunning
	})
	svc.Clock = later{time.Now().Add(tasksNeverStarted + time.Minute)}
	if _, err := svc.Reconcile(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.Store.GetRun(ctx, orphan.ID); got.Status != sparkflow.RunFailed || !strings.Contains(got.Reason, "no workflow execution was started") {
		t.Fatalf("a run that never got a workflow: %s %q", got.Status, got.Reason)
	}
	if got, _ := e.Store.GetRun(ctx, running.ID); got.Status.Terminal() {
		t.Fatalf("a run whose execution runs ended: %s", got.Status)
	}
}

// throttled is Step Functions refusing every resume for now.
type throttled struct{ sparkflow.Callbacks }

func (throttled) SendTaskSuccess(context.Context, string, []byte) error {
	return sparkflow.Errorf(sparkflow.Transient, "ThrottlingException: rate exceeded")
}

// The cluster-lost handler records the cluster's end, then its resume of the run on it is throttled:
// the handler fails, and its redelivery finds the cluster ended already and does nothing more (EMR
// says nothing of the step: its events are dropped). The reconciler ends the attempt again from the
// records, and the run retries on the other cluster, long before its timeout.
func TestReconcilerEndsTheAttemptsACutOffClusterLostHandlerLeft(t *testing.T) {
	e, r, drop, ch := loseTheClusterOfARun(t)
	ctx := context.Background()
	cut := *e.Service
	cut.Callbacks = throttled{e.Service.Callbacks}
	if err := cut.HandleClusterChange(ctx, ch); err == nil {
		t.Fatal("the cluster-lost handler whose resume was throttled reported no error")
	}
	if err := e.Service.HandleClusterChange(ctx, ch); err != nil { // the redelivery
		t.Fatal(err)
	}
	if got, _ := e.Store.GetRun(ctx, r.ID); got.Status != sparkflow.RunRunning || got.Attempt != 1 {
		t.Fatalf("the redelivered cluster end should find nothing to do: %s attempt %d", got.Status, got.Attempt)
	}
	drop.Store(false) // the next attempt's events arrive
	rep, err := e.Service.Reconcile(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "run to succeed on the other cluster", func() bool {
		got, _ := e.Store.GetRun(ctx, r.ID)
		return got.Status == sparkflow.RunSucceeded && got.Attempt == 2 && got.ClusterID != r.ClusterID
	})
	if rep.LostClusterRuns != 1 {
		t.Fatalf("report %+v: want the one run on the lost cluster", rep)
	}
}

// loseTheClusterOfARun starts a run of a transform whose first attempt runs long (its second is
// quick) on a pool of two clusters, then fails the run's cluster with every cluster-end and step
// event dropped (drop says whether they still are), and returns once the cluster's end was reported.
func loseTheClusterOfARun(t *testing.T) (*engine.Engine, sparkflow.Run, *atomic.Bool, emrevent.ClusterChange) {
	t.Helper()
	drop := &atomic.Bool{}
	droppedEnd := make(chan emrevent.ClusterChange, 8)
	e := openEngine(t, func(raw []byte) [][]byte {
		ev, err := emrevent.Parse(raw, true)
		if err == nil && drop.Load() {
			if ch, err := ev.Cluster(true); err == nil && ch.State.Ended() {
				if ch.State.Terminal() {
					droppedEnd <- ch
				}
				return nil
			}
			if _, err := ev.Step(true); err == nil {
				return nil
			}
		}
		return [][]byte{raw}
	})
	readyPool(t, e, "p", 2)
	ctx := context.Background()
	if _, err := e.Service.CreateTransform(ctx, sparkflow.Transform{Name: "slow", Pool: "p", Command: []string{"/bin/sh", "-c", `[ "$0" = 2 ] || sleep 30`, "${attempt}"}, MaxAttempts: 2}); err != nil {
		t.Fatal(err)
	}
	r, err := e.Submit(ctx, sparkflow.RunRequest{Transform: "slow"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "run running", func() bool {
		r, _ = e.Store.GetRun(ctx, r.ID)
		return r.Status == sparkflow.RunRunning
	})
	drop.Store(true)
	if err := e.Clusters.Fail(r.ClusterID, ""); err != nil {
		t.Fatal(err)
	}
	select { // the cluster's end happened, and its event was dropped
	case ch := <-droppedEnd:
		return e, r, drop, ch
	case <-time.After(10 * time.Second):
		t.Fatal("the failed cluster never reported its end")
	}
	panic("unreachable")
}

// A step's end event handled before its cluster's (EventBridge keeps no order, and the cluster's end
// here is never heard of): the retry must not be given a slot on the cluster that has just ended.
// Finish asks EMR how the cluster stands, records its end, and the retry runs on the replacement.
func TestARetryAfterItsClusterEndedUnheardRunsElsewhere(t *testing.T) {
	var drop atomic.Bool
	e := openEngine(t, func(raw []byte) [][]byte {
		if ev, err := emrevent.Parse(raw, true); err == nil && drop.Load() {
			if ch, err := ev.Cluster(true); err == nil && ch.State.Ended() {
				return nil // the cluster's end is never heard of
			}
		}
		return [][]byte{raw}
	})
	readyPool(t, e, "p", 1)
	ctx := context.Background()
	if _, err := e.Service.CreateTransform(ctx, sparkflow.Transform{Name: "slow", Pool: "p", Command: []string{"/bin/sh", "-c", `[ "$0" = 2 ] || sleep 30`, "${attempt}"}, MaxAttempts: 2}); err != nil {
		t.Fatal(err)
	}
	r, err := e.Submit(ctx, sparkflow.RunRequest{Transform: "slow"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "run running", func() bool {
		r, _ = e.Store.GetRun(ctx, r.ID)
		return r.Status == sparkflow.RunRunning
	})
	lost := r.ClusterID
	drop.Store(true)
	if err := e.Clusters.Fail(lost, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, "run to end", func() bool {
		r, _ = e.Store.GetRun(ctx, r.ID)
		return r.Status.Terminal()
	})
	if r.Status != sparkflow.RunSucceeded || r.Attempt != 2 || r.ClusterID == lost {
		t.Fatalf("run %s attempt %d on %s (lost %s): %s", r.Status, r.Attempt, r.ClusterID, lost, r.Reason)
	}
}

// A Submit that EMR refuses (the cluster it holds a slot on has ended, unknown to the records) added
// nothing: it gives its claim up, so that the Finish of the lost attempt does not wait for it (it used
// to wait out the claim's lease; the workflow failed, and the run was left active).
func TestASubmitRefusedByEMRGivesItsClaimUp(t *testing.T) {
	var drop atomic.Bool
	e := openEngine(t, func(raw []byte) [][]byte {
		if ev, err := emrevent.Parse(raw, true); err == nil && drop.Load() {
			if ch, err := ev.Cluster(true); err == nil && ch.State.Ended() {
				return nil
			}
		}
		return [][]byte{raw}
	})
	readyPool(t, e, "p", 1)
	ctx := context.Background()
	if _, err := e.Service.CreateTransform(ctx, sparkflow.Transform{Name: "t", Pool: "p", Command: []string{"true"}, MaxAttempts: 2}); err != nil {
		t.Fatal(err)
	}
	cs, _ := e.Store.ListClusters(ctx, "p")
	drop.Store(true)
	if err := e.Clusters.Fail(cs[0].ID, ""); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	r := sparkflow.Run{ID: "x", Transform: "t", Pool: "p", Status: sparkflow.RunWaiting, Attempt: 1, MaxAttempts: 2, CreatedAt: now,
		ClusterID: cs[0].ID, ReservedAt: &now, History: []sparkflow.Transition{{Status: sparkflow.RunWaiting, Attempt: 1, At: now}}}
	if _, err := e.Store.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.Reserve(ctx, "x", 1, cs[0].ID); err != nil {
		t.Fatal(err)
	}
	fence := sparkflow.Fence{Epoch: 1, Attempt: 1}
	if err := e.Service.Submit(ctx, "x", "token-of-submit", fence); err != nil {
		t.Fatal(err)
	}
	got, _ := e.Store.GetRun(ctx, "x")
	if got.Submitting != nil || got.StepID != "" {
		t.Fatalf("after a refused Submit: claim %+v, step %q", got.Submitting, got.StepID)
	}
	res, err := e.Service.FinishAttempt(ctx, "x", 1, core.Outcome{StepState: sparkflow.StepInterrupted, Cause: core.CauseClusterLost, Reason: "cluster gone"})
	if err != nil {
		t.Fatalf("Finish of the lost attempt: %v", err)
	}
	if !res.Retry || res.Attempt != 2 {
		t.Fatalf("Finish: %+v, want a retry as attempt 2", res)
	}
}

// failingWaiters fails the FIFO's reads while fail is above zero (a dispatch pass that fails).
type failingWaiters struct {
	sparkflow.Store
	fail *atomic.Int32
}

func (f failingWaiters) Waiters(ctx context.Context, pool string, limit int) ([]sparkflow.Waiter, error) {
	if f.fail.Add(-1) >= 0 {
		return nil, sparkflow.Errorf(sparkflow.Transient, "the FIFO cannot be read just now")
	}
	return f.Store.Waiters(ctx, pool, limit)
}

// A serial dispatch runs its passes in the background and loses no request: many asked at once are
// served by a few passes, a pass that fails is tried again, and requests left uncovered after the
// retries are covered by the next Dispatch.
func TestSerialDispatchesInTheBackgroundLoseNoRequest(t *testing.T) {
	e := openEngine(t, nil)
	readyPool(t, e, "p", 1) // one cluster of 2 slots
	ctx := context.Background()
	now := time.Now().UTC()
	for i, id := range []string{"a", "b"} {
		since := now.Add(time.Duration(i) * time.Second)
		r := sparkflow.Run{ID: id, Transform: "t", Pool: "p", Status: sparkflow.RunWaiting, Attempt: 1, MaxAttempts: 1, CreatedAt: since,
			History: []sparkflow.Transition{{Status: sparkflow.RunWaiting, Attempt: 1, At: since}}}
		if _, err := e.Store.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := e.Store.Enqueue(ctx, sparkflow.Waiter{Pool: "p", RunID: id, Since: since}); err != nil {
			t.Fatal(err)
		}
	}
	fail := &atomic.Int32{}
	fail.Store(3) // fewer than the retries: the passes get through
	svc := tasks.New(tasks.Service{Store: failingWaiters{e.Store, fail}, Clusters: e.Service.Clusters, Callbacks: e.Service.Callbacks,
		Tiers: e.Service.Tiers, SerialDispatch: true})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := svc.Dispatch(ctx, "p"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	svc.WaitBackground()
	holds := func(id string) bool {
		cs, _ := e.Store.ListClusters(ctx, "p")
		return len(cs) == 1 && cs[0].Holds(id)
	}
	if !holds("a") || !holds("b") {
		cs, _ := e.Store.ListClusters(ctx, "p")
		t.Fatalf("after the dispatches (3 failed passes): %+v; want a and b holding the two slots", cs)
	}
	// Passes that keep failing give up; the requests stay, and the next Dispatch covers them.
	if err := e.Store.Release(ctx, "b", 0, holderOf(t, e, "b"), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := e.Store.Enqueue(ctx, sparkflow.Waiter{Pool: "p", RunID: "b", Since: now.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	fail.Store(1000)
	if err := svc.Dispatch(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	svc.WaitBackground()
	if holds("b") {
		t.Fatal("b was served while every read of the FIFO failed")
	}
	fail.Store(0)
	if err := svc.Dispatch(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	svc.WaitBackground()
	if !holds("b") {
		t.Fatal("the Dispatch after the failed passes did not serve b")
	}
}

func holderOf(t *testing.T, e *engine.Engine, runID string) string {
	t.Helper()
	cs, _ := e.Store.ListClusters(context.Background(), "p")
	for _, c := range cs {
		if c.Holds(runID) {
			return c.ID
		}
	}
	t.Fatalf("%s holds no slot", runID)
	return ""
}
