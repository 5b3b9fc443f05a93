package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// task runs a task state: attempts with its retriers, then its catchers. It returns the new data and
// the next state, or the failure that ends the execution.
func (in *Interpreter) task(ctx context.Context, st State, data any, start, execDeadline time.Time) (any, string, *Failure, error) {
	counts := make([]int, len(st.Retry))
	for {
		result, fail, err := in.attempt(ctx, st, data, start, execDeadline)
		if err != nil {
			return nil, "", nil, err
		}
		if fail == nil {
			if st.ResultSelector != nil {
				sel, err := build(st.ResultSelector, result, nil)
				if err != nil {
					return nil, "", nil, err
				}
				result = sel
			}
			out, err := applyResult(st, data, result)
			return out, st.Next, nil, err
		}
		if i := matchRetrier(st.Retry, fail.Name); i >= 0 {
			r := in.retrier(st.Retry[i])
			if counts[i] < r.MaxAttempts {
				counts[i]++
				delay := time.Duration(float64(time.Duration(r.IntervalSeconds)*time.Second) * math.Pow(r.BackoffRate, float64(counts[i]-1)))
				if in.opt.Retry != nil {
					delay = in.opt.Retry.Delay(counts[i])
				}
				in.opt.Log.Debug("task retry", "state", st.Name, "error", fail.Name, "attempt", counts[i])
				select {
				case <-ctx.Done():
					return nil, "", nil, errStopped
				case <-in.opt.Clock.After(delay):
				}
				start = in.opt.Clock.Now()
				continue
			}
		}
		for _, c := range st.Catch {
			if matches(c.ErrorEquals, fail.Name) {
				out, err := setPath(data, c.ResultPath, map[string]any{"Error": fail.Name, "Cause": fail.Cause})
				return out, c.Next, nil, err
			}
		}
		return nil, "", fail, nil
	}
}

func (in *Interpreter) retrier(r Retrier) Retrier {
	if in.opt.Retry != nil {
		r.MaxAttempts = in.opt.Retry.MaxAttempts
	}
	return r
}

func matchRetrier(rs []Retrier, name string) int {
	for i, r := range rs {
		if matches(r.ErrorEquals, name) {
			return i
		}
	}
	return -1
}

func matches(names []string, name string) bool {
	for _, n := range names {
		if n == name || n == ErrorAll || (n == ErrorTaskFailed && name != ErrorTimeout) {
			return true
		}
	}
	return false
}

// attempt invokes the task once and, for a .waitForTaskToken task, waits for its token. The result is
// the function's result wrapped as Step Functions' Lambda integration returns it ({"Payload": ...}),
// or the token's output.
func (in *Interpreter) attempt(ctx context.Context, st State, data any, start, execDeadline time.Time) (any, *Failure, error) {
	timeout := time.Duration(st.TimeoutSeconds) * time.Second
	if st.TimeoutSecondsPath != "" {
		v, err := getPath(data, st.TimeoutSecondsPath)
		if err != nil {
			return nil, nil, err
		}
		n, ok := v.(float64)
		if !ok || n <= 0 {
			return nil, nil, fmt.Errorf("%s = %v is not a positive number of seconds", st.TimeoutSecondsPath, v)
		}
		timeout = time.Duration(n * float64(time.Second))
	}
	var tok string
	var ch chan tokenResult
	context := map[string]any{}
	if st.WaitForToken {
		tok, ch = in.register()
		defer in.drop(tok)
		context["Task"] = map[string]any{"Token": tok}
	}
	var payload any
	if whole, ok := st.Payload["$"]; ok && len(st.Payload) == 1 {
		p, err := getPath(data, whole.(string))
		if err != nil {
			return nil, nil, err
		}
		payload = p
	} else {
		p, err := build(st.Payload, data, context)
		if err != nil {
			return nil, nil, err
		}
		payload = p
	}
	raw, _ := json.Marshal(payload)
	out, err := in.tasks[st.Task](ctx, raw)
	if ctx.Err() != nil {
		return nil, nil, errStopped
	}
	if err != nil {
		name := ErrorName(err)
		cause, _ := json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": name})
		f := &Failure{Name: name, Cause: string(cause)}
		if ch == nil {
			return nil, f, nil
		}
		// The task may have resumed its token before it failed: that resume stands.
		in.drop(tok)
		return lastChance(ch, f, nil)
	}
	if !st.WaitForToken {
		v, err := jsonValue(out)
		if err != nil {
			return nil, &Failure{Name: "Lambda.Unknown", Cause: err.Error()}, nil
		}
		return map[string]any{"Payload": v, "StatusCode": float64(200)}, nil, nil
	}
	var timer <-chan time.Time
	if timeout > 0 {
		timer = in.opt.Clock.After(start.Add(timeout).Sub(in.opt.Clock.Now()))
	}
	var execTimer <-chan time.Time
	if !execDeadline.IsZero() {
		execTimer = in.opt.Clock.After(execDeadline.Sub(in.opt.Clock.Now()))
	}
	select {
	case r := <-ch:
		return tokenOutcome(r)
	case <-timer:
		in.drop(tok)
		return lastChance(ch, &Failure{Name: ErrorTimeout, Cause: "the task ran longer than its timeout"}, nil)
	case <-execTimer:
		in.drop(tok)
		return lastChance(ch, nil, errExecTimedOut)
	case <-ctx.Done():
		return nil, nil, errStopped
	}
}

// lastChance honours a resume that came before the token was dropped.
func lastChance(ch chan tokenResult, f *Failure, err error) (any, *Failure, error) {
	select {
	case r := <-ch:
		return tokenOutcome(r)
	default:
		return nil, f, err
	}
}

func tokenOutcome(r tokenResult) (any, *Failure, error) {
	if r.err != nil {
		return nil, r.err, nil
	}
	v, err := jsonValue(r.output)
	if err != nil {
		return nil, &Failure{Name: "States.Runtime", Cause: err.Error()}, nil
	}
	return v, nil, nil
}
