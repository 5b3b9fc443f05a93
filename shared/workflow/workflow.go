// Package workflow defines the run workflow once, for both homes: the order of its tasks, the retry
// policy of each task, and the errors that end it. The local engine runs it in process; the AWS state
// machine (Step Functions, Standard) is generated from the same constants, so the two cannot drift.
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

import "time"

// States of the run workflow, in order.
const (
	StateReserve = "Reserve"
	StateSubmit  = "Submit"
	StateFinish  = "Finish"
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
	// ErrorCancelled ends the wait of a cancelled run.
	ErrorCancelled = "SparkFlow.Cancelled"
	// ErrorTransient marks a task failure worth retrying.
	ErrorTransient = "SparkFlow.Transient"
)
