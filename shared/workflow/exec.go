package workflow

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// Exec is one execution of a Definition as a deterministic state machine. It does no I/O and keeps no
// clock: its driver tells it what happened, and when (Begin, TaskDone, Token, Timer), and does what
// the returned Step asks (invoke a task, wait for a token or a time, or end). The Interpreter drives
// it with a goroutine per execution and real timers; the simulation drives it from a seeded schedule,
// so both run the one description with the same semantics: Step Functions' Retry and Catch,
// .waitForTaskToken tasks resumed by their token, a task attempt's TimeoutSeconds(Path), the
// execution's TimeoutSeconds, Pass and Choice states, ResultSelector, ResultPath and OutputPath.
type Exec struct {
	def      Definition
	opt      ExecOptions
	data     any
	state    State
	entered  map[string]time.Time // a resume's first entries into states, used once each
	deadline time.Time            // the execution's own timeout (zero: none)

	// The current task state's attempt.
	counts  []int     // retries made, per retrier
	start   time.Time // when the attempt began (its timeout counts from then)
	phase   phase
	invoke  int          // the current invocation's number
	token   string       // the token the attempt waits on ("" for a plain task)
	early   *TokenResult // what the token brought while the function still ran
	until   time.Time    // waiting, retrying: when the timer fires
	timeout time.Duration
	ended   *Result
}

type phase int

const (
	phaseIdle     phase = iota
	phaseInvoking       // the task's function runs
	phaseWaiting        // its function returned; the attempt waits for its token
	phaseRetrying       // the attempt failed; the next begins at until
)

// ExecOptions tune an execution.
type ExecOptions struct {
	// Retry, for tests, replaces the interval, backoff and attempts of every retrier.
	Retry *Retry
	// NewToken makes task tokens (default: a counter; the interpreter gives uuids).
	NewToken func() string
}

// StepKind says what a driver must do next.
type StepKind int

const (
	// Invoke: call Task's function with Payload (its token, if it waits for one, is Token); then
	// report its return with TaskDone(Invocation, ...).
	Invoke StepKind = iota + 1
	// Wait: wait for Token's result (Token), or until Until (Timer); Until is zero when no timer runs.
	Wait
	// End: the execution ended with Result.
	End
)

// Step is what an execution asks of its driver.
type Step struct {
	Kind       StepKind
	Invocation int
	Task       string
	Payload    json.RawMessage
	Token      string
	Until      time.Time
	Result     Result
}

// TokenResult is what SendTaskSuccess (Output) or SendTaskFailure (Failure) brings.
type TokenResult struct {
	Output  json.RawMessage
	Failure *Failure
}

// NewExec starts an execution of def with input (JSON) at now; resume, when set, starts it part way.
func NewExec(def Definition, input []byte, now time.Time, resume *Resume, opt ExecOptions) (*Exec, error) {
	if err := def.Check(); err != nil {
		return nil, err
	}
	data, err := jsonValue(input)
	if err != nil {
		return nil, fmt.Errorf("execution input: %w", err)
	}
	at := def.StartAt
	x := &Exec{def: def, opt: opt, data: data}
	if resume != nil {
		if _, ok := def.State(resume.At); !ok {
			return nil, fmt.Errorf("resume at %q, which is no state", resume.At)
		}
		at = resume.At
		x.entered = map[string]time.Time{}
		for k, v := range resume.EnteredAt {
			x.entered[k] = v
		}
	}
	if x.opt.NewToken == nil {
		n := 0
		x.opt.NewToken = func() string { n++; return fmt.Sprintf("token-%d", n) }
	}
	if def.TimeoutSeconds > 0 {
		x.deadline = now.Add(time.Duration(def.TimeoutSeconds) * time.Second)
	}
	x.state, _ = def.State(at)
	return x, nil
}

// Begin runs the execution from its first state to its first task (or its end).
func (x *Exec) Begin(now time.Time) Step { return x.run(now) }

// Waits reports the token the execution waits on now ("" when none): a token it no longer waits on is
// stale (Step Functions answers TaskDoesNotExist or TaskTimedOut).
func (x *Exec) Waits() string {
	if x.phase == phaseInvoking || x.phase == phaseWaiting {
		return x.token
	}
	return ""
}

// Ended returns the execution's result once it has ended.
func (x *Exec) Ended() (Result, bool) {
	if x.ended == nil {
		return Result{}, false
	}
	return *x.ended, true
}

