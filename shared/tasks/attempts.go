package tasks

import (
	"context"
	"fmt"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/workflow"
)

// Submit is the second task of an attempt (called with a task token): it adds the attempt's step to
// the cluster the run holds, unless a step of that name is there already (AddJobFlowSteps has no
// idempotency token), and records the step id and the token that the step's end resumes. A step found
// already ended resumes the workflow at once.
func (s *Service) Submit(ctx context.Context, runID, token string) error {
	r, err := s.mutateRun(ctx, runID, func(r *sparkflow.Run) (bool, error) {
		if r.Status.Terminal() {
			return false, sparkflow.Errorf(sparkflow.Conflict, "run %s is %s", r.ID, r.Status)
		}
		r.Token = token
		return true, nil
	})
	if err != nil {
		return err
	}
	if r.CancelRequested {
		return s.resume(ctx, token, core.Outcome{StepState: sparkflow.StepCancelled, Cause: core.CauseCancelled})
	}
	if r.ClusterID == "" || r.ReservedAt == nil {
		return sparkflow.Errorf(sparkflow.Internal, "run %s reached submit without a slot", runID)
	}
	found, ended, err := s.placeStep(ctx, r)
	if err != nil {
		return err
	}
	if ended != nil {
		return s.resume(ctx, token, *ended)
	}
	r, err = s.recordStep(ctx, runID, *found)
	if err != nil {
		return err
	}
	if r.CancelRequested && !found.State.Terminal() {
		if err := s.Clusters.CancelStep(ctx, r.ClusterID, found.ID); err != nil {
			s.Log.Warn("cancel step after submit", "run_id", runID, "err", err)
		}
	}
	if found.State.Terminal() {
		return s.resume(ctx, token, core.Outcome{StepState: found.State, Reason: found.Reason.Message})
	}
	if r.StepState.Terminal() {
		// The step's end event was handled before the token was recorded.
		return s.resume(ctx, token, core.Outcome{StepState: r.StepState, Reason: r.Reason})
	}
	return nil
}

// placeStep finds the attempt's step on the run's cluster or adds it. It returns the step, or the
// outcome that ends the attempt at once (the transform is gone or cannot make a step, the cluster is
// lost), or an error to retry.
func (s *Service) placeStep(ctx context.Context, r sparkflow.Run) (*sparkflow.StepInfo, *core.Outcome, error) {
	failed := func(reason string) *core.Outcome {
		return &core.Outcome{StepState: sparkflow.StepFailed, Cause: core.CauseSubmitFailed, Reason: reason}
	}
	lost := func(reason string) *core.Outcome {
		return &core.Outcome{StepState: sparkflow.StepInterrupted, Cause: core.CauseClusterLost, Reason: reason}
	}
	t, err := s.Store.GetTransform(ctx, r.Transform)
	if sparkflow.IsCode(err, sparkflow.NotFound) {
		return nil, failed("transform " + r.Transform + " was deleted"), nil
	}
	if err != nil {
		return nil, nil, err
	}
	step, err := core.NamedStep(s.NamePrefix, t, r)
	if err != nil {
		return nil, failed(err.Error()), nil
	}
	steps, err := s.Clusters.ListSteps(ctx, r.ClusterID)
	if sparkflow.IsCode(err, sparkflow.NotFound) {
		return nil, lost("cluster not found"), nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("list steps of %s: %w", r.ClusterID, err)
	}
	for i := range steps {
		if steps[i].Name == step.Name {
			return &steps[i], nil, nil
		}
	}
	id, err := s.Clusters.AddStep(ctx, r.ClusterID, step)
	switch {
	case sparkflow.IsCode(err, sparkflow.Conflict) || sparkflow.IsCode(err, sparkflow.NotFound):
		return nil, lost(err.Error()), nil
	case sparkflow.IsCode(err, sparkflow.Invalid):
		return nil, failed(err.Error()), nil
	case err != nil:
		return nil, nil, fmt.Errorf("add step to %s: %w", r.ClusterID, err)
	}
	s.Log.Info("step added", "run_id", r.ID, "cluster_id", r.ClusterID, "step_id", id, "attempt", r.Attempt)
	return &sparkflow.StepInfo{ID: id, Name: step.Name, State: sparkflow.StepPending}, nil, nil
}

// recordStep records the attempt's step on the run: its id, log location and (never backwards) state.
func (s *Service) recordStep(ctx context.Context, runID string, found sparkflow.StepInfo) (sparkflow.Run, error) {
	return s.mutateRun(ctx, runID, func(r *sparkflow.Run) (bool, error) {
		if r.Status.Terminal() {
			return false, nil
		}
		r.StepID = found.ID
		if found.LogURI != "" {
			r.LogURI = found.LogURI
		}
		if r.Status.Rank() < sparkflow.RunSubmitted.Rank() {
			r.SetStatus(sparkflow.RunSubmitted, s.now(), "step "+found.ID+" on "+r.ClusterID)
			r.History[len(r.History)-1].Step, r.History[len(r.History)-1].Cluster = found.ID, r.ClusterID
		}
		if found.State.Rank() > r.StepState.Rank() || r.StepState == "" {
			r.StepState = found.State
		}
		return true, nil
	})
}

// Finish ends an attempt: it frees the run's slot (and wakes the pool's next waiter), cancels a step
// left running by a timeout, and decides per the run's policy whether to retry or end the run.
// Idempotent: a run that has ended already is left as it is.
func (s *Service) Finish(ctx context.Context, runID string, o core.Outcome) (workflow.FinishResult, error) {
	r, err := s.Store.GetRun(ctx, runID)
	if err != nil {
		return workflow.FinishResult{}, err
	}
	if r.Status.Terminal() {
		return workflow.FinishResult{Status: r.Status}, s.release(ctx, r)
	}
	cancelled := false
	if (o.Cause == core.CauseTimeout || o.Cause == core.CauseWorkflowEnded) && r.StepID != "" && !r.StepState.Terminal() {
		// The step would go on working for a run that has ended: cancel it. EMR cancels
		// asynchronously; the record says CANCEL_PENDING, the step's last state as SparkFlow knows it.
		if err := s.Clusters.CancelStep(ctx, r.ClusterID, r.StepID); err != nil {
			s.Log.Warn("cancel the step of an ended attempt", "run_id", runID, "step_id", r.StepID, "err", err)
		} else {
			cancelled = true
		}
	}
	var verdict core.Verdict
	r, err = s.mutateRun(ctx, runID, func(r *sparkflow.Run) (bool, error) {
		if r.Status.Terminal() {
			verdict = core.Verdict{Status: r.Status}
			return false, nil
		}
		verdict = core.Conclude(*r, o)
		now := s.now()
		if verdict.Retry {
			r.History = append(r.History, sparkflow.Transition{Status: r.Status, Attempt: r.Attempt, At: now, Note: verdict.Reason, Event: sparkflow.EventAttemptEnded})
			r.Attempt++
			r.StepID, r.StepState, r.Token, r.ReservedAt, r.StartedAt = "", "", "", nil, nil
			r.Reason = verdict.Reason
			r.SetStatus(sparkflow.RunWaiting, now, "")
			return true, nil
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
		return true, nil
	})
	if err != nil {
		return workflow.FinishResult{}, err
	}
	s.Log.Info("attempt finished", "run_id", runID, "attempt", r.Attempt, "status", r.Status, "retry", verdict.Retry, "reason", verdict.Reason)
	if err := s.release(ctx, r); err != nil {
		return workflow.FinishResult{}, err
	}
	return workflow.FinishResult{Retry: verdict.Retry, Status: r.Status}, nil
}
