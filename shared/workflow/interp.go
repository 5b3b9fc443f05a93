package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// TaskFunc runs one task with the payload its state built and returns the function's result (JSON).
// Its error is named for the workflow by ErrorName.
type TaskFunc func(ctx context.Context, payload json.RawMessage) (json.RawMessage, error)

// Clock tells the time and makes timers; the simulation drives its own.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time                         { return time.Now().UTC() }
func (wallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Status is how an execution ended.
type Status string

// Execution statuses, as Step Functions names them; Stopped is an execution the interpreter stopped
// (its context ended) without an outcome: a restarted home resumes it.
const (
	Succeeded Status = "SUCCEEDED"
	Failed    Status = "FAILED"
	TimedOut  Status = "TIMED_OUT"
	Stopped   Status = "STOPPED"
)

// Result is how an execution ended.
type Result struct {
	Status Status
	Output json.RawMessage
	Error  string
	Cause  string
}

// Options tune an interpreter.
type Options struct {
	Clock Clock
	Log   *slog.Logger
	// Retry, for tests, replaces the interval, backoff and attempts of every retrier.
	Retry *Retry
	// OnEnd is told how each execution ended (not when it was stopped).
	OnEnd func(name string, r Result)
}

// Interpreter runs executions of one Definition the way Step Functions (Standard) runs its ASL: task
// states with Retry and Catch, .waitForTaskToken tasks resumed by SendTaskSuccess/SendTaskFailure with
// the token from $$.Task.Token, TimeoutSeconds(Path) per task attempt, Pass and Choice states,
// ResultSelector, ResultPath and OutputPath; an execution name runs at most once at a time. It is also
// the home's sparkflow.Callbacks.
type Interpreter struct {
	def   Definition
	tasks map[string]TaskFunc
	opt   Options

	mu      sync.Mutex
	running map[string]bool
	waiting map[string]chan tokenResult
	wg      sync.WaitGroup
}

var _ sparkflow.Callbacks = (*Interpreter)(nil)

type tokenResult struct {
	output []byte
	err    *Failure
}

// NewInterpreter checks def and that every task it names has a function.
func NewInterpreter(def Definition, tasks map[string]TaskFunc, opt Options) (*Interpreter, error) {
	if err := def.Check(); err != nil {
		return nil, err
	}
	for _, s := range def.States {
		if s.Type == TypeTask && tasks[s.Task] == nil {
			return nil, fmt.Errorf("state %s: no function for task %q", s.Name, s.Task)
		}
	}
	if opt.Clock == nil {
		opt.Clock = wallClock{}
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	return &Interpreter{def: def, tasks: tasks, opt: opt, running: map[string]bool{}, waiting: map[string]chan tokenResult{}}, nil
}

// Resume starts an execution part way, as a restarted home picks up one that was under way: at state
// At, with the first entry into each state of EnteredAt dated then (so its timeout still counts from
// when it first began).
type Resume struct {
	At        string
	EnteredAt map[string]time.Time
}

// Start starts an execution named name with input unless one of that name is running (as Step
// Functions treats a second start of an open execution with the same name and input). It reports
// whether it started one. The execution runs until it ends or ctx ends.
func (in *Interpreter) Start(ctx context.Context, name string, input []byte, resume *Resume) (bool, error) {
	data, err := jsonValue(input)
	if err != nil {
		return false, fmt.Errorf("execution %s input: %w", name, err)
	}
	if resume != nil {
		if _, ok := in.def.State(resume.At); !ok {
			return false, fmt.Errorf("execution %s: resume at %q, which is no state", name, resume.At)
		}
	}
	in.mu.Lock()
	if in.running[name] || ctx.Err() != nil {
		in.mu.Unlock()
		return false, nil
	}
	in.running[name] = true
	in.wg.Add(1)
	in.mu.Unlock()
	go func() {
		defer in.wg.Done()
		res := in.execute(ctx, data, resume)
		in.mu.Lock()
		delete(in.running, name)
		in.mu.Unlock()
		if res.Status != Stopped && in.opt.OnEnd != nil {
			in.opt.OnEnd(name, res)
		}
	}()
	return true, nil
}

// ExecutionStatus says RUNNING for an execution that runs; NotFound otherwise (an execution that ended
// has told OnEnd already).
func (in *Interpreter) ExecutionStatus(ctx context.Context, name string) (string, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.running[name] {
		return "RUNNING", nil
	}
	return "", sparkflow.Errorf(sparkflow.NotFound, "no execution of %s runs", name)
}

// Active reports how many executions are running.
func (in *Interpreter) Active() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.running)
}

