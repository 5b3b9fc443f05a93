package workflow

import (
	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// Definition is a workflow: a small, typed subset of the Amazon States Language. ASL renders it for
// Step Functions; an Interpreter runs it locally.
type Definition struct {
	Comment        string
	StartAt        string
	TimeoutSeconds int
	States         []State // in a fixed order, for readable renderings and errors
}

// StateType is a state's kind.
type StateType string

// The state types the description uses.
const (
	TypeTask    StateType = "Task"
	TypePass    StateType = "Pass"
	TypeChoice  StateType = "Choice"
	TypeSucceed StateType = "Succeed"
	TypeFail    StateType = "Fail"
)

// State is one state. Paths are JSONPath as Step Functions reads them, limited to "$", "$.a.b" and,
// in a task's payload, "$$.Task.Token"; a payload or parameters key ending in ".$" takes its value
// from such a path.
type State struct {
	Name string
	Type StateType
	// Task: the logical task invoked (bound to a function by the home), whether it waits for a task
	// token, its payload, timeout, result selector, retries and catches.
	Task               string
	WaitForToken       bool
	Payload            map[string]any
	TimeoutSeconds     int
	TimeoutSecondsPath string
	ResultSelector     map[string]any
	Retry              []Retrier
	Catch              []Catcher
	// Pass: a fixed Result, or Parameters built from the input.
	Result     any
	Parameters map[string]any
	// Task and Pass: where the result goes in the input ("" = "$", replacing it) and what of the
	// result is the state's output ("" = all).
	ResultPath string
	OutputPath string
	// Choice.
	Choices []Choice
	Default string
	// Fail: the error and cause the execution fails with.
	Error, Cause string
	// Task and Pass: the next state, or End.
	Next string
	End  bool
}

// Retrier retries a task that failed with one of ErrorEquals.
type Retrier struct {
	ErrorEquals     []string
	IntervalSeconds int
	BackoffRate     float64
	MaxAttempts     int
}

// Catcher moves a task that failed with one of ErrorEquals (after its retries) to Next, with
// {"Error": name, "Cause": cause} at ResultPath.
type Catcher struct {
	ErrorEquals []string
	ResultPath  string
	Next        string
}

// Choice goes to Next when the value at Variable equals BooleanEquals or, when StringEquals is set,
// that string.
type Choice struct {
	Variable      string
	BooleanEquals bool
	StringEquals  string
	Next          string
}

// State returns the named state.
func (d Definition) State(name string) (State, bool) {
	for _, s := range d.States {
		if s.Name == name {
			return s, true
		}
	}
	return State{}, false
}

// submitRetry is Submit's: a busy submit waits for the claim of another invocation (it may be dead)
// to expire, then the usual retries.
func submitRetry() []Retrier {
	return append([]Retrier{{
		ErrorEquals:     []string{ErrorSubmitBusy},
		IntervalSeconds: int(SubmitBusyRetry.Interval.Seconds()),
		BackoffRate:     SubmitBusyRetry.BackoffRate,
		MaxAttempts:     SubmitBusyRetry.MaxAttempts,
	}}, taskRetry()...)
}

func taskRetry() []Retrier {
	return []Retrier{{
		ErrorEquals:     append(append([]string{}, LambdaErrors...), ErrorTransient),
		IntervalSeconds: int(TaskRetry.Interval.Seconds()),
		BackoffRate:     TaskRetry.BackoffRate,
		MaxAttempts:     TaskRetry.MaxAttempts,
	}}
}

func waitTask(name, task, timeoutPath, resultPath, next, onTimeout, onError string) State {
	return State{
		Name: name, Type: TypeTask, Task: task, WaitForToken: true,
		Payload: map[string]any{"runId.$": "$.runId", "token.$": "$$.Task.Token",
			"epoch.$": "$.epoch", "attempt.$": "$.finish.attempt", "retry.$": "$$.State.RetryCount"},
		TimeoutSecondsPath: timeoutPath,
		ResultPath:         resultPath,
		Retry:              taskRetry(),
		Catch: []Catcher{
			{ErrorEquals: []string{ErrorTimeout}, ResultPath: "$.error", Next: onTimeout},
			{ErrorEquals: []string{ErrorAll}, ResultPath: "$.error", Next: onError},
		},
		Next: next,
	}
}

// hold is the Hold state: a BLOCKED run's wait until it is released (the task resumes it at once if
// it is released already). Only an execution's end bounds it: a run may wait days for its upstreams.
func hold() State {
	s := waitTask(StateHold, TaskHold, "", "$.released", StateReserve, "HoldTimedOut", "HoldFailed")
	s.Payload["hold"] = true
	s.TimeoutSeconds = MaxExecutionSeconds - 24*3600
	return s
}

func withRetry(s State, r []Retrier) State {
	s.Retry = r
	return s
}

// outcome is a Pass state that makes the attempt's outcome a fixed cause.
func outcome(name, cause string) State {
	return State{Name: name, Type: TypePass, Result: map[string]any{"cause": cause}, ResultPath: "$.outcome", Next: StateFinish}
}

// failed is a Pass state that makes the attempt's outcome the caught error.
func failed(name string) State {
	return State{Name: name, Type: TypePass, ResultPath: "$.outcome", Next: StateFinish,
		Parameters: map[string]any{"cause": core.CauseSubmitFailed, "error.$": "$.error.Error", "reason.$": "$.error.Cause"}}
}

// Run is the run workflow: reserve a slot, submit the EMR step and wait for its end, finish; go round
// again while Finish says retry.
func Run() Definition {
	return Definition{
		Comment:        "SparkFlow run: reserve a slot, submit the EMR step and wait for its end, finish; retry per the transform's policy",
		StartAt:        "Gate",
		TimeoutSeconds: MaxExecutionSeconds,
		States: []State{
			// A BLOCKED run (upstream runs, a concurrency limit) is held until it is released.
			{Name: "Gate", Type: TypeChoice, Choices: []Choice{{Variable: "$.held", BooleanEquals: true, Next: StateHold}}, Default: StateReserve},
			hold(),
			outcome("HoldTimedOut", core.CauseQueueTimeout),
			failed("HoldFailed"),
			waitTask(StateReserve, TaskReserve, "$.queueTimeoutSeconds", "$.grant", StateSubmit, "QueueTimedOut", "ReserveFailed"),
			outcome("QueueTimedOut", core.CauseQueueTimeout),
			failed("ReserveFailed"),
			withRetry(waitTask(StateSubmit, TaskSubmit, "$.timeoutSeconds", "$.outcome", StateFinish, "RunTimedOut", "SubmitFailed"), submitRetry()),
			outcome("RunTimedOut", core.CauseTimeout),
			failed("SubmitFailed"),
			{
				Name: StateFinish, Type: TypeTask, Task: TaskFinish,
				Payload:        map[string]any{"runId.$": "$.runId", "outcome.$": "$.outcome", "attempt.$": "$.finish.attempt"},
				ResultSelector: map[string]any{"retry.$": "$.Payload.retry", "status.$": "$.Payload.status", "attempt.$": "$.Payload.attempt"},
				ResultPath:     "$.finish",
				Retry:          submitRetry(), // a Submit still under way makes Finish wait for it
				// Finish failing for good fails the execution; the execution-status rule (or, locally,
				// the engine) then ends the run and frees its slot.
				Catch: []Catcher{{ErrorEquals: []string{ErrorAll}, ResultPath: "$.error", Next: "FinishFailed"}},
				Next:  "Again",
			},
			{Name: "FinishFailed", Type: TypeFail, Error: ErrorFinishFailed, Cause: "Finish could not record the attempt's end; the run is ended by the execution-status handler"},
			{Name: "Again", Type: TypeChoice, Choices: []Choice{
				{Variable: "$.finish.retry", BooleanEquals: true, Next: StateReserve},
				{Variable: "$.finish.status", StringEquals: string(sparkflow.RunFailed), Next: "RunFailed"},
				{Variable: "$.finish.status", StringEquals: string(sparkflow.RunTimedOut), Next: "RunFailed"},
			}, Default: "Done"},
			// A run that ended FAILED or TIMED_OUT fails its execution too, so Step Functions' own
			// metrics and alarms count it.
			{Name: "RunFailed", Type: TypeFail, Error: ErrorRunFailed, Cause: "the run ended FAILED or TIMED_OUT; its record says why"},
			{Name: "Done", Type: TypeSucceed},
		},
	}
}

// Pool is the pool workflow: one task (create, delete or heal a pool; put or delete a transform) with
// the same retry policy, bounded in time. Only the AWS home runs it: locally the engine calls the
// task logic directly.
func Pool() Definition {
	return Definition{
		Comment:        "SparkFlow pool: create, delete or heal a pool",
		StartAt:        "Pool",
		TimeoutSeconds: 3600,
		States: []State{{
			Name: "Pool", Type: TypeTask, Task: TaskPool,
			Payload:        map[string]any{"$": "$"}, // the whole input is the payload
			OutputPath:     "$.Payload",
			TimeoutSeconds: 900,
			Retry:          taskRetry(),
			End:            true,
		}},
	}
}
