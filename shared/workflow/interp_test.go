package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// script says what each task does on its nth call (1-based): resume its token (with output or a
// failure), return an error, or do nothing (the wait runs into its timeout).
type step struct {
	resume  string // JSON sent with SendTaskSuccess
	failure *Failure
	err     error
	result  string // a non-waiting task's result (Finish)
}

type recorder struct {
	mu       sync.Mutex
	calls    []string
	finishes []FinishInput
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.calls = append(r.calls, s)
	r.mu.Unlock()
}

// The run workflow, executed by the interpreter, on the cases its ASL (testdata/run.asl.json) encodes:
// each case scripts the tasks and checks which tasks ran, with what Finish was handed, and how the
// execution ended.
func TestRunWorkflowInterpreted(t *testing.T) {
	granted := `{"clusterId":"j-1"}`
	completed := `{"stepState":"COMPLETED"}`
	done := `{"retry":false,"status":"SUCCEEDED","attempt":1}`
	cases := []struct {
		name      string
		script    map[string][]step
		input     Input
		wantCalls string
		wantOut   []core.Outcome // what Finish decoded, per call
		wantEnd   Status
	}{
		{
			name:      "happy path",
			script:    map[string][]step{TaskReserve: {{resume: granted}}, TaskSubmit: {{resume: completed}}, TaskFinish: {{result: done}}},
			wantCalls: "reserve submit finish",
			wantOut:   []core.Outcome{{StepState: sparkflow.StepCompleted}},
			wantEnd:   Succeeded,
		},
		{
			name:      "no slot within the queue timeout",
			script:    map[string][]step{TaskReserve: {{}}, TaskFinish: {{result: `{"retry":false,"status":"TIMED_OUT","attempt":1}`}}},
			input:     Input{QueueTimeoutSeconds: 1},
			wantCalls: "reserve finish",
			wantOut:   []core.Outcome{{Cause: core.CauseQueueTimeout}},
			wantEnd:   Failed,
		},
		{
			name:      "the step outlives the run's timeout",
			script:    map[string][]step{TaskReserve: {{resume: granted}}, TaskSubmit: {{}}, TaskFinish: {{result: `{"retry":false,"status":"TIMED_OUT","attempt":1}`}}},
			input:     Input{TimeoutSeconds: 1},
			wantCalls: "reserve submit finish",
			wantOut:   []core.Outcome{{Cause: core.CauseTimeout}},
			wantEnd:   Failed,
		},
		{
			name: "transient errors are retried, then the task succeeds",
			script: map[string][]step{
				TaskReserve: {{err: sparkflow.Errorf(sparkflow.Transient, "throttled")}, {err: sparkflow.Errorf(sparkflow.Internal, "crashed")}, {resume: granted}},
				TaskSubmit:  {{resume: completed}}, TaskFinish: {{result: done}}},
			wantCalls: "reserve reserve reserve submit finish",
			wantOut:   []core.Outcome{{StepState: sparkflow.StepCompleted}},
			wantEnd:   Succeeded,
		},
		{
			name: "a task failing for good is caught and ends the attempt as SubmitFailed with its message",
			script: map[string][]step{
				TaskReserve: {{resume: granted}}, TaskSubmit: {{err: sparkflow.Errorf(sparkflow.Conflict, "run r is FAILED")}},
				TaskFinish: {{result: `{"retry":false,"status":"FAILED","attempt":1}`}}},
			wantCalls: "reserve submit finish",
			wantOut:   []core.Outcome{{Cause: core.CauseSubmitFailed, Reason: "run r is FAILED"}},
			wantEnd:   Failed,
		},
		{
			name: "transient errors beyond the retries are caught too",
			script: map[string][]step{
				TaskReserve: {{err: sparkflow.Errorf(sparkflow.Transient, "t1")}, {err: sparkflow.Errorf(sparkflow.Transient, "t2")}, {err: sparkflow.Errorf(sparkflow.Transient, "t3")}},
				TaskFinish:  {{result: `{"retry":false,"status":"FAILED","attempt":1}`}}},
			wantCalls: "reserve reserve reserve finish",
			wantOut:   []core.Outcome{{Cause: core.CauseSubmitFailed, Reason: "t3"}},
			wantEnd:   Failed,
		},
		{
			name: "a cancelled wait goes to Finish as cancelled",
			script: map[string][]step{
				TaskReserve: {{failure: &Failure{Name: ErrorCancelled, Cause: "cancelled by request"}}},
				TaskFinish:  {{result: `{"retry":false,"status":"CANCELLED","attempt":1}`}}},
			wantCalls: "reserve finish",
			wantOut:   []core.Outcome{{StepState: sparkflow.StepCancelled, Cause: core.CauseCancelled}},
			wantEnd:   Succeeded,
		},
		{
			name: "Finish says retry: the next attempt starts at Reserve",
			script: map[string][]step{
				TaskReserve: {{resume: granted}, {resume: granted}},
				TaskSubmit:  {{resume: `{"stepState":"FAILED","reason":"exit 1"}`}, {resume: completed}},
				TaskFinish:  {{result: `{"retry":true,"status":"","attempt":2}`}, {result: done}}},
			wantCalls: "reserve submit finish reserve submit finish",
			wantOut:   []core.Outcome{{StepState: sparkflow.StepFailed, Reason: "exit 1"}, {StepState: sparkflow.StepCompleted}},
			wantEnd:   Succeeded,
		},
		{
			name:      "a held run waits in Hold, then reserves once released",
			input:     Input{Held: true},
			script:    map[string][]step{TaskHold: {{resume: `{}`}}, TaskReserve: {{resume: granted}}, TaskSubmit: {{resume: completed}}, TaskFinish: {{result: done}}},
			wantCalls: "hold reserve submit finish",
			wantOut:   []core.Outcome{{StepState: sparkflow.StepCompleted}},
			wantEnd:   Succeeded,
		},
		{
			name:      "a held run whose upstream failed goes from Hold to Finish, which says it ended",
			input:     Input{Held: true},
			script:    map[string][]step{TaskHold: {{failure: &Failure{Name: ErrorUpstreamFailed, Cause: "upstream a ended FAILED"}}}, TaskFinish: {{result: `{"retry":false,"status":"UPSTREAM_FAILED","attempt":1}`}}},
			wantCalls: "hold finish",
			wantOut:   []core.Outcome{{StepState: "", Cause: core.CauseSubmitFailed, Reason: "upstream a ended FAILED"}},
			wantEnd:   Succeeded,
		},
		{
			name: "a transient Finish error is retried",
			script: map[string][]step{
				TaskReserve: {{resume: granted}}, TaskSubmit: {{resume: completed}},
				TaskFinish: {{err: sparkflow.Errorf(sparkflow.Transient, "throttled")}, {result: done}}},
			wantCalls: "reserve submit finish finish",
			wantOut:   []core.Outcome{{StepState: sparkflow.StepCompleted}, {StepState: sparkflow.StepCompleted}},
			wantEnd:   Succeeded,
		},
		{
			name: "a Finish failing for good fails the execution",
			script: map[string][]step{
				TaskReserve: {{resume: granted}}, TaskSubmit: {{resume: completed}},
				TaskFinish: {{err: sparkflow.Errorf(sparkflow.NotFound, "run r not found")}}},
			wantCalls: "reserve submit finish",
			wantOut:   []core.Outcome{{StepState: sparkflow.StepCompleted}},
			wantEnd:   Failed,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, in, ends := newScripted(t, c.script)
			input := c.input
			input.RunID, input.Finish.Attempt = "r", 1
			if input.QueueTimeoutSeconds == 0 {
				input.QueueTimeoutSeconds = 60
			}
			if input.TimeoutSeconds == 0 {
				input.TimeoutSeconds = 60
			}
			raw, _ := json.Marshal(input)
			if ok, err := in.Start(context.Background(), "r", raw, nil); !ok || err != nil {
				t.Fatalf("start: %v %v", ok, err)
			}
			var res Result
			select {
			case res = <-ends:
			case <-time.After(10 * time.Second):
				t.Fatal("the execution did not end")
			}
			if got := strings.Join(rec.calls, " "); got != c.wantCalls {
				t.Errorf("tasks ran %q, want %q", got, c.wantCalls)
			}
			if len(rec.finishes) != len(c.wantOut) {
				t.Fatalf("finish ran %d times, want %d", len(rec.finishes), len(c.wantOut))
			}
			for i, f := range rec.finishes {
				if got := f.Outcome.Decode(); got != c.wantOut[i] {
					t.Errorf("finish %d decoded %+v, want %+v (handed %+v)", i+1, got, c.wantOut[i], f.Outcome)
				}
				if f.RunID != "r" {
					t.Errorf("finish %d for run %q", i+1, f.RunID)
				}
			}
			if c.wantEnd == Failed && res.Error != ErrorRunFailed && res.Error != ErrorFinishFailed {
				t.Errorf("execution failed with %s, want %s or %s", res.Error, ErrorRunFailed, ErrorFinishFailed)
			}
			if res.Status != c.wantEnd {
				t.Errorf("execution %s (%s: %s), want %s", res.Status, res.Error, res.Cause, c.wantEnd)
			}
		})
	}
}