// TaskDone reports that invocation returned out, or failed with err (named by ErrorName; a *Failure
// keeps its own name, as Lambda.Unknown for a function that died). A report for an invocation the
// execution no longer waits for changes nothing.
func (x *Exec) TaskDone(now time.Time, invocation int, out json.RawMessage, err error) Step {
	if x.phase != phaseInvoking || invocation != x.invoke {
		return x.current()
	}
	if err != nil {
		name := ErrorName(err)
		cause, _ := json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": name})
		if x.early != nil { // the task resumed its token before it failed: that resume stands
			return x.resolve(now, *x.early)
		}
		return x.failed(now, &Failure{Name: name, Cause: string(cause)})
	}
	if !x.state.WaitForToken {
		v, err := jsonValue(out)
		if err != nil {
			return x.failed(now, &Failure{Name: "Lambda.Unknown", Cause: err.Error()})
		}
		return x.succeeded(now, map[string]any{"Payload": v, "StatusCode": float64(200)})
	}
	if x.early != nil {
		return x.resolve(now, *x.early)
	}
	x.phase = phaseWaiting
	x.until = time.Time{}
	if x.timeout > 0 {
		x.until = x.start.Add(x.timeout)
	}
	return x.current()
}

// Token delivers what a task's token brought. A token the execution does not wait on is NotFound.
func (x *Exec) Token(now time.Time, token string, r TokenResult) (Step, error) {
	if token == "" || token != x.Waits() {
		return x.current(), sparkflow.Errorf(sparkflow.NotFound, "task token is not waited on (timed out, used, or from before a restart)")
	}
	if x.phase == phaseInvoking {
		if x.early == nil {
			x.early = &r
		}
		return x.current(), nil
	}
	return x.resolve(now, r), nil
}

// Timer reports that the time is now: a wait whose timer is due times out, a retry that is due
// begins, an execution past its own timeout ends.
func (x *Exec) Timer(now time.Time) Step {
	switch {
	case x.ended != nil:
	case x.phase == phaseWaiting && !x.deadline.IsZero() && !now.Before(x.deadline):
		return x.end(Result{Status: TimedOut, Error: ErrorTimeout, Cause: "the execution ran longer than its TimeoutSeconds"})
	case x.phase == phaseWaiting && !x.until.IsZero() && !now.Before(x.until):
		return x.failed(now, &Failure{Name: ErrorTimeout, Cause: "the task ran longer than its timeout"})
	case x.phase == phaseRetrying && !now.Before(x.until):
		x.start = now
		return x.attempt(now)
	}
	return x.current()
}

// current is the step the execution is at.
func (x *Exec) current() Step {
	switch {
	case x.ended != nil:
		return Step{Kind: End, Result: *x.ended}
	case x.phase == phaseInvoking:
		return Step{Kind: Wait, Token: x.token} // the invocation's return is awaited
	case x.phase == phaseWaiting:
		until := x.until
		if !x.deadline.IsZero() && (until.IsZero() || x.deadline.Before(until)) {
			until = x.deadline
		}
		return Step{Kind: Wait, Token: x.token, Until: until}
	case x.phase == phaseRetrying:
		return Step{Kind: Wait, Until: x.until}
	}
	return Step{}
}

func (x *Exec) end(r Result) Step {
	x.ended, x.phase, x.token = &r, phaseIdle, ""
	return x.current()
}

// run goes through states from x.state until a task is invoked or the execution ends.
func (x *Exec) run(now time.Time) Step {
	for {
		st := x.state
		var next string
		switch st.Type {
		case TypeSucceed:
			out, _ := json.Marshal(x.data)
			return x.end(Result{Status: Succeeded, Output: out})
		case TypeFail:
			return x.end(Result{Status: Failed, Error: st.Error, Cause: st.Cause})
		case TypeChoice:
			next = st.Default
			for _, c := range st.Choices {
				v, err := getPath(x.data, c.Variable)
				if err != nil {
					continue
				}
				if (c.StringEquals != "" && v == c.StringEquals) || (c.StringEquals == "" && v == c.BooleanEquals) {
					next = c.Next
					break
				}
			}
		case TypePass:
			data, err := pass(st, x.data)
			if err != nil {
				return x.runtimeError(err)
			}
			x.data, next = data, st.Next
			if st.End {
				out, _ := json.Marshal(x.data)
				return x.end(Result{Status: Succeeded, Output: out})
			}
		case TypeTask:
			x.counts = make([]int, len(st.Retry))
			if at, ok := x.entered[st.Name]; ok {
				delete(x.entered, st.Name)
				x.start = at
			} else {
				x.start = now
			}
			return x.attempt(now)
		}
		x.state, _ = x.def.State(next)
	}
}

