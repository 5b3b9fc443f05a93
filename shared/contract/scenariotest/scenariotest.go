// Package scenariotest is the scenario suite both homes run: the same scenarios on the local engine
// and on the AWS twin (the deployed stack executed offline), through the Backend face the CLI and UI
// use, plus the few controls a scenario needs to make the world misbehave (EMR events dropped or
// duplicated, a cluster lost, a resume lost, the reconciler run now). Scenarios that need a part only
// one home has (the runs queue, Step Functions executions) run where the World provides it.
package scenariotest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sparkflow/sparkflow/shared/contract/backendtest"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// World is a home under test.
type World interface {
	Backend() sparkflow.Backend
	// Wait bounds a short run from submit to end.
	Wait() time.Duration
	// DropStepEvents drops the next n step events in state of the steps whose name contains
	// nameContains (a run id), as if EventBridge never delivered them.
	DropStepEvents(nameContains string, state sparkflow.StepState, n int) error
	// DuplicateStepEvents delivers the next n step events of those steps twice.
	DuplicateStepEvents(nameContains string, n int) error
	// DelayStepEvents holds back the next n step events in state of those steps for d, so that later
	// events overtake them (EventBridge does not order events).
	DelayStepEvents(nameContains string, state sparkflow.StepState, n int, d time.Duration) error
	// LoseCluster ends a cluster as EMR ends a lost one (TERMINATED_WITH_ERRORS, INSTANCE_FAILURE).
	LoseCluster(clusterID string) error
	// LoseResumes makes the next n SendTaskSuccess calls fail as a throttled or dropped call does.
	LoseResumes(n int) error
	// Reconcile runs the reconciler once, now.
	Reconcile(ctx context.Context) error
}

// Queue is a World with a runs queue (the AWS home).
type Queue interface {
	// SendRaw puts body on the runs queue as any producer would.
	SendRaw(ctx context.Context, body string) error
	// DeliverNextTwice makes the queue hand the next message to the intake twice (a redelivery).
	DeliverNextTwice() error
	// Rejected lists the rejected requests.
	Rejected(ctx context.Context) ([]sparkflow.Rejected, error)
	// DeadLetters counts the messages in the runs dead-letter queue.
	DeadLetters(ctx context.Context) (int, error)
}

// Throttler is a World whose EMR API can be throttled, and which counts the steps added for a run.
type Throttler interface {
	// ThrottleEMR makes that share of the functions' EMR calls fail with a ThrottlingException.
	ThrottleEMR(rate float64) error
	// StepsAdded counts the EMR steps added for a run (every attempt).
	StepsAdded(ctx context.Context, runID string) (int, error)
}

// Executions is a World whose workflows can be stopped from outside (Step Functions' StopExecution).
type Executions interface {
	StopExecution(ctx context.Context, runID string) error
}

// Scenario is one scenario; Needs names the capability it needs beyond World ("" for none).
type Scenario struct {
	Name  string
	Needs string
	Run   func(t *T, w World)
}

// T is a scenario's test: it keeps the first failure's message, which the report repeats.
type T struct {
	*testing.T
	why string
}

func (t *T) note(msg string) {
	if t.why == "" {
		t.why = msg
	}
}

// Fatalf records why and fails the scenario.
func (t *T) Fatalf(format string, args ...any) {
	t.T.Helper()
	t.note(fmt.Sprintf(format, args...))
	t.T.Fatalf(format, args...)
}

// Fatal records why and fails the scenario.
func (t *T) Fatal(args ...any) {
	t.T.Helper()
	t.note(fmt.Sprint(args...))
	t.T.Fatal(args...)
}

// Scenarios is the suite, in the order it runs.
var Scenarios = []Scenario{
	{"happy-path", "", happyPath},
	{"step-failure-then-retry", "", retryAfterFailure},
	{"attempt-timeout", "", attemptTimeout},
	{"queue-timeout", "", queueTimeout},
	{"cancel-while-running", "", cancelRunning},
	{"cancel-while-waiting", "", cancelWaiting},
	{"cluster-lost-mid-run", "", clusterLost},
	{"duplicated-step-events", "", duplicatedEvents},
	{"late-and-reordered-step-events", "", reorderedEvents},
	{"dropped-step-event-repaired", "", droppedEvent},
	{"lost-resume-repaired", "", lostResume},
	{"message-delivered-twice-with-id", "queue", func(t *T, w World) { deliveredTwice(t, w, true) }},
	{"message-delivered-twice-without-id", "queue", func(t *T, w World) { deliveredTwice(t, w, false) }},
	{"malformed-message-rejected-then-dlq", "queue", malformed},
	{"execution-stopped-from-outside", "executions", stoppedExecution},
	{"emr-api-throttled", "throttle", throttledEMR},
}

