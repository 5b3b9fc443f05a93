package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/sparkflow/sparkflow/shared/aws/emf"
	"github.com/sparkflow/sparkflow/shared/metrics"
)

// Alarms go off when something needs a person: a message in a dead-letter queue (a run request that
// could not be accepted, an event that could not be handled), a workflow execution that failed, timed
// out or was stopped, a run waiting too long for a slot, a pool DEGRADED, the reconciler repairing
// more than a few lost events, EMR throttling SparkFlow's calls for a quarter of an hour. With a
// topic (the AlarmTopicArn parameter), each alarm notifies it.
type Alarms struct {
	ByName map[string]awscloudwatch.Alarm
	// TopicARN is the deploy-time parameter of the topic the alarms notify ("" for none).
	TopicARN awscdk.CfnParameter
}

// AlarmProps are the alarms' thresholds (the defaults when zero).
type AlarmProps struct {
	// Stack is the "stack" dimension of the stack's own metrics (names.EnvStack).
	Stack string
	// TopicARN is the AlarmTopicArn parameter's default.
	TopicARN string
	// OldestWaitMinutes: the oldest waiting run of any pool has waited longer (default 60).
	OldestWaitMinutes float64
	// RepairsPerHour: the reconciler made up for more lost events in an hour (default 10).
	RepairsPerHour float64
	// Period of the metrics alarms (the reconciler's, when the gauges are recorded).
	Period awscdk.Duration
}

// The alarms' names after the stack's name (sparkflow doctor and the README name them).
const (
	AlarmOldestWait      = "OldestWaitingRun"
	AlarmPoolDegraded    = "PoolDegraded"
	AlarmRepairs         = "ReconcilerRepairs"
	AlarmEMRThrottled    = "EMRThrottled"
	ParameterAlarmTopic  = "AlarmTopicArn"
	ParameterOldestWait  = "OldestWaitAlarmMinutes"
	conditionAlarmsTopic = "AlarmsNotifyTopic"
)

// Metric is one of SparkFlow's own metrics (package metrics, written by the functions as EMF) for the
// stack as a whole: its stack-only dimension set.
func Metric(stack string, d metrics.Def, statistic string, period awscdk.Duration) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String(emf.Namespace), MetricName: jsii.String(d.Name),
		DimensionsMap: &map[string]*string{emf.StackDimension: jsii.String(stack)},
		Statistic:     jsii.String(statistic), Period: period,
	})
}

