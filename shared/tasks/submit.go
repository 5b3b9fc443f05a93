package tasks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/logs"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/workflow"
)

// Submit is the second task of an attempt (called with a task token): it records the token that the
// step's end resumes, with its claim on adding the step and the run SUBMITTED, then adds the attempt's
// step to the cluster the run holds. One run write and one EMR call (AddJobFlowSteps) per attempt: the
// step's id is recorded by its first event (ApplyStep; the reconciler finds it by its name should its
// events be lost), and only a Submit that may follow another invocation's try (a retry, a duplicate, a
// restarted engine's, one after an add that may or may not have happened) looks for a step of the
// attempt's name first (AddJobFlowSteps has no idempotency token). A step found already ended resumes
// the workflow at once.
func (s *Service) Submit(ctx context.Context, runID, token string, fence sparkflow.Fence) error {
	// The token goes on the run (only a newer invocation replaces it), with the claim on adding the
	// attempt's step: one invocation of an attempt may add it at a time, so that two (a retry and a
	// late duplicate) never both add one.
	mine, look, completed := false, false, false
	r, err := s.mutateRun(ctx, runID, func(r *sparkflow.Run) (bool, error) {
		completed = false
		if r.Status == sparkflow.RunSucceeded && r.StepState == sparkflow.StepCompleted && (fence.Attempt == 0 || fence.Attempt == r.Attempt) {
			// A retried Submit of an attempt whose step completed, and whose end event ended the
			// run meanwhile (resuming the token of the try before): this try's token is resumed
			// with the step's end, so that the workflow goes on to its Finish.
			completed = true
			return false, nil
		}
		if r.Status.Terminal() {
			return false, sparkflow.Errorf(sparkflow.Conflict, "run %s is %s", r.ID, r.Status)
		}
		if err := superseded(*r, fence); err != nil {
			return false, err
		}
		r.Token, r.Fence = token, fencePtr(fence)
		mine = false
		// Some invocation of this attempt claimed the add before (its claim stays until the step is
		// recorded, or the attempt ends), or this is a retry: the step may be on the cluster already.
		look = r.Submitting != nil || fence.Retry > 0 || fence.Attempt == 0
		if r.StepID == "" && !r.CancelRequested {
			if !s.claimHeld(*r, fence) {
				now := s.now()
				r.Submitting = &sparkflow.SubmitClaim{Fence: fence, At: now}
				mine = true
				if r.Status.Rank() < sparkflow.RunSubmitted.Rank() {
					r.SetStatus(sparkflow.RunSubmitted, now, "submitting its step to "+r.ClusterID)
					r.History[len(r.History)-1].Cluster = r.ClusterID
				}
				if r.StepState == "" {
					// What EMR says of a step just added: its PENDING event then changes nothing.
					r.StepState = sparkflow.StepPending
				}
			}
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	ctx = scope(ctx, r)
	if completed {
		return s.resume(ctx, token, core.Outcome{StepState: sparkflow.StepCompleted})
	}
	if r.CancelRequested {
		return s.resume(ctx, token, core.Outcome{StepState: sparkflow.StepCancelled, Cause: core.CauseCancelled})
	}
	if r.ClusterID == "" || r.ReservedAt == nil {
		return sparkflow.Errorf(sparkflow.Internal, "run %s reached submit without a slot", runID)
	}
	found, added, ended, err := s.placeStep(ctx, r, fence, mine, look)
	if err != nil {
		return err
	}
	if ended != nil {
		return s.resume(ctx, token, *ended)
	}
	if added {
		return s.afterAdd(ctx, runID, *found, fence)
	}
	r, err = s.recordStep(ctx, runID, *found, fence)
	ctx = logs.With(ctx, "step_id", found.ID, "run_id", runID, "cluster_id", r.ClusterID)
	if errors.Is(err, errSuperseded) {
		// The attempt ended, or a newer invocation took over, while this one added the step: it
		// belongs to no live attempt and must not work on.
		if !found.State.Terminal() {
			if err := s.Clusters.CancelStep(ctx, r.ClusterID, found.ID); err != nil {
				return fmt.Errorf("cancel the step of superseded attempt %d of run %s: %w", fence.Attempt, runID, err)
			}
		}
		return nil
	}
	if err != nil {
		return err
	}
	if (r.CancelRequested || r.Status.Terminal()) && !found.State.Terminal() {
		// Its cancel was asked, or the run ended (its workflow stopped from outside, say), while the
		// step was being added: the step must not work on.
		if err := s.Clusters.CancelStep(ctx, r.ClusterID, found.ID); err != nil {
			return fmt.Errorf("cancel the step just added to run %s, which ended or is cancelled: %w", runID, err)
		}
		if r.Status.Terminal() {
			return nil
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

// afterAdd is what follows the add of a step by the invocation that holds the claim: nothing is
// written (the token was recorded with the claim; the step's first event records its id), but the run
// is read again: an attempt that ended, or went on, or whose cancel was asked while the step was being
// added must not have it work on. (A cancel asked after this read finds the step by its name: Cancel.)
func (s *Service) afterAdd(ctx context.Context, runID string, step sparkflow.StepInfo, fence sparkflow.Fence) error {
	r, err := s.Store.GetRun(ctx, runID)
	if err != nil {
		return err
	}
	ctx = logs.With(ctx, "step_id", step.ID, "run_id", runID, "cluster_id", r.ClusterID)
	switch {
	case fence.Attempt != 0 && fence.Attempt != r.Attempt && !r.Status.Terminal():
		if err := s.Clusters.CancelStep(ctx, r.ClusterID, step.ID); err != nil {
			return fmt.Errorf("cancel the step of superseded attempt %d of run %s: %w", fence.Attempt, runID, err)
		}
	case r.CancelRequested || r.Status.Terminal():
		// Its cancel was asked, or the run ended (its workflow stopped from outside, say), while the
		// step was being added: the step must not work on.
		if err := s.Clusters.CancelStep(ctx, r.ClusterID, step.ID); err != nil {
			return fmt.Errorf("cancel the step just added to run %s, which ended or is cancelled: %w", runID, err)
		}
	}
	return nil
}

// placeStep finds the attempt's step on the run's cluster or adds it. It returns the step (added:
// this invocation added it), or the outcome that ends the attempt at once (the transform is gone or
// cannot make a step, the cluster is lost), or an error to retry.
func (s *Service) placeStep(ctx context.Context, r sparkflow.Run, fence sparkflow.Fence, mine, look bool) (*sparkflow.StepInfo, bool, *core.Outcome, error) {
	failed := func(reason string) *core.Outcome {
		return &core.Outcome{StepState: sparkflow.StepFailed, Cause: core.CauseSubmitFailed, Reason: reason}
	}
	lost := func(reason string) *core.Outcome {
		return &core.Outcome{StepState: sparkflow.StepInterrupted, Cause: core.CauseClusterLost, Reason: reason}
	}
	t, err := s.Store.GetTransform(ctx, r.Transform)
	if sparkflow.IsCode(err, sparkflow.NotFound) {
		return nil, false, failed("transform " + r.Transform + " was deleted"), nil
	}
	if err != nil {
		return nil, false, nil, err
	}
	step, err := core.NamedStep(s.NamePrefix, t, r)
	if err != nil {
		return nil, false, failed(err.Error()), nil
	}
	if look {
		steps, err := s.Clusters.ListSteps(ctx, r.ClusterID)
		if sparkflow.IsCode(err, sparkflow.NotFound) {
			return nil, false, lost("cluster not found"), nil
		}
		if err != nil {
			return nil, false, nil, fmt.Errorf("list steps of %s: %w", r.ClusterID, err)
		}
		for i := range steps {
			if steps[i].Name == step.Name {
				return &steps[i], false, nil, nil
			}
		}
	}
	if !mine {
		// Another invocation of this attempt holds the claim and may be adding the step now: wait
		// for it (the workflow retries this error until the claim has expired).
		return nil, false, nil, &workflow.Failure{Name: workflow.ErrorSubmitBusy, Cause: fmt.Sprintf("run %s: another invocation of attempt %d is adding its step", r.ID, r.Attempt)}
	}
	id, err := s.Clusters.AddStep(ctx, r.ClusterID, step)
	if err != nil {
		// Give the claim up, so that Finish need not wait for it: cleared when EMR said no (the
		// cluster is gone, the step is refused: nothing was added), or left expired when the step may
		// or may not have been added (the retry, which looks for the step first, may add it at once).
		definite := sparkflow.IsCode(err, sparkflow.Conflict) || sparkflow.IsCode(err, sparkflow.NotFound) || sparkflow.IsCode(err, sparkflow.Invalid)
		if _, rerr := s.mutateRun(ctx, r.ID, func(r *sparkflow.Run) (bool, error) {
			if r.Submitting == nil || r.Submitting.Fence != fence {
				return false, nil
			}
			if definite {
				r.Submitting = nil
				if r.StepID == "" {
					r.StepState = ""
				}
			} else {
				r.Submitting = &sparkflow.SubmitClaim{Fence: fence} // expired: a claim of no one
			}
			return true, nil
		}); rerr != nil {
			s.Log.WarnContext(ctx, "give back the submit claim", "run_id", r.ID, "err", rerr)
		}
	}
	switch {
	case sparkflow.IsCode(err, sparkflow.Conflict) || sparkflow.IsCode(err, sparkflow.NotFound):
		return nil, false, lost(err.Error()), nil
	case sparkflow.IsCode(err, sparkflow.Invalid):
		return nil, false, failed(err.Error()), nil
	case err != nil:
		return nil, false, nil, fmt.Errorf("add step to %s: %w", r.ClusterID, err)
	}
	s.Log.InfoContext(ctx, "step added", "run_id", r.ID, "cluster_id", r.ClusterID, "step_id", id)
	return &sparkflow.StepInfo{ID: id, Name: step.Name, State: sparkflow.StepPending}, true, nil, nil
}

// SubmitClaimLease is how long a Submit invocation's claim on adding its attempt's step holds: longer
// than the submit function may run (its Lambda timeout), so that a claim older than this is of an
// invocation that has died.
const SubmitClaimLease = 2 * time.Minute

// claimHeld reports whether the run's submit claim belongs to a live invocation other than fence's:
// one of this attempt and execution, and within its lease.
func (s *Service) claimHeld(r sparkflow.Run, fence sparkflow.Fence) bool {
	c := r.Submitting
	return c != nil && c.Fence != fence && c.Fence.Attempt == r.Attempt && c.Fence.Epoch >= fence.Epoch && s.now().Sub(c.At) < SubmitClaimLease
}

// errSuperseded: the invocation recording a step is not the run's current one any more.
var errSuperseded = errors.New("superseded")

// recordStep records the attempt's step on the run: its id, log location and (never backwards) state.
// Only an invocation of the run's current attempt records it.
func (s *Service) recordStep(ctx context.Context, runID string, found sparkflow.StepInfo, fence sparkflow.Fence) (sparkflow.Run, error) {
	return s.mutateRun(ctx, runID, func(r *sparkflow.Run) (bool, error) {
		if r.Status.Terminal() {
			return false, nil
		}
		if fence.Attempt != 0 && fence.Attempt != r.Attempt {
			// (A newer invocation of the same attempt may be waiting for this one's step: it is
			// recorded for them both.)
			return false, errSuperseded
		}
		if r.Status.Rank() < sparkflow.RunSubmitted.Rank() {
			r.SetStatus(sparkflow.RunSubmitted, s.now(), "step "+found.ID+" on "+r.ClusterID)
			r.History[len(r.History)-1].Step, r.History[len(r.History)-1].Cluster = found.ID, r.ClusterID
		} else if r.StepID == "" {
			r.History = core.NameStep(r.History, r.Attempt, found.ID, r.ClusterID)
		}
		r.StepID, r.Submitting = found.ID, nil
		if found.LogURI != "" {
			r.LogURI = found.LogURI
		}
		if found.State.Rank() > r.StepState.Rank() || r.StepState == "" {
			r.StepState = found.State
		}
		return true, nil
	})
}
