package tasks

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// ExecutionDetail is the part of an execution status change event SparkFlow reads.
type ExecutionDetail struct {
	ExecutionArn    string `json:"executionArn"`
	StateMachineArn string `json:"stateMachineArn"`
	Name            string `json:"name"`
	Status          string `json:"status"`
	Error           string `json:"error"`
	Cause           string `json:"cause"`
}

func (s *Service) handleExecutionEvent(ctx context.Context, raw []byte) error {
	var ev struct {
		Detail ExecutionDetail `json:"detail"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		return sparkflow.Wrap(sparkflow.Invalid, err, "execution status event")
	}
	return s.ExecutionEnded(ctx, ev.Detail.Name, ev.Detail.Status, ev.Detail.Error, ev.Detail.Cause)
}

// ExecutionEnded ends the run whose workflow execution (named by the run id) ended without finishing
// it: stopped from outside (ABORTED: the run is CANCELLED), failed or timed out (the run FAILS). Its
// step, if any, is cancelled and its slot freed. A run that has ended already (its workflow failed on
// purpose, as a FAILED run's does) is left as it is. Executions of runs SparkFlow does not know are
// ignored.
func (s *Service) ExecutionEnded(ctx context.Context, runID, status, errName, cause string) error {
	r, err := s.Store.GetRun(ctx, runID)
	if sparkflow.IsCode(err, sparkflow.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx = scope(ctx, r)
	if r.Status.Terminal() {
		return s.release(ctx, r)
	}
	o := core.Outcome{Cause: core.CauseWorkflowEnded, StepState: sparkflow.StepFailed,
		Reason: fmt.Sprintf("its workflow execution ended %s without finishing it", status)}
	if status == "ABORTED" {
		o.StepState = sparkflow.StepCancelled
		o.Reason = "its workflow execution was stopped from outside"
	}
	switch {
	case errName != "":
		o.Reason += fmt.Sprintf(" (%s: %s)", errName, cause)
	case cause != "":
		o.Reason += " (" + cause + ")"
	}
	s.Log.WarnContext(ctx, "workflow ended under an active run", "run_id", runID, "status", status, "error", errName)
	_, err = s.Finish(ctx, runID, o)
	return err
}
