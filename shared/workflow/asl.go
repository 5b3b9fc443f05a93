package workflow

import (
	"encoding/json"
	"fmt"
)

// Functions are the ARNs of the Lambda tasks of the run workflow.
type Functions struct {
	Reserve, Submit, Finish string
}

// Input is what a run workflow starts with (the intake task sends it).
type Input struct {
	RunID               string `json:"runId"`
	QueueTimeoutSeconds int    `json:"queueTimeoutSeconds"`
	TimeoutSeconds      int    `json:"timeoutSeconds"`
}

// LambdaErrors are the Lambda service errors worth retrying (per the Step Functions documentation).
var LambdaErrors = []string{"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException", "Lambda.TooManyRequestsException"}

// MaxExecutionSeconds bounds a whole execution: every attempt's waits have their own timeouts, and
// this is a backstop far above their sum.
const MaxExecutionSeconds = 200 * 24 * 3600

func retry() []map[string]any {
	return []map[string]any{{
		"ErrorEquals":     append(append([]string{}, LambdaErrors...), ErrorTransient),
		"IntervalSeconds": int(TaskRetry.Interval.Seconds()),
		"BackoffRate":     TaskRetry.BackoffRate,
		"MaxAttempts":     TaskRetry.MaxAttempts,
	}}
}

func waitTask(fn, timeoutPath, resultPath, next, onTimeout, onError string) map[string]any {
	return map[string]any{
		"Type":     "Task",
		"Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
		"Parameters": map[string]any{
			"FunctionName": fn,
			"Payload":      map[string]any{"runId.$": "$.runId", "token.$": "$$.Task.Token"},
		},
		"TimeoutSecondsPath": timeoutPath,
		"ResultPath":         resultPath,
		"Retry":              retry(),
		"Catch": []map[string]any{
			{"ErrorEquals": []string{ErrorTimeout}, "ResultPath": "$.error", "Next": onTimeout},
			{"ErrorEquals": []string{"States.ALL"}, "ResultPath": "$.error", "Next": onError},
		},
		"Next": next,
	}
}

func outcome(cause string) map[string]any {
	return map[string]any{"Type": "Pass", "Result": map[string]any{"cause": cause}, "ResultPath": "$.outcome", "Next": StateFinish}
}

func failed() map[string]any {
	return map[string]any{"Type": "Pass", "ResultPath": "$.outcome", "Next": StateFinish,
		"Parameters": map[string]any{"cause": "SubmitFailed", "error.$": "$.error.Error", "reason.$": "$.error.Cause"}}
}

// RunStateMachine is the Amazon States Language definition of the run workflow (Standard): the
// same states, order, retries and timeouts as the local runner in package local.
func RunStateMachine(f Functions) ([]byte, error) {
	if f.Reserve == "" || f.Submit == "" || f.Finish == "" {
		return nil, fmt.Errorf("run state machine: every task needs its function")
	}
	def := map[string]any{
		"Comment":        "SparkFlow run: reserve a slot, submit the EMR step and wait for its end, finish; retry per the transform's policy",
		"StartAt":        StateReserve,
		"TimeoutSeconds": MaxExecutionSeconds,
		"States": map[string]any{
			StateReserve:    waitTask(f.Reserve, "$.queueTimeoutSeconds", "$.grant", StateSubmit, "QueueTimedOut", "ReserveFailed"),
			"QueueTimedOut": outcome("QueueTimeout"),
			"ReserveFailed": failed(),
			StateSubmit:     waitTask(f.Submit, "$.timeoutSeconds", "$.outcome", StateFinish, "RunTimedOut", "SubmitFailed"),
			"RunTimedOut":   outcome("Timeout"),
			"SubmitFailed":  failed(),
			StateFinish: map[string]any{
				"Type":     "Task",
				"Resource": "arn:aws:states:::lambda:invoke",
				"Parameters": map[string]any{
					"FunctionName": f.Finish,
					"Payload":      map[string]any{"runId.$": "$.runId", "outcome.$": "$.outcome"},
				},
				"ResultSelector": map[string]any{"retry.$": "$.Payload.retry", "status.$": "$.Payload.status"},
				"ResultPath":     "$.finish",
				"Retry":          retry(),
				"Next":           "Again",
			},
			"Again": map[string]any{
				"Type":    "Choice",
				"Choices": []map[string]any{{"Variable": "$.finish.retry", "BooleanEquals": true, "Next": StateReserve}},
				"Default": "Done",
			},
			"Done": map[string]any{"Type": "Succeed"},
		},
	}
	return json.MarshalIndent(def, "", "  ")
}

// PoolStateMachine is the pool workflow: one Lambda task (create, delete or heal a pool) with the same
// retry policy, bounded in time.
func PoolStateMachine(poolFunction string) ([]byte, error) {
	if poolFunction == "" {
		return nil, fmt.Errorf("pool state machine: the pool task needs its function")
	}
	return json.MarshalIndent(map[string]any{
		"Comment":        "SparkFlow pool: create, delete or heal a pool",
		"StartAt":        "Pool",
		"TimeoutSeconds": 3600,
		"States": map[string]any{
			"Pool": map[string]any{
				"Type":           "Task",
				"Resource":       "arn:aws:states:::lambda:invoke",
				"Parameters":     map[string]any{"FunctionName": poolFunction, "Payload.$": "$"},
				"OutputPath":     "$.Payload",
				"TimeoutSeconds": 900,
				"Retry":          retry(),
				"End":            true,
			},
		},
	}, "", "  ")
}