// newScripted returns an interpreter of the run workflow whose tasks follow script, with fast retries.
func newScripted(t *testing.T, script map[string][]step) (*recorder, *Interpreter, chan Result) {
	t.Helper()
	rec := &recorder{}
	var in *Interpreter
	n := map[string]int{}
	var mu sync.Mutex
	next := func(task string) step {
		mu.Lock()
		defer mu.Unlock()
		n[task]++
		s := script[task]
		if n[task] > len(s) {
			t.Errorf("task %s called %d times; the script has %d", task, n[task], len(s))
			return step{err: errors.New("unscripted call")}
		}
		return s[n[task]-1]
	}
	wait := func(task string) TaskFunc {
		return func(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
			rec.add(task)
			var p TokenInput
			if err := json.Unmarshal(raw, &p); err != nil || p.Token == "" || p.RunID != "r" {
				t.Errorf("%s payload %s", task, raw)
			}
			s := next(task)
			switch {
			case s.err != nil:
				return nil, s.err
			case s.resume != "":
				go in.SendTaskSuccess(ctx, p.Token, []byte(s.resume))
			case s.failure != nil:
				go in.SendTaskFailure(ctx, p.Token, s.failure.Name, s.failure.Cause)
			}
			return json.RawMessage("null"), nil
		}
	}
	finish := func(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
		rec.add(TaskFinish)
		var p FinishInput
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Errorf("finish payload %s: %v", raw, err)
		}
		rec.mu.Lock()
		rec.finishes = append(rec.finishes, p)
		rec.mu.Unlock()
		s := next(TaskFinish)
		if s.err != nil {
			return nil, s.err
		}
		return json.RawMessage(s.result), nil
	}
	ends := make(chan Result, 1)
	var err error
	in, err = NewInterpreter(Run(), map[string]TaskFunc{TaskHold: wait(TaskHold), TaskReserve: wait(TaskReserve), TaskSubmit: wait(TaskSubmit), TaskFinish: finish},
		Options{Retry: &Retry{Interval: time.Millisecond, BackoffRate: 1, MaxAttempts: 2}, OnEnd: func(name string, r Result) { ends <- r }})
	if err != nil {
		t.Fatal(err)
	}
	return rec, in, ends
}

