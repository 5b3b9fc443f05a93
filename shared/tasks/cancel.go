package tasks

import (
	"context"
	"fmt"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/workflow"
)

// Cancel asks for a run to end as CANCELLED: a run without a step ends at once (its waiting workflow
// is told); a run with a step has it cancelled, and the step's end finishes the run.
func (s *Service) Cancel(ctx context.Context, runID string) (sparkflow.Run, error) {
	r, err := s.mutateRun(ctx, runID, func(r *sparkflow.Run) (bool, error) {
		if r.Status.Terminal() {
			return false, sparkflow.Errorf(sparkflow.Conflict, "run %s has ended already (%s)", r.ID, r.Status)
		}
		if r.CancelRequested {
			return false, nil
		}
		r.CancelRequested = true
		r.History = append(r.History, sparkflow.Transition{Status: r.Status, Attempt: r.Attempt, At: s.now(), Event: sparkflow.EventCancelRequested})
		return true, nil
	})
	if err != nil {
		return r, err
	}
	ctx = scope(ctx, r)
	if r.StepID != "" && !r.StepState.Terminal() {
		if err := s.Clusters.CancelStep(ctx, r.ClusterID, r.StepID); err != nil && !sparkflow.IsCode(err, sparkflow.NotFound) {
			return r, fmt.Errorf("cancel step %s of run %s: %w", r.StepID, runID, err)
		}
		s.Log.InfoContext(ctx, "step cancel sent", "run_id", runID, "step_id", r.StepID)
		return r, nil
	}
	if r.Status.Rank() >= sparkflow.RunSubmitted.Rank() || s.claimHeld(r, sparkflow.Fence{}) {
		// Submit is under way: it reads the run after adding the step and cancels it, unless it read
		// the run before this request was written; its step's id is recorded by the step's first
		// event, which may not have come yet: the step is then looked for by its name.
		if r.StepID == "" && r.Submitting != nil && r.ClusterID != "" && r.ReservedAt != nil {
			st, err := s.attemptStep(ctx, r)
			if err != nil {
				return r, fmt.Errorf("look for the step of run %s to cancel it: %w", runID, err)
			}
			if st != nil && !st.State.Terminal() {
				if err := s.Clusters.CancelStep(ctx, r.ClusterID, st.ID); err != nil && !sparkflow.IsCode(err, sparkflow.NotFound) {
					return r, fmt.Errorf("cancel step %s of run %s: %w", st.ID, runID, err)
				}
				s.Log.InfoContext(ctx, "step cancel sent", "run_id", runID, "step_id", st.ID)
			}
		}
		return r, nil
	}
	// No step: end it now and stop the waiting workflow.
	token := r.Token
	if _, err := s.Finish(ctx, runID, core.Outcome{StepState: sparkflow.StepCancelled, Cause: core.CauseCancelled}); err != nil {
		return r, err
	}
	if token != "" {
		if err := s.Callbacks.SendTaskFailure(ctx, token, workflow.ErrorCancelled, "cancelled by request"); err != nil && !sparkflow.IsCode(err, sparkflow.NotFound) {
			s.Log.WarnContext(ctx, "stop waiting workflow", "run_id", runID, "err", err)
		}
	}
	return s.Store.GetRun(ctx, runID)
}
