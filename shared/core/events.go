package core

import (
	"fmt"
	"time"

	"github.com/sparkflow/sparkflow/shared/emrevent"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// ClusterEffect says what applying a cluster event did.
type ClusterEffect struct {
	Changed     bool // the record must be written
	BecameReady bool // first time ready: waiting runs can be woken
	Ended       bool // the cluster is gone or going: its runs must be re-routed or failed
}

// ApplyCluster returns the cluster record after a state-change event. States only move forward: a
// terminal state is final, an event of a lower rank or an older event of the same rank changes
// nothing, and a duplicate changes nothing.
func ApplyCluster(c sparkflow.Cluster, ch emrevent.ClusterChange) (sparkflow.Cluster, ClusterEffect) {
	if c.State.Terminal() || ch.State == c.State {
		return c, ClusterEffect{}
	}
	if c.State.Ready() && ch.State.Ready() {
		// RUNNING and WAITING of a ready cluster follow its steps: SparkFlow knows from its slots
		// which clusters are busy (Cluster.Shown, IdleSince), and does not write each move.
		return c, ClusterEffect{}
	}
	if ch.State.Rank() < c.State.Rank() {
		return c, ClusterEffect{}
	}
	if ch.State.Rank() == c.State.Rank() && ch.Time.Before(c.StateTime) {
		return c, ClusterEffect{}
	}
	wasEnded := c.State.Ended()
	c.State = ch.State
	c.Reason = ch.Reason
	if !ch.Time.IsZero() {
		c.StateTime = ch.Time
	}
	eff := ClusterEffect{Changed: true}
	if c.State.Ready() && c.ReadyAt == nil {
		t := ch.Time
		if t.Before(c.CreatedAt) {
			t = c.CreatedAt // the event's time is whole seconds; the record's is not
		}
		c.ReadyAt = &t
		eff.BecameReady = true
	}
	if c.State.Ended() && !wasEnded {
		eff.Ended = true
	}
	if c.State.Terminal() && c.EndedAt == nil {
		t := ch.Time
		c.EndedAt = &t
	}
	return c, eff
}

// StepEffect says what applying a step event did to a run.
type StepEffect struct {
	Changed bool // the run record must be written
	Ended   bool // the attempt's step has ended: resume the workflow with the outcome
}

// ApplyStep returns the run after a step event of one of its attempts. An event of another attempt or
// another step, a duplicate, an older state or any event after the run ended changes nothing.
func ApplyStep(r sparkflow.Run, ch emrevent.StepChange, attempt int, now time.Time) (sparkflow.Run, StepEffect) {
	if r.Status.Terminal() || attempt != r.Attempt {
		return r, StepEffect{}
	}
	if r.StepID != "" && r.StepID != ch.StepID {
		return r, StepEffect{}
	}
	if r.StepState != "" && ch.State.Rank() <= r.StepState.Rank() {
		if ch.State == sparkflow.StepRunning && r.StartedAt == nil && r.StepID == ch.StepID {
			// EventBridge does not order events: a RUNNING event that comes after the step's end
			// still tells when it started.
			t := StepStart(ch.Time, r.ReservedAt, now)
			r.StartedAt = &t
			return r, StepEffect{Changed: true}
		}
		return r, StepEffect{}
	}
	if r.Status.Rank() < sparkflow.RunSubmitted.Rank() {
		// The step exists, so the submit happened even if its record did not land yet.
		r.SetStatus(sparkflow.RunSubmitted, now, "step "+ch.StepID+" on "+ch.ClusterID)
		r.History[len(r.History)-1].Step, r.History[len(r.History)-1].Cluster = ch.StepID, ch.ClusterID
	} else if r.StepID == "" {
		// Submit recorded the run SUBMITTED before it added the step: its first event names it.
		r.History = NameStep(r.History, r.Attempt, ch.StepID, ch.ClusterID)
	}
	r.StepID = ch.StepID
	if r.ClusterID == "" {
		r.ClusterID = ch.ClusterID
	}
	r.StepState = ch.State
	r.UpdatedAt = now
	eff := StepEffect{Changed: true}
	switch {
	case ch.State == sparkflow.StepRunning && r.Status == sparkflow.RunSubmitted:
		r.SetStatus(sparkflow.RunRunning, now, "step "+ch.StepID+" running on "+ch.ClusterID)
		t := StepStart(ch.Time, r.ReservedAt, now)
		r.StartedAt = &t
	case ch.State.Terminal():
		eff.Ended = true
		if ch.State != sparkflow.StepCompleted && ch.Message != "" {
			r.Reason = ch.Message
		}
		if r.StartedAt == nil && ch.State != sparkflow.StepCancelled {
			// Its RUNNING event has not come (late or lost): the step started after its slot was
			// reserved, the earliest it can have started.
			t := StepStart(time.Time{}, r.ReservedAt, now)
			if r.ReservedAt != nil {
				t = *r.ReservedAt
			}
			r.StartedAt = &t
		}
	}
	return r, eff
}

// NameStep returns history with the step (and its cluster) on the attempt's SUBMITTED transition, so
// that the attempt's step is found after the run has gone on (Run.AttemptStep). A copy: the history
// given is left as it is.
func NameStep(history []sparkflow.Transition, attempt int, stepID, clusterID string) []sparkflow.Transition {
	out := append([]sparkflow.Transition(nil), history...)
	for i := len(out) - 1; i >= 0; i-- {
		if t := &out[i]; t.Attempt == attempt && t.Status == sparkflow.RunSubmitted && t.Event == "" {
			if t.Step == "" {
				t.Step, t.Cluster = stepID, clusterID
			}
			break
		}
	}
	return out
}

// Outcome is how one attempt ended; it is the output that resumes a workflow waiting on a step.
type Outcome struct {
	// StepState is the step's final state (INTERRUPTED when the cluster was lost under it).
	StepState sparkflow.StepState `json:"stepState"`
	// Cause is set when the attempt ended without the step ending by itself: ClusterLost, Timeout,
	// SubmitFailed.
	Cause  string `json:"cause,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Causes of an attempt that ended for a reason other than its step's own state.
const (
	CauseClusterLost  = "ClusterLost"
	CauseTimeout      = "Timeout"
	CauseQueueTimeout = "QueueTimeout"
	CauseSubmitFailed = "SubmitFailed"
	CauseCancelled    = "Cancelled"
	// CauseWorkflowEnded: the run's workflow execution ended without finishing it (stopped from
	// outside, failed, timed out): no attempt can follow.
	CauseWorkflowEnded = "WorkflowEnded"
)

// Verdict is what becomes of a run after an attempt ended.
type Verdict struct {
	Status sparkflow.RunStatus // the final status, or "" when Retry
	Retry  bool
	Reason string
}

// Conclude decides how a run goes on after an attempt's outcome: success ends it; a user's cancel
// ends it as cancelled; a timeout ends it as timed out; a failure, an interrupted step or a lost
// cluster retries while attempts remain and fails it otherwise.
func Conclude(r sparkflow.Run, o Outcome) Verdict {
	switch {
	case o.StepState == sparkflow.StepCompleted || (r.StepState == sparkflow.StepCompleted && r.StepID != ""):
		// EMR's truth wins: a step recorded COMPLETED is a succeeded attempt, whatever else (a timeout
		// that raced its end event, a lost cluster, a late cancel) the workflow concluded.
		return Verdict{Status: sparkflow.RunSucceeded}
	case o.Cause == CauseWorkflowEnded:
		status := sparkflow.RunFailed
		if o.StepState == sparkflow.StepCancelled {
			status = sparkflow.RunCancelled
		}
		return Verdict{Status: status, Reason: o.Reason}
	case r.CancelRequested || o.Cause == CauseCancelled:
		return Verdict{Status: sparkflow.RunCancelled, Reason: "cancelled by request"}
	case o.Cause == CauseTimeout:
		return Verdict{Status: sparkflow.RunTimedOut, Reason: fmt.Sprintf("attempt %d ran longer than the transform's timeout of %s", r.Attempt, time.Duration(r.TimeoutSeconds)*time.Second)}
	case o.Cause == CauseQueueTimeout && r.Status == sparkflow.RunBlocked:
		return Verdict{Status: sparkflow.RunTimedOut, Reason: "what the run waited for was not done before its workflow's time ran out"}
	case o.Cause == CauseQueueTimeout:
		return Verdict{Status: sparkflow.RunTimedOut, Reason: fmt.Sprintf("no free slot in pool %s within the queue timeout of %s", r.Pool, time.Duration(r.QueueTimeoutSeconds)*time.Second)}
	case r.Status == sparkflow.RunBlocked:
		// Its Hold failed for good: a retry would skip what it waits for.
		return Verdict{Status: sparkflow.RunFailed, Reason: "the run could not be held until what it waits for is done: " + o.Reason}
	}
	what := fmt.Sprintf("step %s", o.StepState)
	switch o.Cause {
	case CauseClusterLost:
		what = "cluster " + r.ClusterID + " was lost"
	case CauseSubmitFailed:
		what = "submit failed"
	}
	if o.Reason != "" {
		what += ": " + o.Reason
	}
	if r.Attempt < r.MaxAttempts {
		return Verdict{Retry: true, Reason: fmt.Sprintf("attempt %d of %d: %s; retrying", r.Attempt, r.MaxAttempts, what)}
	}
	return Verdict{Status: sparkflow.RunFailed, Reason: fmt.Sprintf("attempt %d of %d: %s", r.Attempt, r.MaxAttempts, what)}
}

// StepStart is the best known start of a step from its RUNNING event. EventBridge's time has whole
// seconds only, so it can be up to a second early; the step cannot have started before its run's slot
// was reserved, nor after the event was handled. Keeping the start within those bounds keeps every
// recorded time at full precision and in order (a run never starts before it was placed, and a
// cluster's runs never overlap more than its slots).
func StepStart(eventTime time.Time, reservedAt *time.Time, now time.Time) time.Time {
	t := eventTime
	if t.IsZero() || t.After(now) {
		t = now
	}
	if reservedAt != nil && t.Before(*reservedAt) {
		t = *reservedAt
	}
	return t
}

// PendingResumes returns the active runs whose step's end is recorded but whose workflow has not
// taken it yet (its resume was lost or throttled): the reconciler sends their resumes again.
func PendingResumes(active []sparkflow.Run) []sparkflow.Run {
	var out []sparkflow.Run
	for _, r := range active {
		if !r.Status.Terminal() && r.StepID != "" && r.StepState.Terminal() && r.Token != "" {
			out = append(out, r)
		}
	}
	return out
}