// Has reports whether w provides what a scenario needs.
func Has(w World, needs string) bool {
	switch needs {
	case "queue":
		_, ok := w.(Queue)
		return ok
	case "executions":
		_, ok := w.(Executions)
		return ok
	case "throttle":
		_, ok := w.(Throttler)
		return ok
	}
	return true
}

// Run runs every scenario w can run as a subtest and reports each one's outcome to report (name,
// passed, seconds, why); report may be nil.
func Run(t *testing.T, w World, report func(name string, passed bool, seconds float64, why string)) {
	for _, sc := range Scenarios {
		if !Has(w, sc.Needs) {
			continue
		}
		start := time.Now()
		var why string
		ran := false
		ok := t.Run(sc.Name, func(t *testing.T) {
			ran = true
			st := &T{T: t}
			defer func() {
				if t.Failed() {
					why = st.why
					if why == "" {
						why = "failed (see the test log)"
					}
				}
			}()
			sc.Run(st, w)
		})
		if report != nil && ran {
			report(sc.Name, ok, time.Since(start).Seconds(), why)
		}
	}
}

var seq atomic.Int64

func name(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%100000, seq.Add(1))
}

func pool(t *T, w World, clusters, slots int) string {
	t.Helper()
	p := name("sc")
	backendtest.ReadyPool(t, w.Backend(), p, clusters, slots, w.Wait())
	return p
}

func transform(t *T, w World, p string, tr sparkflow.Transform) sparkflow.Transform {
	t.Helper()
	tr.Name, tr.Pool, tr.Kind = name("tr"), p, sparkflow.KindCommand
	out, err := w.Backend().CreateTransform(context.Background(), tr)
	if err != nil {
		t.Fatalf("create transform: %v", err)
	}
	return out
}

func submit(t *T, w World, tr string) sparkflow.Run {
	t.Helper()
	r, err := w.Backend().SubmitRun(context.Background(), sparkflow.RunRequest{ID: uuid.NewString(), Transform: tr})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return r
}

func status(s sparkflow.RunStatus) func(sparkflow.Run) bool {
	return func(r sparkflow.Run) bool { return r.Status == s }
}

// Diagnoser is a World that can say where a run's workflow stands (for a scenario that fails).
type Diagnoser interface {
	Diagnose(ctx context.Context, runID string) string
}

