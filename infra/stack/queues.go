package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Queues are the runs queue and the events queue, each with its dead-letter queue.
type Queues struct {
	Runs, RunsDLQ awssqs.Queue
	// Events holds the EMR and execution state-change events the rules match, for the events
	// function's event-source mapping; what it cannot handle after EventMaxReceiveCount receives, or
	// what EventBridge cannot deliver to it, goes to EventsDLQ.
	Events, EventsDLQ awssqs.Queue
	// ScheduleDLQ keeps the firings of transforms' schedules that EventBridge Scheduler could not
	// send to the runs queue (after a day of retries).
	ScheduleDLQ awssqs.Queue
}

// Pinned logical ids of the stateful queues.
const (
	RunsQueueLogicalID = "SparkflowRunsQueue"
	RunsDLQLogicalID   = "SparkflowRunsDLQ"
)

// MaxReceiveCount is how often a run request is tried before it goes to the dead-letter queue.
const MaxReceiveCount = 5

// EventMaxReceiveCount is how often an event is handed to the events function before it goes to the
// events dead-letter queue.
const EventMaxReceiveCount = 5

// NewQueues declares the queues. Each visibility timeout is six times its consumer's timeout, as
// Lambda advises for event-source mappings.
func NewQueues(scope constructs.Construct, id string, visibility, eventsVisibility awscdk.Duration) *Queues {
	c := constructs.NewConstruct(scope, jsii.String(id))
	q := &Queues{}
	q.RunsDLQ = awssqs.NewQueue(c, jsii.String("RunsDLQ"), &awssqs.QueueProps{RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
		Encryption: awssqs.QueueEncryption_SQS_MANAGED, RemovalPolicy: awscdk.RemovalPolicy_RETAIN})
	q.Runs = awssqs.NewQueue(c, jsii.String("Runs"), &awssqs.QueueProps{VisibilityTimeout: visibility, RetentionPeriod: awscdk.Duration_Days(jsii.Number(4)),
		Encryption: awssqs.QueueEncryption_SQS_MANAGED, RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		DeadLetterQueue: &awssqs.DeadLetterQueue{Queue: q.RunsDLQ, MaxReceiveCount: jsii.Number(MaxReceiveCount)}})
	q.EventsDLQ = awssqs.NewQueue(c, jsii.String("EventsDLQ"), &awssqs.QueueProps{RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
		Encryption: awssqs.QueueEncryption_SQS_MANAGED})
	q.Events = awssqs.NewQueue(c, jsii.String("Events"), &awssqs.QueueProps{VisibilityTimeout: eventsVisibility, RetentionPeriod: awscdk.Duration_Days(jsii.Number(4)),
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		DeadLetterQueue: &awssqs.DeadLetterQueue{Queue: q.EventsDLQ, MaxReceiveCount: jsii.Number(EventMaxReceiveCount)}})
	q.ScheduleDLQ = awssqs.NewQueue(c, jsii.String("ScheduleDLQ"), &awssqs.QueueProps{RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
		Encryption: awssqs.QueueEncryption_SQS_MANAGED})
	q.Runs.Node().DefaultChild().(awssqs.CfnQueue).OverrideLogicalId(jsii.String(RunsQueueLogicalID))
	q.RunsDLQ.Node().DefaultChild().(awssqs.CfnQueue).OverrideLogicalId(jsii.String(RunsDLQLogicalID))
	return q
}
