package engine

import (
	"context"
	"net/http"

	"github.com/sparkflow/sparkflow/shared/local/localcluster"
	"github.com/sparkflow/sparkflow/shared/metrics"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// MetricsHandler serves the engine's metrics in the Prometheus text format (sparkflow local mounts
// it at GET /metrics).
func (e *Engine) MetricsHandler() http.Handler { return e.metrics.Handler() }

// countedClusters counts the calls the task logic makes to the local clusters by the EMR operation
// each stands for (emr_api_calls), as the AWS home counts its real EMR calls. Local clusters are
// never throttled.
type countedClusters struct {
	*localcluster.Clusters
	m metrics.Sink
}

var _ sparkflow.Clusters = countedClusters{}

func (c countedClusters) call(op string) { c.m.Record(metrics.EMRCalls, 1, op) }

func (c countedClusters) Launch(ctx context.Context, spec sparkflow.LaunchSpec) (string, error) {
	c.call("RunJobFlow")
	return c.Clusters.Launch(ctx, spec)
}

func (c countedClusters) Describe(ctx context.Context, id string) (sparkflow.ClusterInfo, error) {
	c.call("DescribeCluster")
	return c.Clusters.Describe(ctx, id)
}

func (c countedClusters) AddStep(ctx context.Context, id string, step sparkflow.StepSpec) (string, error) {
	c.call("AddJobFlowSteps")
	return c.Clusters.AddStep(ctx, id, step)
}

func (c countedClusters) ListSteps(ctx context.Context, id string) ([]sparkflow.StepInfo, error) {
	c.call("ListSteps")
	return c.Clusters.ListSteps(ctx, id)
}

func (c countedClusters) CancelStep(ctx context.Context, id, stepID string) error {
	c.call("CancelSteps")
	return c.Clusters.CancelStep(ctx, id, stepID)
}

func (c countedClusters) Terminate(ctx context.Context, id string) error {
	c.call("TerminateJobFlows")
	return c.Clusters.Terminate(ctx, id)
}
