package tasks

import (
	"context"
	"errors"
	"fmt"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/emrevent"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/workflow"
)

// Finish ends the run's current attempt: it frees the run's slot (and wakes the pool's next waiter),
// cancels a step left running by a timeout, and decides per the run's policy whether to retry or end
// the run. Idempotent: a run that has ended already is left as it is.
func (s *Service) Finish(ctx context.Context, runID string, o core.Outcome) (workflow.FinishResult, error) {
	return s.FinishAttempt(ctx, runID, 0, o)
}

// FinishAttempt is Finish of one attempt (0: the current one), as the workflow's Finish task asks it:
// an invocation for an attempt concluded already (a retry of a Finish whose response was lost, or a
// late duplicate) changes nothing, frees nothing, and tells the workflow where the run is.
func (s *Service) FinishAttempt(ctx context.Context, runID string, attempt int, o core.Outcome) (workflow.FinishResult, error) {
	r, err := s.Store.GetRun(ctx, runID)
	if err != nil {
		return workflow.FinishResult{}, err
	}
	ctx = scope(ctx, r)
	if r.Status.Terminal() {
		return workflow.FinishResult{Status: r.Status}, s.releaseEnded(ctx, r)
	}
	if attempt != 0 && r.Attempt != attempt {
		return workflow.FinishResult{Retry: true, Status: r.Status, Attempt: r.Attempt}, nil
	}
	if err := s.submitUnderWay(r); err != nil {
		return workflow.FinishResult{}, err
	}
	given := o
	var (
		verdict   core.Verdict
		cancelled bool
		moved     bool
	)
	for look := 0; ; look++ {
		var seen sparkflow.Run
		if o, cancelled, err = s.askEMR(ctx, r, given); err != nil {
			return workflow.FinishResult{}, err
		}
		seen = r
		r, err = s.mutateRun(ctx, runID, func(r *sparkflow.Run) (bool, error) {
			moved = false
			if r.Status.Terminal() {
				verdict = core.Verdict{Status: r.Status}
				return false, nil
			}
			if attempt != 0 && r.Attempt != attempt {
				moved = true // another invocation concluded this attempt meanwhile
				return false, nil
			}
			if err := s.submitUnderWay(*r); err != nil {
				return false, err
			}
			if (r.StepID != seen.StepID || r.Attempt != seen.Attempt) && look < conflictRetries {
				return false, errLookAgain // a step was recorded since EMR was asked: ask again
			}
			return s.conclude(r, o, cancelled, &verdict), nil
		})
		if err != errLookAgain {
			break
		}
		if r, err = s.Store.GetRun(ctx, runID); err != nil {
			return workflow.FinishResult{}, err
		}
	}
	if err != nil {
		return workflow.FinishResult{}, err
	}
	if moved {
		return workflow.FinishResult{Retry: true, Status: r.Status, Attempt: r.Attempt}, nil
	}
	s.Log.InfoContext(scope(ctx, r), "attempt finished", "status", r.Status, "retry", verdict.Retry, "reason", verdict.Reason)
	if verdict.Retry && o.Cause != core.CauseClusterLost && (o.StepState == sparkflow.StepCancelled || o.StepState == sparkflow.StepInterrupted) {
		s.confirmCluster(ctx, r.ClusterID)
	}
	if err := s.release(ctx, r); err != nil {
		return workflow.FinishResult{}, err
	}
	return workflow.FinishResult{Retry: verdict.Retry, Status: r.Status, Attempt: r.Attempt}, nil
}

// releaseEnded is the release a Finish makes of a run that has ended already. A run its completed
// step's event ended had its slot freed with its end, and that event's handling went on to serve the
// pool (and is handled again, should it have been cut off): unless the run still holds a slot, there
// is nothing to do. Any other end is released again (a release is idempotent).
func (s *Service) releaseEnded(ctx context.Context, r sparkflow.Run) error {
	if r.Status == sparkflow.RunSucceeded && r.StepState == sparkflow.StepCompleted {
		held, _, err := s.Store.Held(ctx, r.ID)
		if err != nil || held == "" {
			return err
		}
	}
	return s.release(ctx, r)
}

// confirmCluster asks EMR how a cluster stands when a step on it was cancelled or interrupted
// without a cancel asked for (one EMR call, on this path only): a cluster that is ending cancels its
// steps, and their end events may be handled before the cluster's own (EventBridge keeps no order).
// An ended cluster is recorded so at once, so that the retry about to be dispatched is not given a
// slot on it. Best effort: the cluster's own events record it anyway.
func (s *Service) confirmCluster(ctx context.Context, clusterID string) {
	if clusterID == "" {
		return
	}
	info, err := s.Clusters.Describe(ctx, clusterID)
	if err != nil {
		s.Log.WarnContext(ctx, "ask EMR how the cluster of a cancelled step stands", "cluster_id", clusterID, "err", err)
		return
	}
	if !info.State.Ended() {
		return
	}
	if err := s.HandleClusterChange(ctx, emrevent.ClusterChange{ClusterID: clusterID, State: info.State, Reason: info.Reason, Time: s.now()}); err != nil {
		s.Log.WarnContext(ctx, "record the end of the cluster of a cancelled step", "cluster_id", clusterID, "err", err)
	}
}

