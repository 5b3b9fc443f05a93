package stack

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/sparkflow/sparkflow/shared/aws/emf"
	"github.com/sparkflow/sparkflow/shared/metrics"
)

// Search is a CloudWatch search expression over one of SparkFlow's metrics of the stack, one line per
// value of the metric's labels (pools are made at run time, so the dashboard cannot list them).
func Search(stack string, d metrics.Def, statistic string, period awscdk.Duration) awscloudwatch.MathExpression {
	schema := strings.Join(append([]string{emf.Namespace, emf.StackDimension}, d.Labels...), ",")
	expr := fmt.Sprintf(`SEARCH('{%s} MetricName="%s" %s="%s"', '%s', %v)`, schema, d.Name, emf.StackDimension, stack, statistic, *period.ToSeconds(nil))
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String(expr), UsingMetrics: &map[string]awscloudwatch.IMetric{},
		Period: period, Label: jsii.String(""),
	})
}

// NewDashboard declares the stack's CloudWatch dashboard: per pool its queue depth and oldest wait,
// slots used and total, clusters by state; the waits' and run times' percentiles; runs ended by
// status; EMR calls and throttles; the reconciler's repairs; the dead-letter queues and failed
// executions.
func NewDashboard(scope constructs.Construct, id, stack string, q *Queues, w *Workflows, period awscdk.Duration) awscloudwatch.Dashboard {
	graph := func(title string, left ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Left: &left, Width: jsii.Number(8), Height: jsii.Number(6),
		})
	}
	search := func(d metrics.Def, statistic string) awscloudwatch.IMetric {
		return Search(stack, d, statistic, period)
	}
	pct := func(d metrics.Def, p string) awscloudwatch.IMetric {
		m := Metric(stack, d, p, period)
		return m.With(&awscloudwatch.MetricOptions{Label: jsii.String(d.Name + " " + p)})
	}
	d := awscloudwatch.NewDashboard(scope, jsii.String(id), &awscloudwatch.DashboardProps{
		DashboardName: jsii.String(stack + "-SparkFlow"),
	})
	d.AddWidgets(
		graph("Queue depth by pool", search(metrics.QueueDepth, "Maximum")),
		graph("Oldest waiting run by pool (s)", search(metrics.QueueOldestWait, "Maximum")),
		graph("Slots used and total by pool", search(metrics.SlotsUsed, "Maximum"), search(metrics.SlotsTotal, "Maximum")),
	)
	d.AddWidgets(
		graph("Queue wait (s)", pct(metrics.QueueWait, "p50"), pct(metrics.QueueWait, "p99")),
		graph("Run time (s)", pct(metrics.RunDuration, "p50"), pct(metrics.RunDuration, "p99")),
		graph("Runs ended by pool, transform and status", search(metrics.RunsEnded, "Sum")),
	)
	d.AddWidgets(
		graph("Clusters by pool and state", search(metrics.Clusters, "Maximum"), search(metrics.PoolDegraded, "Maximum")),
		graph("EMR calls and throttles by operation", search(metrics.EMRCalls, "Sum"), search(metrics.EMRThrottles, "Sum")),
		graph("Reconciler repairs by kind, launch failures", search(metrics.ReconcilerRepairs, "Sum"), search(metrics.LaunchFailure, "Sum")),
	)
	d.AddWidgets(
		graph("Dead-letter queues", q.RunsDLQ.MetricApproximateNumberOfMessagesVisible(nil), q.EventsDLQ.MetricApproximateNumberOfMessagesVisible(nil), q.ScheduleDLQ.MetricApproximateNumberOfMessagesVisible(nil)),
		graph("Run executions failed, timed out, aborted", w.Run.MetricFailed(nil), w.Run.MetricTimedOut(nil), w.Run.MetricAborted(nil)),
		graph("Runs accepted and requests rejected", search(metrics.RunsAccepted, "Sum"), search(metrics.RequestsRejected, "Sum")),
	)
	return d
}
