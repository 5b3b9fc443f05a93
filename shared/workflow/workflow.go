// Package workflow describes SparkFlow's workflows once, for both homes: their states and order, each
// task's retry policy and timeout, the errors they catch and the causes those become. The AWS state
// machines (Step Functions, Standard) are rendered from the description as ASL (asl.go); the local
// engine runs the very same description with the interpreter in this package (interp.go), which
// follows Step Functions' semantics for the part of the language the description uses. So the two
// homes cannot drift: a change to the workflow is one change here.
//
//	Reserve (.waitForTaskToken, timeout: the run's queue timeout)
//	   └─ resumed by Reserve itself or by Dispatch with {clusterId}
//	Submit  (.waitForTaskToken, timeout: the run's timeout)
//	   └─ resumed by the step's end event (or the reconciler) with an Outcome
//	Finish  → {retry: true} loops to Reserve with the next attempt; otherwise the run has ended.
//
// A wait that times out goes to Finish with cause QueueTimeout or Timeout; a task that still fails
// after its retries goes to Finish with cause SubmitFailed; a cancelled run's wait fails with
// ErrorCancelled and goes to Finish, which finds the run ended.
package workflow

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// States of the run workflow that the homes refer to.
const (
	StateHold    = "Hold"
	StateReserve = "Reserve"
	StateSubmit  = "Submit"
	StateFinish  = "Finish"
)

// Tasks are the logical names of the workflows' task functions; a home binds each to a function (a
// Lambda ARN when rendering ASL, a Go function in the interpreter).
const (
	TaskHold    = "hold"
	TaskReserve = "reserve"
	TaskSubmit  = "submit"
	TaskFinish  = "finish"
	TaskPool    = "pool"
)

// Retry is a task's retry policy for transient errors (Step Functions' Retry field).
type Retry struct {
	Interval    time.Duration
	BackoffRate float64
	MaxAttempts int
}

// TaskRetry applies to every task of the run workflow: throttling, timeouts and dropped connections
// are retried 5 times, 1 s apart at first and doubling (1+2+4+8+16 = 31 s in all).
var TaskRetry = Retry{Interval: time.Second, BackoffRate: 2, MaxAttempts: 5}

// Delay returns the wait before retry number n (1-based).
func (r Retry) Delay(n int) time.Duration {
	d := float64(r.Interval)
	for i := 1; i < n; i++ {
		d *= r.BackoffRate
	}
	return time.Duration(d)
}

// Error names a workflow recognizes.
const (
	// ErrorTimeout is Step Functions' name for a wait that ran out of time.
	ErrorTimeout = "States.Timeout"
	// ErrorAll matches every error in a Retry or Catch.
	ErrorAll = "States.ALL"
	// ErrorTaskFailed matches every error but a timeout.
	ErrorTaskFailed = "States.TaskFailed"
	// ErrorCancelled ends the wait of a cancelled run.
	ErrorCancelled = "SparkFlow.Cancelled"
	// ErrorTransient marks a task failure worth retrying.
	ErrorTransient = "SparkFlow.Transient"
	// ErrorFailed marks a task failure that retrying cannot fix (an unclassified one); the other
	// SparkFlow.* names say which kind: the workflow's Catch ends the attempt on any of them, and a
	// caller of the pool workflow maps them back to the domain's error codes (CodeOf).
	ErrorFailed   = "SparkFlow.Failed"
	ErrorInvalid  = "SparkFlow.Invalid"
	ErrorNotFound = "SparkFlow.NotFound"
	ErrorConflict = "SparkFlow.Conflict"
	// ErrorRunFailed and ErrorFinishFailed are the errors a run's execution fails with: the run ended
	// FAILED or TIMED_OUT, or Finish could not record the end of an attempt.
	ErrorRunFailed    = "SparkFlow.RunFailed"
	ErrorFinishFailed = "SparkFlow.FinishFailed"
	// ErrorSubmitBusy: another invocation of the attempt holds the claim on adding its step (a
	// duplicate, or one that died): Submit is retried, long enough for a dead one's claim to expire.
	ErrorSubmitBusy = "SparkFlow.SubmitBusy"
	// ErrorUpstreamFailed ends the Hold of a run that ended UPSTREAM_FAILED.
	ErrorUpstreamFailed = "SparkFlow.UpstreamFailed"
)

