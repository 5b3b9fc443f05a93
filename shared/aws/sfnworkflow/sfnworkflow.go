// Package sfnworkflow is the AWS home's workflow engine: Step Functions (Standard). It starts a run's
// execution, named by the run id so that a redelivered request starts nothing new, and resumes waiting
// tasks with their tokens (sparkflow.Callbacks).
package sfnworkflow

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/workflow"
)

// API is the part of the Step Functions client used.
type API interface {
	StartExecution(context.Context, *sfn.StartExecutionInput, ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
	SendTaskSuccess(context.Context, *sfn.SendTaskSuccessInput, ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error)
	SendTaskFailure(context.Context, *sfn.SendTaskFailureInput, ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error)
	DescribeExecution(context.Context, *sfn.DescribeExecutionInput, ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
}

// Workflows starts run workflows and resumes their tasks.
type Workflows struct {
	api          API
	stateMachine string
}

var (
	_ sparkflow.Callbacks         = (*Workflows)(nil)
	_ sparkflow.ExecutionStatuses = (*Workflows)(nil)
)

// New returns the adapter for the run state machine's ARN.
func New(api API, stateMachineARN string) *Workflows {
	return &Workflows{api: api, stateMachine: stateMachineARN}
}

func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var gone1 *types.TaskDoesNotExist
	var gone2 *types.TaskTimedOut
	var bad *types.InvalidToken
	if errors.As(err, &gone1) || errors.As(err, &gone2) || errors.As(err, &bad) {
		return sparkflow.Wrap(sparkflow.NotFound, err, "%s", op)
	}
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorFault() == smithy.FaultClient && api.ErrorCode() != "ThrottlingException" {
		return sparkflow.Wrap(sparkflow.Invalid, err, "%s", op)
	}
	return sparkflow.Wrap(sparkflow.Transient, err, "%s", op)
}

// Start starts the run's workflow. Step Functions treats a second start with the same name and input
// as the same execution; one with the name of an execution that has closed is refused, and means the
// run was started before: both are success here.
func (w *Workflows) Start(ctx context.Context, in workflow.Input) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	_, err = w.api.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(w.stateMachine), Name: aws.String(in.RunID), Input: aws.String(string(b))})
	var exists *types.ExecutionAlreadyExists
	if errors.As(err, &exists) {
		return nil
	}
	return classify("start workflow of run "+in.RunID, err)
}

// SendTaskSuccess resumes a waiting task with output (JSON).
func (w *Workflows) SendTaskSuccess(ctx context.Context, token string, output []byte) error {
	_, err := w.api.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(string(output))})
	return classify("send task success", err)
}

// SendTaskFailure fails a waiting task with an error name and cause.
func (w *Workflows) SendTaskFailure(ctx context.Context, token, errName, cause string) error {
	_, err := w.api.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: aws.String(token), Error: aws.String(errName), Cause: aws.String(cause)})
	return classify("send task failure", err)
}

// ExecutionStatus says how the run's execution stands (RUNNING, SUCCEEDED, FAILED, TIMED_OUT,
// ABORTED, PENDING_REDRIVE); NotFound when the run has none.
func (w *Workflows) ExecutionStatus(ctx context.Context, runID string) (string, error) {
	arn := strings.Replace(w.stateMachine, ":stateMachine:", ":execution:", 1) + ":" + runID
	out, err := w.api.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	var gone *types.ExecutionDoesNotExist
	if errors.As(err, &gone) {
		return "", sparkflow.Wrap(sparkflow.NotFound, err, "execution of run %s", runID)
	}
	if err != nil {
		return "", classify("describe the execution of run "+runID, err)
	}
	return string(out.Status), nil
}