// NewAlarms declares the alarms.
func NewAlarms(scope constructs.Construct, id string, q *Queues, w *Workflows, p AlarmProps) *Alarms {
	c := constructs.NewConstruct(scope, jsii.String(id))
	if p.OldestWaitMinutes == 0 {
		p.OldestWaitMinutes = 60
	}
	if p.RepairsPerHour == 0 {
		p.RepairsPerHour = 10
	}
	if p.Period == nil {
		p.Period = awscdk.Duration_Minutes(jsii.Number(5))
	}
	st := awscdk.Stack_Of(scope)
	a := &Alarms{ByName: map[string]awscloudwatch.Alarm{}}
	a.TopicARN = awscdk.NewCfnParameter(st, jsii.String(ParameterAlarmTopic), &awscdk.CfnParameterProps{
		Type: jsii.String("String"), Default: jsii.String(p.TopicARN),
		Description: jsii.String("SNS topic every SparkFlow alarm notifies (empty: none)"),
	})
	oldest := awscdk.NewCfnParameter(st, jsii.String(ParameterOldestWait), &awscdk.CfnParameterProps{
		Type: jsii.String("Number"), Default: jsii.Number(p.OldestWaitMinutes), MinValue: jsii.Number(1),
		Description: jsii.String("alarm when a pool's oldest waiting run has waited this many minutes"),
	})
	notify := awscdk.NewCfnCondition(st, jsii.String(conditionAlarmsTopic), &awscdk.CfnConditionProps{
		Expression: awscdk.Fn_ConditionNot(awscdk.Fn_ConditionEquals(a.TopicARN.ValueAsString(), jsii.String(""))),
	})
	type spec struct {
		name, what   string
		m            awscloudwatch.IMetric
		threshold    float64
		thresholdRaw *float64 // a parameter's value, when the threshold is one
		periods      float64
	}
	add := func(s spec) {
		threshold := jsii.Number(s.threshold)
		if s.thresholdRaw != nil {
			threshold = s.thresholdRaw
		}
		if s.periods == 0 {
			s.periods = 1
		}
		al := awscloudwatch.NewAlarm(c, jsii.String(s.name), &awscloudwatch.AlarmProps{
			AlarmName:          jsii.String(p.Stack + "-" + s.name),
			AlarmDescription:   jsii.String("SparkFlow: " + s.what),
			Metric:             s.m,
			Threshold:          threshold,
			EvaluationPeriods:  jsii.Number(s.periods),
			DatapointsToAlarm:  jsii.Number(s.periods),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		cfn := al.Node().DefaultChild().(awscloudwatch.CfnAlarm)
		topic := []any{a.TopicARN.ValueAsString()}
		cfn.AddPropertyOverride(jsii.String("AlarmActions"), awscdk.Fn_ConditionIf(notify.LogicalId(), topic, awscdk.Aws_NO_VALUE()))
		cfn.AddPropertyOverride(jsii.String("OKActions"), awscdk.Fn_ConditionIf(notify.LogicalId(), topic, awscdk.Aws_NO_VALUE()))
		// The validator resolves the false branch (no value) as an empty list, which CloudFormation
		// never sees: without a topic the property is left out.
		awscdk.Validations_Of(cfn).Acknowledge(&awscdk.Acknowledgment{Id: jsii.String("CloudFormation-Validate::F3033"),
			Reason: jsii.String("AlarmActions and OKActions are left out (AWS::NoValue) when no alarm topic is given")})
		a.ByName[s.name] = al
	}
	dlq := func(name, what string, queue awssqs.Queue) {
		add(spec{name: name, what: what, m: queue.MetricApproximateNumberOfMessagesVisible(nil), threshold: 1})
	}
	dlq("RunsDLQNotEmpty", "run requests could not be accepted; see `sparkflow run rejected` and the runs DLQ", q.RunsDLQ)
	dlq("ScheduleDLQNotEmpty", "a transform's schedule could not send a firing to the runs queue for a day; the schedule DLQ keeps it (resend it to the runs queue to run it)", q.ScheduleDLQ)
	dlq("EventsDLQNotEmpty", "EMR or execution events could not be handled; the reconciler repairs what they would have changed, and the events DLQ keeps them", q.EventsDLQ)
	executions := func(prefix, what string, sm awsstepfunctions.StateMachine) {
		add(spec{name: prefix + "ExecutionsFailed", what: what + " executions failed", m: sm.MetricFailed(nil), threshold: 1})
		add(spec{name: prefix + "ExecutionsTimedOut", what: what + " executions timed out", m: sm.MetricTimedOut(nil), threshold: 1})
		add(spec{name: prefix + "ExecutionsAborted", what: what + " executions were stopped from outside", m: sm.MetricAborted(nil), threshold: 1})
	}
	executions("Run", "run workflow", w.Run)
	executions("Pool", "pool workflow", w.Pool)
	// The gauges are recorded on each reconcile pass: the alarms read the stack-wide aggregate
	// (the worst pool) over the reconciler's period.
	add(spec{name: AlarmOldestWait, what: "a run has waited longer than the " + ParameterOldestWait + " parameter for a slot; see `sparkflow pool show` for the pool (queue_oldest_wait_seconds by pool on the dashboard)",
		m: awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression:   jsii.String("wait / 60"),
			UsingMetrics: &map[string]awscloudwatch.IMetric{"wait": Metric(p.Stack, metrics.QueueOldestWait, "Maximum", p.Period)},
			Label:        jsii.String("oldest waiting run, minutes"), Period: p.Period,
		}), thresholdRaw: oldest.ValueAsNumber()})
	add(spec{name: AlarmPoolDegraded, what: "a pool is DEGRADED: a cluster was lost or keeps failing to start; `sparkflow pool show` says which and why",
		m: Metric(p.Stack, metrics.PoolDegraded, "Maximum", p.Period), threshold: 1})
	add(spec{name: AlarmRepairs, what: "the reconciler made up for many lost EMR or execution events in an hour: events are being dropped (check the events rules and queue)",
		m: Metric(p.Stack, metrics.ReconcilerRepairs, "Sum", awscdk.Duration_Hours(jsii.Number(1))), threshold: p.RepairsPerHour})
	add(spec{name: AlarmEMRThrottled, what: "EMR has throttled SparkFlow's calls for 15 minutes: other tools in the account may share EMR's API budget",
		m: Metric(p.Stack, metrics.EMRThrottles, "Sum", awscdk.Duration_Minutes(jsii.Number(5))), threshold: 5, periods: 3})
	return a
}