func ended(t *T, w World, id string, limit time.Duration) sparkflow.Run {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		r, err := w.Backend().GetRun(context.Background(), id)
		if err == nil && r.Status.Terminal() {
			return r
		}
		if time.Now().After(deadline) {
			if d, ok := w.(Diagnoser); ok {
				t.Logf("run %s: %+v\n%s", id, r, d.Diagnose(context.Background(), id))
			}
			t.Fatalf("timed out after %s waiting for run %s to end (it is %s)", limit, id, r.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func must(t *T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// maxOverlap is the most intervals open at one instant.
func maxOverlap(iv [][2]time.Time) int {
	type edge struct {
		at   time.Time
		open int
	}
	var es []edge
	for _, i := range iv {
		es = append(es, edge{i[0], 1}, edge{i[1], -1})
	}
	sort.Slice(es, func(a, b int) bool {
		if es[a].at.Equal(es[b].at) {
			return es[a].open < es[b].open // an end and a start at one instant do not overlap
		}
		return es[a].at.Before(es[b].at)
	})
	cur, most := 0, 0
	for _, e := range es {
		cur += e.open
		most = max(most, cur)
	}
	return most
}

// happyPath: 24 runs over a pool of 3 clusters × 2 slots all succeed, every cluster is used, and
// from the recorded times no cluster ever held more runs than its slots.
func happyPath(t *T, w World) {
	p := pool(t, w, 3, 2)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 0.5")})
	var ids []string
	for i := 0; i < 24; i++ {
		ids = append(ids, submit(t, w, tr.Name).ID)
	}
	byCluster := map[string][][2]time.Time{}
	for _, id := range ids {
		r := ended(t, w, id, 3*w.Wait())
		if r.Status != sparkflow.RunSucceeded {
			t.Fatalf("run %s %s: %s", r.ID, r.Status, r.Reason)
		}
		if r.ReservedAt == nil || r.EndedAt == nil {
			t.Fatalf("run %s has no reservation or end time", r.ID)
		}
		byCluster[r.ClusterID] = append(byCluster[r.ClusterID], [2]time.Time{*r.ReservedAt, *r.EndedAt})
	}
	if len(byCluster) != 3 {
		t.Fatalf("runs went to %d clusters, want all 3", len(byCluster))
	}
	for c, iv := range byCluster {
		if n := maxOverlap(iv); n > 2 {
			t.Fatalf("cluster %s held %d runs at once; it has 2 slots", c, n)
		}
	}
}

func retryAfterFailure(t *T, w World) {
	p := pool(t, w, 1, 2)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("test ${attempt} -ge 2"), MaxAttempts: 2})
	r := ended(t, w, submit(t, w, tr.Name).ID, w.Wait())
	if r.Status != sparkflow.RunSucceeded || r.Attempt != 2 {
		t.Fatalf("run %s attempt %d: %s", r.Status, r.Attempt, r.Reason)
	}
	if !historyHas(r, "attempt 1 of 2") {
		t.Fatalf("the history does not say why attempt 1 ended: %+v", r.History)
	}
}

func historyHas(r sparkflow.Run, note string) bool {
	for _, h := range r.History {
		if strings.Contains(h.Note, note) {
			return true
		}
	}
	return false
}

func attemptTimeout(t *T, w World) {
	p := pool(t, w, 1, 1)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 60"), TimeoutSeconds: 2})
	r := ended(t, w, submit(t, w, tr.Name).ID, w.Wait())
	if r.Status != sparkflow.RunTimedOut || !strings.Contains(r.Reason, "timeout") {
		t.Fatalf("run %s: %s", r.Status, r.Reason)
	}
	// Its step was cancelled: the record says so (CANCEL_PENDING is the step's last known state when
	// the run ended; EMR cancels asynchronously).
	if r.StepState != sparkflow.StepCancelPending && r.StepState != sparkflow.StepCancelled {
		t.Fatalf("the timed-out run's step is %s; its cancel was not recorded", r.StepState)
	}
	// The slot is free again: the next run goes through.
	quick := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("true")})
	if r := ended(t, w, submit(t, w, quick.Name).ID, w.Wait()); r.Status != sparkflow.RunSucceeded {
		t.Fatalf("the run after a timed-out one: %s %s", r.Status, r.Reason)
	}
}

func queueTimeout(t *T, w World) {
	p := pool(t, w, 1, 1)
	block := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 60")})
	waiter := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("true"), QueueTimeoutSeconds: 2})
	b := submit(t, w, block.Name)
	backendtest.WaitStatus(t, w.Backend(), b.ID, w.Wait(), status(sparkflow.RunRunning), "to run")
	r := ended(t, w, submit(t, w, waiter.Name).ID, w.Wait())
	if r.Status != sparkflow.RunTimedOut || !strings.Contains(r.Reason, "no free slot") {
		t.Fatalf("waiting run %s: %s", r.Status, r.Reason)
	}
	if _, err := w.Backend().CancelRun(context.Background(), b.ID); err != nil {
		t.Fatal(err)
	}
	if r := ended(t, w, b.ID, w.Wait()); r.Status != sparkflow.RunCancelled {
		t.Fatalf("blocker %s", r.Status)
	}
}

func cancelRunning(t *T, w World) {
	p := pool(t, w, 1, 1)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 60")})
	r := submit(t, w, tr.Name)
	backendtest.WaitStatus(t, w.Backend(), r.ID, w.Wait(), status(sparkflow.RunRunning), "to run")
	if _, err := w.Backend().CancelRun(context.Background(), r.ID); err != nil {
		t.Fatal(err)
	}
	if r := ended(t, w, r.ID, w.Wait()); r.Status != sparkflow.RunCancelled || r.StepState != sparkflow.StepCancelled {
		t.Fatalf("cancelled run %s, step %s", r.Status, r.StepState)
	}
}

func cancelWaiting(t *T, w World) {
	p := pool(t, w, 1, 1)
	block := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 60")})
	b := submit(t, w, block.Name)
	backendtest.WaitStatus(t, w.Backend(), b.ID, w.Wait(), status(sparkflow.RunRunning), "to run")
	r := submit(t, w, block.Name)
	backendtest.WaitStatus(t, w.Backend(), r.ID, w.Wait(), status(sparkflow.RunWaiting), "to wait for a slot")
	if _, err := w.Backend().CancelRun(context.Background(), r.ID); err != nil {
		t.Fatal(err)
	}
	if r := ended(t, w, r.ID, w.Wait()); r.Status != sparkflow.RunCancelled || r.StepID != "" {
		t.Fatalf("cancelled waiting run %s, step %q", r.Status, r.StepID)
	}
	if _, err := w.Backend().CancelRun(context.Background(), b.ID); err != nil {
		t.Fatal(err)
	}
	ended(t, w, b.ID, w.Wait())
}

