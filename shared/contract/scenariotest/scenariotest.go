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
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sparkflow/sparkflow/shared/contract/backendtest"
	"github.com/sparkflow/sparkflow/shared/logs"
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
	// FailStarts makes the pool's next launches fail to start, one per EMR reason code.
	FailStarts(pool string, codes ...string) error
	// EndIdle ends a cluster as EMR's auto-termination policy ends an idle one (TERMINATED,
	// ALL_STEPS_COMPLETED).
	EndIdle(clusterID string) error
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
	// LoseExecutionEvents makes the next n execution status events go undelivered.
	LoseExecutionEvents(n int) error
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
	{"execution-ended-event-lost-reconciled", "executions", stoppedExecutionUnseen},
	{"emr-api-throttled", "throttle", throttledEMR},
	{"failed-starts-held-until-healed", "", failedStartsHeld},
	{"idle-cluster-replaced-on-demand", "", idleOnDemand},
	{"elastic-pool-scales-out-and-in", "", elasticScenario},
	{"idle-cluster-drains-before-its-end", "", drainScenario},
	{"metrics-count-and-measure", "metrics", metricsScenario},
	{"backfill-paced-idempotent-cancelled", "", backfillScenario},
	{"priorities-served-high-first", "", prioritiesScenario},
	{"queue-full-refused", "", queueFullScenario},
	{"dependencies-wait-for-upstream", "", dependenciesScenario},
	{"upstream-failed-ends-dependents", "", upstreamFailedScenario},
	{"max-concurrent-never-exceeded", "", maxConcurrentScenario},
	{"schedule-fires-one-run-per-time", "schedules", scheduleScenario},
}

// Scheduler is a World whose transforms' schedules can be fired on demand, as the home's scheduler
// (the engine's; EventBridge Scheduler) fires them when their time comes.
type Scheduler interface {
	// FireSchedule does what the home's scheduler does for transform's firing at at: it delivers
	// the firing, unless the schedule is paused (fired false). A transform without a schedule is
	// an error.
	FireSchedule(ctx context.Context, transform string, at time.Time) (fired bool, err error)
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
	case "metrics":
		_, ok := w.(Meter)
		return ok
	case "schedules":
		_, ok := w.(Scheduler)
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

// CheckLogs checks the rule of SparkFlow's logs against what the suite left in log (the local
// engine's log file, or the AWS functions' output): every JSON line that concerns one of b's runs
// carries its run_id, attempt and pool (and a step's cluster_id). It fails t when a line breaks the
// rule or when a run is on too few lines for the check to mean anything.
func CheckLogs(t *testing.T, b sparkflow.Backend, log []byte) {
	t.Helper()
	runs, err := b.ListRuns(context.Background(), sparkflow.RunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) < 10 {
		t.Fatalf("%d runs to check the logs of; the scenarios make more", len(runs))
	}
	pools := map[string]string{}
	for _, r := range runs {
		pools[r.ID] = r.Pool
	}
	problems, per := logs.Check(log, pools)
	for i, p := range problems {
		if i == 20 {
			t.Errorf("… and %d more", len(problems)-20)
			break
		}
		t.Error(p)
	}
	for _, r := range runs {
		// A run that succeeded went through every task of its workflow: its acceptance, slot, step,
		// step states, attempt and end are each logged. Any other was at least accepted. (On AWS a
		// cancel is done by the caller's process, whose lines are not the functions'.)
		least := 1
		if r.Status == sparkflow.RunSucceeded {
			least = 4
		}
		if per[r.ID] < least {
			t.Errorf("run %s (%s) is on %d log lines, want at least %d", r.ID, r.Status, per[r.ID], least)
		}
	}
}
