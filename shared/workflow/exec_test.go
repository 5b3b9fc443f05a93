package workflow

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func newRunExec(t *testing.T, in Input) *Exec {
	t.Helper()
	raw, _ := json.Marshal(in)
	x, err := NewExec(Run(), raw, t0, nil, ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func mustStep(t *testing.T, s Step, kind StepKind, task string) Step {
	t.Helper()
	if s.Kind != kind || (task != "" && s.Task != task) {
		t.Fatalf("step %+v, want kind %d task %q", s, kind, task)
	}
	return s
}

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

// The machine on the interleavings the simulation produces: a token before its function returns, a
// report from an invocation long gone, a failure that the token's result outranks, timers.
func TestExecUnderInterleavings(t *testing.T) {
	in := InputOf(sparkflow.Run{ID: "r", QueueTimeoutSeconds: 60, TimeoutSeconds: 120}, 0)
	grant := TokenResult{Output: json.RawMessage(`{"clusterId":"j-1"}`)}

	t.Run("a task resumes its own token before it returns", func(t *testing.T) {
		x := newRunExec(t, in)
		s := mustStep(t, x.Begin(t0), Invoke, TaskReserve)
		if _, err := x.Token(at(1), s.Token, grant); err != nil {
			t.Fatal(err)
		}
		mustStep(t, x.TaskDone(at(1), s.Invocation, json.RawMessage("null"), nil), Invoke, TaskSubmit)
	})
	t.Run("the token's result outranks its function's failure", func(t *testing.T) {
		x := newRunExec(t, in)
		s := x.Begin(t0)
		x.Token(at(1), s.Token, grant)
		mustStep(t, x.TaskDone(at(1), s.Invocation, nil, &Failure{Name: "Lambda.Unknown", Cause: "timed out"}), Invoke, TaskSubmit)
	})
	t.Run("a report of an invocation given up on changes nothing, and its token is stale", func(t *testing.T) {
		x := newRunExec(t, in)
		first := x.Begin(t0)
		retry := x.TaskDone(at(1), first.Invocation, nil, &Failure{Name: "Lambda.Unknown", Cause: "response lost"})
		if retry.Kind != Wait || !retry.Until.Equal(at(2)) || x.Waits() != "" {
			t.Fatalf("retry wait %+v, waits %q", retry, x.Waits())
		}
		second := mustStep(t, x.Timer(at(2)), Invoke, TaskReserve)
		if second.Token == first.Token || second.Invocation == first.Invocation {
			t.Fatalf("a retried attempt gets a new token and invocation: %+v %+v", first, second)
		}
		if s := x.TaskDone(at(3), first.Invocation, json.RawMessage("null"), nil); s.Kind != Wait || x.Waits() != second.Token {
			t.Fatalf("the ghost's return moved the execution: %+v", s)
		}
		if _, err := x.Token(at(3), first.Token, grant); !sparkflow.IsCode(err, sparkflow.NotFound) {
			t.Fatalf("the ghost's token: %v", err)
		}
		mustStep(t, x.TaskDone(at(3), second.Invocation, json.RawMessage("null"), nil), Wait, "")
		s, err := x.Token(at(4), second.Token, grant)
		if err != nil {
			t.Fatal(err)
		}
		mustStep(t, s, Invoke, TaskSubmit)
	})
	t.Run("a token used is stale", func(t *testing.T) {
		x := newRunExec(t, in)
		s := x.Begin(t0)
		x.TaskDone(at(1), s.Invocation, json.RawMessage("null"), nil)
		x.Token(at(2), s.Token, grant)
		if _, err := x.Token(at(2), s.Token, grant); !sparkflow.IsCode(err, sparkflow.NotFound) {
			t.Fatalf("second use: %v", err)
		}
	})
	t.Run("the queue timeout counts from the attempt's start and goes to Finish", func(t *testing.T) {
		x := newRunExec(t, in)
		s := x.Begin(t0)
		w := x.TaskDone(at(5), s.Invocation, json.RawMessage("null"), nil)
		if w.Kind != Wait || !w.Until.Equal(at(60)) {
			t.Fatalf("wait %+v", w)
		}
		if early := x.Timer(at(59)); early.Kind != Wait {
			t.Fatalf("a timer before its time fired: %+v", early)
		}
		f := mustStep(t, x.Timer(at(60)), Invoke, TaskFinish)
		var p FinishInput
		json.Unmarshal(f.Payload, &p)
		if p.Outcome.Decode().Cause != core.CauseQueueTimeout {
			t.Fatalf("finish payload %s", f.Payload)
		}
	})
	t.Run("finish says retry: a new attempt at Reserve; then done", func(t *testing.T) {
		x := newRunExec(t, in)
		s := x.Begin(t0)
		x.Token(t0, s.Token, grant)
		s = x.TaskDone(t0, s.Invocation, json.RawMessage("null"), nil)
		x.Token(t0, s.Token, TokenResult{Output: json.RawMessage(`{"stepState":"FAILED"}`)})
		s = mustStep(t, x.TaskDone(t0, s.Invocation, json.RawMessage("null"), nil), Invoke, TaskFinish)
		s = mustStep(t, x.TaskDone(t0, s.Invocation, json.RawMessage(`{"retry":true,"status":"WAITING","attempt":2}`), nil), Invoke, TaskReserve)
		x.Token(t0, s.Token, TokenResult{Failure: &Failure{Name: ErrorCancelled, Cause: "cancelled"}})
		s = mustStep(t, x.TaskDone(t0, s.Invocation, json.RawMessage("null"), nil), Invoke, TaskFinish)
		end := mustStep(t, x.TaskDone(t0, s.Invocation, json.RawMessage(`{"retry":false,"status":"CANCELLED","attempt":1}`), nil), End, "")
		if end.Result.Status != Succeeded {
			t.Fatalf("end %+v", end.Result)
		}
		if r, ok := x.Ended(); !ok || r.Status != Succeeded {
			t.Fatalf("ended %+v %v", r, ok)
		}
	})
	t.Run("finish failing for good fails the execution", func(t *testing.T) {
		x, _ := NewExec(Run(), mustJSON(map[string]any{"runId": "r", "finish": map[string]any{"attempt": 1}, "outcome": map[string]any{"stepState": "COMPLETED"}}), t0, &Resume{At: StateFinish}, ExecOptions{Retry: &Retry{Interval: time.Second, BackoffRate: 1, MaxAttempts: 1}})
		s := mustStep(t, x.Begin(t0), Invoke, TaskFinish)
		s = x.TaskDone(t0, s.Invocation, nil, errors.New("boom"))
		s = mustStep(t, x.Timer(at(1)), Invoke, TaskFinish)
		end := mustStep(t, x.TaskDone(at(1), s.Invocation, nil, errors.New("boom")), End, "")
		if end.Result.Status != Failed || end.Result.Error != ErrorFinishFailed {
			t.Fatalf("end %+v", end.Result)
		}
	})
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