func clusterLost(t *T, w World) {
	p := pool(t, w, 2, 1)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 3"), MaxAttempts: 2})
	r := submit(t, w, tr.Name)
	r = backendtest.WaitStatus(t, w.Backend(), r.ID, w.Wait(), status(sparkflow.RunRunning), "to run")
	lost := r.ClusterID
	must(t, w.LoseCluster(lost))
	done := ended(t, w, r.ID, 2*w.Wait())
	if done.Status != sparkflow.RunSucceeded || done.Attempt != 2 || done.ClusterID == lost {
		t.Fatalf("run after its cluster was lost: %s attempt %d on %s (lost %s): %s", done.Status, done.Attempt, done.ClusterID, lost, done.Reason)
	}
	// The pool replaces the lost cluster.
	backendtest.Eventually(t, 2*w.Wait(), "pool "+p+" healed", func() bool {
		v, err := w.Backend().GetPool(context.Background(), p)
		return err == nil && v.Ready == 2 && v.Status == sparkflow.PoolReady
	})
}

func duplicatedEvents(t *T, w World) {
	p := pool(t, w, 1, 2)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 0.5"), MaxAttempts: 1})
	id := uuid.NewString()
	must(t, w.DuplicateStepEvents(id, 10))
	if _, err := w.Backend().SubmitRun(context.Background(), sparkflow.RunRequest{ID: id, Transform: tr.Name}); err != nil {
		t.Fatal(err)
	}
	r := ended(t, w, id, w.Wait())
	if r.Status != sparkflow.RunSucceeded || r.Attempt != 1 {
		t.Fatalf("run with duplicated events %s attempt %d: %s", r.Status, r.Attempt, r.Reason)
	}
}

func droppedEvent(t *T, w World) {
	p := pool(t, w, 1, 1)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 1")})
	id := uuid.NewString()
	must(t, w.DropStepEvents(id, sparkflow.StepCompleted, 1))
	if _, err := w.Backend().SubmitRun(context.Background(), sparkflow.RunRequest{ID: id, Transform: tr.Name}); err != nil {
		t.Fatal(err)
	}
	backendtest.WaitStatus(t, w.Backend(), id, w.Wait(), status(sparkflow.RunRunning), "to run")
	time.Sleep(3 * time.Second) // the step ends; its COMPLETED event is lost
	if r, _ := w.Backend().GetRun(context.Background(), id); r.Status.Terminal() {
		t.Fatalf("the run ended (%s) although its step's end event was dropped", r.Status)
	}
	must(t, w.Reconcile(context.Background()))
	if r := ended(t, w, id, w.Wait()); r.Status != sparkflow.RunSucceeded {
		t.Fatalf("repaired run %s: %s", r.Status, r.Reason)
	}
}

func lostResume(t *T, w World) {
	p := pool(t, w, 1, 1)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 1")})
	r := submit(t, w, tr.Name)
	backendtest.WaitStatus(t, w.Backend(), r.ID, w.Wait(), status(sparkflow.RunRunning), "to run")
	must(t, w.LoseResumes(3))
	backendtest.WaitStatus(t, w.Backend(), r.ID, w.Wait(), func(r sparkflow.Run) bool { return r.StepState == sparkflow.StepCompleted }, "to record its step's end")
	time.Sleep(2 * time.Second)
	must(t, w.Reconcile(context.Background()))
	if done := ended(t, w, r.ID, w.Wait()); done.Status != sparkflow.RunSucceeded {
		t.Fatalf("run whose resume was lost: %s %s", done.Status, done.Reason)
	}
}

func deliveredTwice(t *T, w World, withID bool) {
	q := w.(Queue)
	p := pool(t, w, 1, 1)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("true")})
	body := fmt.Sprintf(`{"transform": %q}`, tr.Name)
	if withID {
		body = fmt.Sprintf(`{"id": %q, "transform": %q}`, uuid.NewString(), tr.Name)
	}
	must(t, q.DeliverNextTwice())
	must(t, q.SendRaw(context.Background(), body))
	var runs []sparkflow.Run
	backendtest.Eventually(t, w.Wait(), "the run to end", func() bool {
		runs, _ = w.Backend().ListRuns(context.Background(), sparkflow.RunFilter{Transform: tr.Name})
		return len(runs) > 0 && runs[0].Status.Terminal()
	})
	time.Sleep(2 * time.Second) // a second run, if any, would be recorded by now
	runs, _ = w.Backend().ListRuns(context.Background(), sparkflow.RunFilter{Transform: tr.Name})
	if len(runs) != 1 || runs[0].Status != sparkflow.RunSucceeded {
		t.Fatalf("one message delivered twice made %d runs (%+v)", len(runs), runs)
	}
}