// submitUnderWay: a Submit invocation of the run's attempt holds the claim on adding its step (one
// whose response was lost runs on, say) and no step is recorded: it may add one at any moment, after
// Finish has looked at EMR. Finish waits (the workflow retries SparkFlow.SubmitBusy) until that Submit
// has recorded its step or its claim has expired, so that EMR's word on the attempt is complete.
func (s *Service) submitUnderWay(r sparkflow.Run) error {
	if r.StepID != "" || !s.claimHeld(r, sparkflow.Fence{}) {
		return nil
	}
	return &workflow.Failure{Name: workflow.ErrorSubmitBusy, Cause: fmt.Sprintf("run %s: a Submit of attempt %d is adding its step; Finish waits for it", r.ID, r.Attempt)}
}

// errLookAgain ends a Finish write whose look at EMR is out of date.
var errLookAgain = errors.New("look at EMR again")

// conclude writes an attempt's end onto r: the next attempt, or the run's end.
func (s *Service) conclude(r *sparkflow.Run, o core.Outcome, cancelled bool, verdict *core.Verdict) bool {
	*verdict = core.Conclude(*r, o)
	now := s.now()
	r.Submitting = nil
	if verdict.Retry {
		r.History = append(r.History, sparkflow.Transition{Status: r.Status, Attempt: r.Attempt, At: now, Note: verdict.Reason, Event: sparkflow.EventAttemptEnded})
		r.Attempt++
		r.StepID, r.StepState, r.Token, r.ReservedAt, r.StartedAt = "", "", "", nil, nil
		r.Reason = verdict.Reason
		r.SetStatus(sparkflow.RunWaiting, now, "")
		return true
	}
	if verdict.Reason != "" {
		r.Reason = verdict.Reason
	} else if verdict.Status == sparkflow.RunSucceeded {
		r.Reason = ""
	}
	if cancelled && !r.StepState.Terminal() {
		r.StepState = sparkflow.StepCancelPending
	}
	r.SetStatus(verdict.Status, now, verdict.Reason)
	return true
}

// askEMR: an attempt that ends for a cause other than its step's own end (a timeout, a lost cluster,
// a cancel, its workflow ended, a failed submit) is decided by what EMR says of its step. A step that
// completed makes the attempt a success (its end event may be late or lost); one still going is
// cancelled, so that no attempt works on after it has ended (EMR cancels asynchronously: the record
// says CANCEL_PENDING). A cancel that EMR refused for now is an error: Finish is retried.
func (s *Service) askEMR(ctx context.Context, r sparkflow.Run, o core.Outcome) (core.Outcome, bool, error) {
	switch o.Cause {
	case core.CauseTimeout, core.CauseClusterLost, core.CauseCancelled, core.CauseWorkflowEnded, core.CauseSubmitFailed:
	default:
		return o, false, nil
	}
	if o.StepState == sparkflow.StepCompleted || (r.StepID != "" && r.StepState.Terminal()) || r.ClusterID == "" || r.ReservedAt == nil {
		return o, false, nil
	}
	step, err := s.attemptStep(ctx, r)
	switch {
	case err != nil:
		return o, false, fmt.Errorf("ask EMR for the step of run %s: %w", r.ID, err)
	case step == nil:
		return o, false, nil
	case step.State == sparkflow.StepCompleted:
		s.Log.InfoContext(ctx, "the step completed although the attempt ended otherwise: EMR's word stands", "run_id", r.ID, "step_id", step.ID, "cause", o.Cause)
		return core.Outcome{StepState: sparkflow.StepCompleted}, false, nil
	case step.State.Terminal() || o.Cause == core.CauseClusterLost:
		return o, false, nil
	}
	err = s.Clusters.CancelStep(ctx, r.ClusterID, step.ID)
	switch {
	case err == nil:
		// It may have completed between the look and the cancel: EMR's last word stands.
		if again, err := s.attemptStep(ctx, r); err != nil {
			return o, false, fmt.Errorf("ask EMR again for the step of run %s: %w", r.ID, err)
		} else if again != nil && again.State == sparkflow.StepCompleted {
			return core.Outcome{StepState: sparkflow.StepCompleted}, false, nil
		}
		return o, true, nil
	case sparkflow.IsCode(err, sparkflow.NotFound), sparkflow.IsCode(err, sparkflow.Conflict), sparkflow.IsCode(err, sparkflow.Invalid):
		return o, false, nil // the cluster or the step is gone: nothing runs on
	}
	return o, false, fmt.Errorf("cancel step %s of the ended attempt %d of run %s: %w", step.ID, r.Attempt, r.ID, err)
}

// attemptStep is EMR's word on the run's current attempt's step (nil when there is none, or its
// cluster has gone).
func (s *Service) attemptStep(ctx context.Context, r sparkflow.Run) (*sparkflow.StepInfo, error) {
	steps, err := s.Clusters.ListSteps(ctx, r.ClusterID)
	if sparkflow.IsCode(err, sparkflow.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	name := core.StepName(s.NamePrefix, r.ID, r.Attempt, r.Transform)
	for i := range steps {
		if steps[i].ID == r.StepID || steps[i].Name == name {
			return &steps[i], nil
		}
	}
	return nil, nil
}
