package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/sparkflow/sparkflow/shared/emrevent"
	"github.com/sparkflow/sparkflow/shared/workflow"
)

// EventRetryAttempts and EventMaxAge are EventBridge's most patient delivery (185 attempts, 24 h): an
// EMR event that still cannot be delivered goes to the dead-letter queue, and the reconciler repairs
// what it would have changed.
const EventRetryAttempts = 185

// Events are the EMR state-change rules and the reconciler's schedule.
type Events struct {
	Cluster, Step, Execution, Reconcile awsevents.Rule
}

// NewEvents declares exact rules for the state changes of this stack's EMR clusters and steps (their
// names start with namePrefix) and of its run executions, all onto the events queue (EventBridge's
// retries cover the hand-over to SQS, the queue's redrive the handler's failures: no event is dropped
// without a trace), and the reconciler's schedule.
func NewEvents(scope constructs.Construct, id string, queue, dlq awssqs.Queue, reconcile awslambda.Function, every awscdk.Duration, runStateMachineARN *string, namePrefix string) *Events {
	c := constructs.NewConstruct(scope, jsii.String(id))
	target := awseventstargets.NewSqsQueue(queue, &awseventstargets.SqsQueueProps{
		DeadLetterQueue: dlq, RetryAttempts: jsii.Number(EventRetryAttempts), MaxEventAge: awscdk.Duration_Hours(jsii.Number(24))})
	rule := func(name, detailType string, states []string) awsevents.Rule {
		// Cluster events carry the cluster's name, step events the step's: both start with the
		// stack's prefix, so another stack's clusters never reach this one.
		detail := map[string]any{"name": []any{map[string]any{"prefix": namePrefix + ":"}}}
		if states != nil {
			detail["state"] = states
		}
		return awsevents.NewRule(c, jsii.String(name), &awsevents.RuleProps{
			Description:  jsii.String("SparkFlow: " + detailType + " of this stack's clusters"),
			EventPattern: &awsevents.EventPattern{Source: jsii.Strings(emrevent.Source), DetailType: jsii.Strings(detailType), Detail: &detail},
			Targets:      &[]awsevents.IRuleTarget{target},
		})
	}
	var stepStates []string
	for _, st := range emrevent.HandledStepStates {
		stepStates = append(stepStates, string(st))
	}
	return &Events{
		Cluster: rule("ClusterStateChange", emrevent.ClusterDetailType, nil),
		// Only the step states that change a run (not PENDING): fewer events to handle.
		Step: rule("StepStatusChange", emrevent.StepDetailType, stepStates),
		// A run's execution that fails, times out or is stopped from outside without finishing its run:
		// the handler ends the run with the reason and frees its slot.
		Execution: awsevents.NewRule(c, jsii.String("RunExecutionEnded"), &awsevents.RuleProps{
			Description: jsii.String("SparkFlow: a run's workflow execution ended without finishing it"),
			EventPattern: &awsevents.EventPattern{Source: jsii.Strings(workflow.ExecutionSource), DetailType: jsii.Strings(workflow.ExecutionDetailType),
				Detail: &map[string]any{"stateMachineArn": []*string{runStateMachineARN}, "status": []string{"FAILED", "TIMED_OUT", "ABORTED"}}},
			Targets: &[]awsevents.IRuleTarget{target},
		}),
		Reconcile: awsevents.NewRule(c, jsii.String("ReconcileSchedule"), &awsevents.RuleProps{
			Description: jsii.String("SparkFlow: compare records with EMR and repair what lost events left behind"),
			Schedule:    awsevents.Schedule_Rate(every),
			Targets:     &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(reconcile, nil)},
		}),
	}
}