func (x *Exec) runtimeError(err error) Step {
	return x.end(Result{Status: Failed, Error: "States.Runtime", Cause: fmt.Sprintf("state %s: %v", x.state.Name, err)})
}

// attempt invokes the current task state's function once.
func (x *Exec) attempt(now time.Time) Step {
	st := x.state
	x.timeout = time.Duration(st.TimeoutSeconds) * time.Second
	if st.TimeoutSecondsPath != "" {
		v, err := getPath(x.data, st.TimeoutSecondsPath)
		if err != nil {
			return x.runtimeError(err)
		}
		n, ok := v.(float64)
		if !ok || n <= 0 {
			return x.runtimeError(fmt.Errorf("%s = %v is not a positive number of seconds", st.TimeoutSecondsPath, v))
		}
		x.timeout = time.Duration(n * float64(time.Second))
	}
	x.token, x.early = "", nil
	retries := 0
	for _, n := range x.counts {
		retries += n
	}
	context := map[string]any{"State": map[string]any{"Name": st.Name, "RetryCount": float64(retries)}}
	if st.WaitForToken {
		x.token = x.opt.NewToken()
		context["Task"] = map[string]any{"Token": x.token}
	}
	var payload any
	if whole, ok := st.Payload["$"]; ok && len(st.Payload) == 1 {
		p, err := getPath(x.data, whole.(string))
		if err != nil {
			return x.runtimeError(err)
		}
		payload = p
	} else {
		p, err := build(st.Payload, x.data, context)
		if err != nil {
			return x.runtimeError(err)
		}
		payload = p
	}
	raw, _ := json.Marshal(payload)
	x.invoke++
	x.phase = phaseInvoking
	return Step{Kind: Invoke, Invocation: x.invoke, Task: st.Task, Payload: raw, Token: x.token}
}

// resolve ends a waiting attempt with what its token brought.
func (x *Exec) resolve(now time.Time, r TokenResult) Step {
	if r.Failure != nil {
		return x.failed(now, r.Failure)
	}
	v, err := jsonValue(r.Output)
	if err != nil {
		return x.failed(now, &Failure{Name: "States.Runtime", Cause: err.Error()})
	}
	return x.succeeded(now, v)
}

func (x *Exec) succeeded(now time.Time, result any) Step {
	st := x.state
	x.token, x.early = "", nil
	if st.ResultSelector != nil {
		sel, err := build(st.ResultSelector, result, nil)
		if err != nil {
			return x.runtimeError(err)
		}
		result = sel
	}
	data, err := applyResult(st, x.data, result)
	if err != nil {
		return x.runtimeError(err)
	}
	x.data, x.phase = data, phaseIdle
	if st.End {
		out, _ := json.Marshal(x.data)
		return x.end(Result{Status: Succeeded, Output: out})
	}
	x.state, _ = x.def.State(st.Next)
	return x.run(now)
}

// failed applies the task state's retriers, then its catchers, to a failed attempt.
func (x *Exec) failed(now time.Time, f *Failure) Step {
	st := x.state
	x.token, x.early = "", nil
	if i := matchRetrier(st.Retry, f.Name); i >= 0 {
		r := st.Retry[i]
		if x.opt.Retry != nil {
			r.MaxAttempts = x.opt.Retry.MaxAttempts
		}
		if x.counts[i] < r.MaxAttempts {
			x.counts[i]++
			delay := time.Duration(float64(time.Duration(r.IntervalSeconds)*time.Second) * math.Pow(r.BackoffRate, float64(x.counts[i]-1)))
			if x.opt.Retry != nil {
				delay = x.opt.Retry.Delay(x.counts[i])
			}
			x.phase, x.until = phaseRetrying, now.Add(delay)
			return x.current()
		}
	}
	for _, c := range st.Catch {
		if matches(c.ErrorEquals, f.Name) {
			data, err := setPath(x.data, c.ResultPath, map[string]any{"Error": f.Name, "Cause": f.Cause})
			if err != nil {
				return x.runtimeError(err)
			}
			x.data, x.phase = data, phaseIdle
			x.state, _ = x.def.State(c.Next)
			return x.run(now)
		}
	}
	return x.end(Result{Status: Failed, Error: f.Name, Cause: f.Cause})
}

func pass(st State, data any) (any, error) {
	var result any = data
	if st.Result != nil {
		// Round-trip through JSON so that the state's Result is data, not shared Go values.
		b, _ := json.Marshal(st.Result)
		result, _ = jsonValue(b)
	}
	if st.Parameters != nil {
		p, err := build(st.Parameters, data, nil)
		if err != nil {
			return nil, err
		}
		result = p
	}
	return applyResult(st, data, result)
}
