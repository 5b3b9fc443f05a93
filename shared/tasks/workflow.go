package tasks

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/workflow"
)

// The run workflow's tasks with the payloads its description gives them. Both homes call these: the
// Lambda handlers on AWS, the workflow interpreter in the local engine.

// ReserveTask is the Reserve state's task.
func (s *Service) ReserveTask(ctx context.Context, in workflow.TokenInput) error {
	return s.Reserve(ctx, in.RunID, in.Token, in.Fence(sparkflow.FenceReserve))
}

// SubmitTask is the Submit state's task.
func (s *Service) SubmitTask(ctx context.Context, in workflow.TokenInput) error {
	return s.Submit(ctx, in.RunID, in.Token, in.Fence(sparkflow.FenceSubmit))
}

// FinishTask is the Finish state's task: it decodes the outcome (or the caught error) and finishes
// the attempt.
func (s *Service) FinishTask(ctx context.Context, in workflow.FinishInput) (workflow.FinishResult, error) {
	return s.FinishAttempt(ctx, in.RunID, in.Attempt, in.Outcome.Decode())
}

// RunTasks binds the run workflow's tasks to s, for the workflow interpreter.
func (s *Service) RunTasks() map[string]workflow.TaskFunc {
	token := func(fn func(context.Context, workflow.TokenInput) error) workflow.TaskFunc {
		return func(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
			var in workflow.TokenInput
			if err := json.Unmarshal(raw, &in); err != nil {
				return nil, fmt.Errorf("task payload %s: %w", raw, err)
			}
			return json.RawMessage("null"), fn(ctx, in)
		}
	}
	return map[string]workflow.TaskFunc{
		workflow.TaskHold:    token(s.HoldTask),
		workflow.TaskReserve: token(s.ReserveTask),
		workflow.TaskSubmit:  token(s.SubmitTask),
		workflow.TaskFinish: func(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
			var in workflow.FinishInput
			if err := json.Unmarshal(raw, &in); err != nil {
				return nil, fmt.Errorf("finish payload %s: %w", raw, err)
			}
			res, err := s.FinishTask(ctx, in)
			if err != nil {
				return nil, err
			}
			return json.Marshal(res)
		},
	}
}