func malformed(t *T, w World) {
	q := w.(Queue)
	ctx := context.Background()
	before, err := q.DeadLetters(ctx)
	must(t, err)
	marker := name("bad")
	must(t, q.SendRaw(ctx, `{"transform": "`+marker+`", "parmas": {}}`))
	backendtest.Eventually(t, w.Wait(), "a rejected record", func() bool {
		rej, _ := q.Rejected(ctx)
		for _, r := range rej {
			if strings.Contains(r.Body, marker) && strings.Contains(r.Reason, "parmas") {
				return true
			}
		}
		return false
	})
	backendtest.Eventually(t, 2*w.Wait(), "the message in the dead-letter queue", func() bool {
		n, err := q.DeadLetters(ctx)
		return err == nil && n == before+1
	})
}

func stoppedExecution(t *T, w World) {
	x := w.(Executions)
	p := pool(t, w, 1, 1)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 60")})
	r := submit(t, w, tr.Name)
	backendtest.WaitStatus(t, w.Backend(), r.ID, w.Wait(), status(sparkflow.RunRunning), "to run")
	must(t, x.StopExecution(context.Background(), r.ID))
	done := ended(t, w, r.ID, w.Wait())
	if done.Status == sparkflow.RunSucceeded || done.Reason == "" {
		t.Fatalf("run whose execution was stopped: %s %q", done.Status, done.Reason)
	}
	// Its slot is free: the next run goes through.
	quick := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("true")})
	if r := ended(t, w, submit(t, w, quick.Name).ID, w.Wait()); r.Status != sparkflow.RunSucceeded {
		t.Fatalf("the run after: %s %s", r.Status, r.Reason)
	}
}

// reorderedEvents: a step's RUNNING event comes after its COMPLETED one; the run ends SUCCEEDED with
// its start recorded all the same.
func reorderedEvents(t *T, w World) {
	p := pool(t, w, 1, 1)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 0.5")})
	id := uuid.NewString()
	must(t, w.DelayStepEvents(id, sparkflow.StepRunning, 1, 3*time.Second))
	if _, err := w.Backend().SubmitRun(context.Background(), sparkflow.RunRequest{ID: id, Transform: tr.Name}); err != nil {
		t.Fatal(err)
	}
	r := ended(t, w, id, w.Wait())
	if r.Status != sparkflow.RunSucceeded || r.Attempt != 1 {
		t.Fatalf("run with its RUNNING event late: %s attempt %d: %s", r.Status, r.Attempt, r.Reason)
	}
	backendtest.Eventually(t, w.Wait(), "the run's start time", func() bool {
		r, _ = w.Backend().GetRun(context.Background(), id)
		return r.StartedAt != nil
	})
	if r.StartedAt.After(*r.EndedAt) || (r.ReservedAt != nil && r.StartedAt.Before(*r.ReservedAt)) {
		t.Fatalf("start %v outside reserved %v .. ended %v", r.StartedAt, r.ReservedAt, r.EndedAt)
	}
}

// throttledEMR: a third of the functions' EMR calls are throttled; every run still succeeds, with
// exactly one step per attempt (a retried submit looks for its step before adding one).
func throttledEMR(t *T, w World) {
	th := w.(Throttler)
	p := pool(t, w, 1, 3)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("true")})
	must(t, th.ThrottleEMR(0.35))
	defer th.ThrottleEMR(0)
	var ids []string
	for i := 0; i < 6; i++ {
		ids = append(ids, submit(t, w, tr.Name).ID)
	}
	for _, id := range ids {
		r := ended(t, w, id, 2*w.Wait())
		if r.Status != sparkflow.RunSucceeded {
			t.Fatalf("run %s under throttling: %s %s", id, r.Status, r.Reason)
		}
		n, err := th.StepsAdded(context.Background(), id)
		must(t, err)
		if n != r.Attempt {
			t.Fatalf("run %s: %d steps added for %d attempts", id, n, r.Attempt)
		}
	}
}