// SubmitBusyRetry is how a busy Submit is retried: 15 s, then half again as long each time, 8 times
// (about 6 minutes in all), beyond the submit claim's lease (tasks.SubmitClaimLease, 2 minutes).
var SubmitBusyRetry = Retry{Interval: 15 * time.Second, BackoffRate: 1.5, MaxAttempts: 8}

// ExecutionSource and ExecutionDetailType name Step Functions' execution status change events, which
// the stack routes to the events handler for the run state machine's executions that end FAILED,
// TIMED_OUT or ABORTED (locally, the interpreter's end of an execution does the same).
const (
	ExecutionSource     = "aws.states"
	ExecutionDetailType = "Step Functions Execution Status Change"
)

// LambdaErrors are the Lambda errors worth retrying: the service errors the Step Functions
// documentation names, a client-side timeout of the invoke, and Lambda.Unknown, which is how Step
// Functions reports a function that timed out or ran out of memory. The function may or may not have
// done its work; every task is idempotent, so running it again is safe.
var LambdaErrors = []string{"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException", "Lambda.TooManyRequestsException",
	"Lambda.ClientExecutionTimeoutException", "Lambda.Unknown"}

// MaxExecutionSeconds bounds a whole execution: every attempt's waits have their own timeouts, and
// this is a backstop far above their sum.
const MaxExecutionSeconds = 200 * 24 * 3600

// Failure is a task failure with the error name a workflow sees (a Lambda function error's type, or
// SendTaskFailure's error) and its cause.
type Failure struct {
	Name  string
	Cause string
}

func (f *Failure) Error() string { return f.Name + ": " + f.Cause }

// ErrorName names a task's error for a workflow, the same way on both homes: a Failure keeps its
// name; transient and internal errors (a throttle, a crash-like failure) are ErrorTransient, which the
// tasks' Retry retries; a caller's mistake, a missing record or a conflict retrying cannot fix are
// ErrorInvalid, ErrorNotFound and ErrorConflict, which the Catch turns into the attempt's end.
func ErrorName(err error) string {
	var f *Failure
	if errors.As(err, &f) {
		return f.Name
	}
	switch sparkflow.ErrorCode(err) {
	case sparkflow.Transient, sparkflow.Internal:
		return ErrorTransient
	case sparkflow.Invalid:
		return ErrorInvalid
	case sparkflow.NotFound:
		return ErrorNotFound
	case sparkflow.Conflict:
		return ErrorConflict
	}
	return ErrorFailed
}

// CodeOf is the domain's error code of a task error's name (the inverse of ErrorName).
func CodeOf(name string) sparkflow.Code {
	switch name {
	case ErrorTransient:
		return sparkflow.Transient
	case ErrorInvalid:
		return sparkflow.Invalid
	case ErrorNotFound:
		return sparkflow.NotFound
	case ErrorConflict:
		return sparkflow.Conflict
	}
	return sparkflow.Internal
}

// ErrorOf rebuilds a domain error from a task failure as Step Functions reports it: the error name
// and the cause, which for a Lambda function error is its JSON payload. A message that starts with a
// field name ("pool: ...") keeps the field.
func ErrorOf(name, cause string) error {
	msg := cause
	var payload struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	if json.Unmarshal([]byte(cause), &payload) == nil && payload.ErrorMessage != "" {
		msg = payload.ErrorMessage
		if name == "" {
			name = payload.ErrorType
		}
	}
	e := &sparkflow.Error{Code: CodeOf(name), Message: msg}
	if field, rest, ok := strings.Cut(msg, ": "); ok && fieldRE.MatchString(field) && (e.Code == sparkflow.Invalid || e.Code == sparkflow.NotFound) {
		e.Field, e.Message = field, rest
	}
	return e
}

var fieldRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9.]*$`)

// Input is what a run workflow starts with (the intake task sends it; InputOf builds it).
type Input struct {
	RunID               string `json:"runId"`
	QueueTimeoutSeconds int    `json:"queueTimeoutSeconds"`
	TimeoutSeconds      int    `json:"timeoutSeconds"`
	// Epoch orders executions of one run: 0 on AWS (a run has one execution); a local engine's start
	// time, so that the executions it resumes after a restart are newer than those it had.
	Epoch int64 `json:"epoch"`
	// Finish is where the workflow keeps what Finish said last; it starts with the run's attempt.
	Finish FinishResult `json:"finish"`
	// Held: the run is BLOCKED, and the workflow holds it (Hold) before it reserves a slot.
	Held bool `json:"held"`
}

// InputOf is the input of a run's workflow execution.
func InputOf(r sparkflow.Run, epoch int64) Input {
	attempt := r.Attempt
	if attempt < 1 {
		attempt = 1
	}
	return Input{RunID: r.ID, QueueTimeoutSeconds: r.QueueTimeoutSeconds, TimeoutSeconds: r.TimeoutSeconds, Epoch: epoch, Finish: FinishResult{Attempt: attempt}, Held: r.Status == sparkflow.RunBlocked}
}

// TokenInput is the payload of the waiting tasks, Hold, Reserve and Submit: the run, the task token,
// and what orders the invocation (sparkflow.Fence). Hold is set for Hold, which the reserve function
// serves on AWS.
type TokenInput struct {
	Hold    bool   `json:"hold,omitempty"`
	RunID   string `json:"runId"`
	Token   string `json:"token"`
	Epoch   int64  `json:"epoch"`
	Attempt int    `json:"attempt"`
	Retry   int    `json:"retry"`
}

// Fence is the invocation's place among the run's task invocations.
func (in TokenInput) Fence(task int) sparkflow.Fence {
	return sparkflow.Fence{Epoch: in.Epoch, Attempt: in.Attempt, Task: task, Retry: in.Retry}
}

// FinishInput is the Finish task's payload: the attempt's outcome, or what a Catch caught.
type FinishInput struct {
	RunID   string        `json:"runId"`
	Outcome CaughtOutcome `json:"outcome"`
	// Attempt is the attempt the workflow ends (0 from an execution started before it was sent).
	Attempt int `json:"attempt,omitempty"`
}

// CaughtOutcome is an attempt's outcome as the workflow hands it to Finish: the Outcome a resume sent,
// or one a Catch made of an error (its name in Error, its cause in Reason).
type CaughtOutcome struct {
	core.Outcome
	Error string `json:"error,omitempty"`
}

// FinishResult tells the workflow whether to go round again, and with which attempt.
type FinishResult struct {
	Retry   bool                `json:"retry"`
	Status  sparkflow.RunStatus `json:"status"`
	Attempt int                 `json:"attempt"`
}

// Decode turns what Finish is handed into the attempt's Outcome, the same way on both homes: an
// Outcome that a resume sent stands as it is; a caught cancellation is a cancelled outcome; any other
// caught error is SubmitFailed with the error's message (a Lambda function error's cause is its JSON
// error payload, whose errorMessage is the message).
func (c CaughtOutcome) Decode() core.Outcome {
	o := c.Outcome
	if c.Error == ErrorCancelled {
		return core.Outcome{StepState: sparkflow.StepCancelled, Cause: core.CauseCancelled}
	}
	if c.Error != "" {
		var payload struct {
			ErrorMessage string `json:"errorMessage"`
		}
		if json.Unmarshal([]byte(o.Reason), &payload) == nil && payload.ErrorMessage != "" {
			o.Reason = payload.ErrorMessage
		}
	}
	if o.StepState == "" && o.Cause == "" {
		o.Cause = core.CauseSubmitFailed
	}
	return o
}