// Wait waits until every execution has ended or stopped.
func (in *Interpreter) Wait() { in.wg.Wait() }

// SendTaskSuccess resumes the task waiting on token with output (JSON). A token not waited on (used,
// timed out, or from before a restart) is NotFound, as Step Functions' TaskDoesNotExist/TaskTimedOut.
func (in *Interpreter) SendTaskSuccess(ctx context.Context, token string, output []byte) error {
	if _, err := jsonValue(output); err != nil {
		return sparkflow.Wrap(sparkflow.Invalid, err, "task output")
	}
	return in.send(token, tokenResult{output: output})
}

// SendTaskFailure fails the task waiting on token with an error name and cause.
func (in *Interpreter) SendTaskFailure(ctx context.Context, token, errName, cause string) error {
	return in.send(token, tokenResult{err: &Failure{Name: errName, Cause: cause}})
}

func (in *Interpreter) send(token string, r tokenResult) error {
	in.mu.Lock()
	ch, ok := in.waiting[token]
	delete(in.waiting, token)
	in.mu.Unlock()
	if !ok {
		return sparkflow.Errorf(sparkflow.NotFound, "task token is not waited on (timed out, used, or from before a restart)")
	}
	ch <- r
	return nil
}

func (in *Interpreter) register() (string, chan tokenResult) {
	tok := uuid.NewString()
	ch := make(chan tokenResult, 1)
	in.mu.Lock()
	in.waiting[tok] = ch
	in.mu.Unlock()
	return tok, ch
}

func (in *Interpreter) drop(tok string) {
	in.mu.Lock()
	delete(in.waiting, tok)
	in.mu.Unlock()
}

var (
	errStopped      = errors.New("execution stopped")
	errExecTimedOut = errors.New("execution timed out")
)

func (in *Interpreter) execute(ctx context.Context, data any, resume *Resume) Result {
	state := in.def.StartAt
	var entered map[string]time.Time
	if resume != nil {
		state = resume.At
		entered = map[string]time.Time{}
		for k, v := range resume.EnteredAt {
			entered[k] = v
		}
	}
	var deadline time.Time
	if in.def.TimeoutSeconds > 0 {
		deadline = in.opt.Clock.Now().Add(time.Duration(in.def.TimeoutSeconds) * time.Second)
	}
	for {
		st, _ := in.def.State(state)
		var (
			next string
			fail *Failure
			err  error
		)
		switch st.Type {
		case TypeSucceed:
			out, _ := json.Marshal(data)
			return Result{Status: Succeeded, Output: out}
		case TypeFail:
			return Result{Status: Failed, Error: st.Error, Cause: st.Cause}
		case TypeChoice:
			next = st.Default
			for _, c := range st.Choices {
				v, err := getPath(data, c.Variable)
				if err != nil {
					continue
				}
				if (c.StringEquals != "" && v == c.StringEquals) || (c.StringEquals == "" && v == c.BooleanEquals) {
					next = c.Next
					break
				}
			}
		case TypePass:
			data, err = in.pass(st, data)
			next = st.Next
		case TypeTask:
			start, ok := entered[st.Name]
			if ok {
				delete(entered, st.Name)
			} else {
				start = in.opt.Clock.Now()
			}
			data, next, fail, err = in.task(ctx, st, data, start, deadline)
		}
		switch {
		case errors.Is(err, errStopped):
			return Result{Status: Stopped}
		case errors.Is(err, errExecTimedOut):
			return Result{Status: TimedOut, Error: ErrorTimeout, Cause: "the execution ran longer than its TimeoutSeconds"}
		case err != nil:
			return Result{Status: Failed, Error: "States.Runtime", Cause: fmt.Sprintf("state %s: %v", st.Name, err)}
		case fail != nil:
			return Result{Status: Failed, Error: fail.Name, Cause: fail.Cause}
		}
		if st.End {
			out, _ := json.Marshal(data)
			return Result{Status: Succeeded, Output: out}
		}
		state = next
	}
}

func (in *Interpreter) pass(st State, data any) (any, error) {
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

func applyResult(st State, data, result any) (any, error) {
	path := st.ResultPath
	if path == "" {
		path = "$"
	}
	out, err := setPath(data, path, result)
	if err != nil {
		return nil, err
	}
	if st.OutputPath != "" {
		return getPath(out, st.OutputPath)
	}
	return out, nil
}