func TestOneExecutionPerNameAndStaleTokens(t *testing.T) {
	block := make(chan struct{})
	var calls sync.WaitGroup
	calls.Add(1)
	in, err := NewInterpreter(Run(), map[string]TaskFunc{
		TaskReserve: func(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
			calls.Done()
			<-block
			return json.RawMessage("null"), nil
		},
		TaskHold:   func(context.Context, json.RawMessage) (json.RawMessage, error) { return nil, nil },
		TaskSubmit: func(context.Context, json.RawMessage) (json.RawMessage, error) { return nil, nil },
		TaskFinish: func(context.Context, json.RawMessage) (json.RawMessage, error) { return nil, nil },
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	raw := []byte(`{"runId":"r","queueTimeoutSeconds":60,"timeoutSeconds":60,"epoch":0,"finish":{"attempt":1}}`)
	if ok, _ := in.Start(ctx, "r", raw, nil); !ok {
		t.Fatal("first start refused")
	}
	calls.Wait()
	if ok, _ := in.Start(ctx, "r", raw, nil); ok {
		t.Fatal("a second execution of the same name started while the first runs")
	}
	if in.Active() != 1 {
		t.Fatalf("%d active", in.Active())
	}
	if err := in.SendTaskSuccess(ctx, "no-such-token", []byte(`{}`)); !sparkflow.IsCode(err, sparkflow.NotFound) {
		t.Fatalf("stale token: %v", err)
	}
	close(block)
	cancel()
	in.Wait()
	if in.Active() != 0 {
		t.Fatalf("%d still active after stop", in.Active())
	}
}

// A resumed execution keeps the time its wait began: a wait whose timeout has passed times out at once.
func TestResumeKeepsWhenAWaitBegan(t *testing.T) {
	rec, in, ends := newScripted(t, map[string][]step{TaskReserve: {{resume: `{"clusterId":"j-1"}`}}, TaskSubmit: {{}},
		TaskFinish: {{result: `{"retry":false,"status":"TIMED_OUT","attempt":1}`}}})
	raw := []byte(`{"runId":"r","queueTimeoutSeconds":60,"timeoutSeconds":3600,"epoch":0,"finish":{"attempt":1}}`)
	began := time.Now().Add(-2 * time.Hour)
	if ok, err := in.Start(context.Background(), "r", raw, &Resume{At: StateReserve, EnteredAt: map[string]time.Time{StateSubmit: began}}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	select {
	case <-ends:
	case <-time.After(5 * time.Second):
		t.Fatal("the resumed wait did not time out at once")
	}
	if got := rec.finishes[0].Outcome.Decode(); got.Cause != core.CauseTimeout {
		t.Fatalf("finish handed %+v", got)
	}
	if _, err := in.Start(context.Background(), "x", raw, &Resume{At: "Nowhere"}); err == nil {
		t.Fatal("resume at an unknown state accepted")
	}
}
