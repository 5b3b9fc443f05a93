package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Alarms go off when something needs a person: a message in a dead-letter queue (a run request that
// could not be accepted, an event that could not be handled) or a workflow execution that failed,
// timed out or was stopped. With a topic, each alarm notifies it.
type Alarms struct {
	ByName map[string]awscloudwatch.Alarm
}

// NewAlarms declares one alarm per dead-letter queue and per way an execution can end badly.
func NewAlarms(scope constructs.Construct, id string, q *Queues, w *Workflows, topicARN string) *Alarms {
	c := constructs.NewConstruct(scope, jsii.String(id))
	a := &Alarms{ByName: map[string]awscloudwatch.Alarm{}}
	var topic awssns.ITopic
	if topicARN != "" {
		topic = awssns.Topic_FromTopicArn(c, jsii.String("Topic"), jsii.String(topicARN))
	}
	add := func(name, what string, m awscloudwatch.IMetric) {
		al := awscloudwatch.NewAlarm(c, jsii.String(name), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String("SparkFlow: " + what),
			Metric:             m,
			Threshold:          jsii.Number(1),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		if topic != nil {
			al.AddAlarmAction(awscloudwatchactions.NewSnsAction(topic))
		}
		a.ByName[name] = al
	}
	dlq := func(name, what string, queue awssqs.Queue) {
		add(name, what, queue.MetricApproximateNumberOfMessagesVisible(nil))
	}
	dlq("RunsDLQNotEmpty", "run requests could not be accepted; see `sparkflow run rejected` and the runs DLQ", q.RunsDLQ)
	dlq("EventsDLQNotEmpty", "EMR or execution events could not be handled; the reconciler repairs what they would have changed, and the events DLQ keeps them", q.EventsDLQ)
	executions := func(prefix, what string, sm awsstepfunctions.StateMachine) {
		add(prefix+"ExecutionsFailed", what+" executions failed", sm.MetricFailed(nil))
		add(prefix+"ExecutionsTimedOut", what+" executions timed out", sm.MetricTimedOut(nil))
		add(prefix+"ExecutionsAborted", what+" executions were stopped from outside", sm.MetricAborted(nil))
	}
	executions("Run", "run workflow", w.Run)
	executions("Pool", "pool workflow", w.Pool)
	return a
}
