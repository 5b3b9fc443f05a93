package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Queues are the runs queue with its dead-letter queue (and an alarm on it), and the dead-letter
// queue of the EMR event rules' target.
type Queues struct {
	Runs, RunsDLQ, EventsDLQ awssqs.Queue
	DLQAlarm                 awscloudwatch.Alarm
}

// Pinned logical ids of the stateful queues.
const (
	RunsQueueLogicalID = "SparkflowRunsQueue"
	RunsDLQLogicalID   = "SparkflowRunsDLQ"
)

// MaxReceiveCount is how often a run request is tried before it goes to the dead-letter queue.
const MaxReceiveCount = 5

// NewQueues declares the queues. visibility must be at least six times the intake function's timeout.
func NewQueues(scope constructs.Construct, id string, visibility awscdk.Duration) *Queues {
	c := constructs.NewConstruct(scope, jsii.String(id))
	q := &Queues{}
	q.RunsDLQ = awssqs.NewQueue(c, jsii.String("RunsDLQ"), &awssqs.QueueProps{RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
		Encryption: awssqs.QueueEncryption_SQS_MANAGED, RemovalPolicy: awscdk.RemovalPolicy_RETAIN})
	q.Runs = awssqs.NewQueue(c, jsii.String("Runs"), &awssqs.QueueProps{VisibilityTimeout: visibility, RetentionPeriod: awscdk.Duration_Days(jsii.Number(4)),
		Encryption: awssqs.QueueEncryption_SQS_MANAGED, RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		DeadLetterQueue: &awssqs.DeadLetterQueue{Queue: q.RunsDLQ, MaxReceiveCount: jsii.Number(MaxReceiveCount)}})
	q.EventsDLQ = awssqs.NewQueue(c, jsii.String("EventsDLQ"), &awssqs.QueueProps{RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
		Encryption: awssqs.QueueEncryption_SQS_MANAGED})
	q.Runs.Node().DefaultChild().(awssqs.CfnQueue).OverrideLogicalId(jsii.String(RunsQueueLogicalID))
	q.RunsDLQ.Node().DefaultChild().(awssqs.CfnQueue).OverrideLogicalId(jsii.String(RunsDLQLogicalID))
	q.DLQAlarm = awscloudwatch.NewAlarm(c, jsii.String("RunsDLQNotEmpty"), &awscloudwatch.AlarmProps{
		AlarmDescription:   jsii.String("SparkFlow: run requests could not be accepted; see the rejected records and the DLQ"),
		Metric:             q.RunsDLQ.MetricApproximateNumberOfMessagesVisible(nil),
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	return q
}
