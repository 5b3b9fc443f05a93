package workflow

import (
	"context"
	"encoding/json"
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
	waiting map[string]chan tokenMsg
	wg      sync.WaitGroup
}

var _ sparkflow.Callbacks = (*Interpreter)(nil)

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
	return &Interpreter{def: def, tasks: tasks, opt: opt, running: map[string]bool{}, waiting: map[string]chan tokenMsg{}}, nil
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
	x, err := NewExec(in.def, input, in.opt.Clock.Now(), resume, ExecOptions{Retry: in.opt.Retry, NewToken: uuid.NewString})
	if err != nil {
		return false, fmt.Errorf("execution %s: %w", name, err)
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
		res := in.execute(ctx, x)
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
	return in.send(token, TokenResult{Output: output})
}

// SendTaskFailure fails the task waiting on token with an error name and cause.
func (in *Interpreter) SendTaskFailure(ctx context.Context, token, errName, cause string) error {
	return in.send(token, TokenResult{Failure: &Failure{Name: errName, Cause: cause}})
}

type tokenMsg struct {
	token string
	r     TokenResult
}

// send hands a token's result to the execution waiting on it; the token is then used (a second send
// is NotFound).
func (in *Interpreter) send(token string, r TokenResult) error {
	in.mu.Lock()
	ch, ok := in.waiting[token]
	delete(in.waiting, token)
	in.mu.Unlock()
	if !ok {
		return sparkflow.Errorf(sparkflow.NotFound, "task token is not waited on (timed out, used, or from before a restart)")
	}
	ch <- tokenMsg{token, r}
	return nil
}

// execute drives one execution: it calls the tasks its Exec invokes, hands it the tokens' results
// and its timers, until it ends (or ctx ends: Stopped).
func (in *Interpreter) execute(ctx context.Context, x *Exec) Result {
	ch := make(chan tokenMsg, 1) // one token is waited on at a time, and each is sent once
	registered := ""
	register := func(tok string) {
		if tok == registered {
			return
		}
		in.mu.Lock()
		if registered != "" {
			delete(in.waiting, registered)
		}
		if tok != "" {
			in.waiting[tok] = ch
		}
		in.mu.Unlock()
		registered = tok
	}
	defer register("")
	now := in.opt.Clock.Now
	step := x.Begin(now())
	for {
		register(x.Waits())
		switch step.Kind {
		case End:
			return step.Result
		case Invoke:
			out, err := in.tasks[step.Task](ctx, step.Payload)
			if ctx.Err() != nil {
				return Result{Status: Stopped}
			}
			// What the token brought while the function ran counts first: a task may resume its
			// own wait before it returns (or before it fails).
			select {
			case m := <-ch:
				x.Token(now(), m.token, m.r)
			default:
			}
			step = x.TaskDone(now(), step.Invocation, out, err)
		case Wait:
			var timer <-chan time.Time
			if !step.Until.IsZero() {
				timer = in.opt.Clock.After(step.Until.Sub(now()))
			}
			select {
			case m := <-ch:
				step, _ = x.Token(now(), m.token, m.r)
			case <-timer:
				step = x.Timer(now())
			case <-ctx.Done():
				return Result{Status: Stopped}
			}
		default:
			return Result{Status: Failed, Error: "States.Runtime", Cause: "the execution asked for nothing"}
		}
	}
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
