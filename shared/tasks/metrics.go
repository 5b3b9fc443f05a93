package tasks

import (
	"context"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/metrics"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// observeRun records (and logs the end of) what a run's write changed: it is called once per successful conditional write,
// with the record as read and as written, so each transition is counted once however many
// invocations raced for it.
func (s *Service) observeRun(ctx context.Context, before, after sparkflow.Run) {
	m := s.Metrics
	if before.StartedAt == nil && after.StartedAt != nil {
		m.Record(metrics.RunsStarted, 1, after.Pool, after.Transform)
	}
	if before.ReservedAt == nil && after.ReservedAt != nil {
		m.Record(metrics.QueueWait, after.ReservedAt.Sub(after.AttemptBegan()).Seconds(), after.Pool)
	}
	if !before.Status.Terminal() && after.Status.Terminal() {
		m.Record(metrics.RunsEnded, 1, after.Pool, after.Transform, string(after.Status))
		s.Log.InfoContext(scope(ctx, after), "run ended", "status", after.Status, "reason", after.Reason)
		started := after.StartedAt
		if started == nil {
			started = before.StartedAt
		}
		if started != nil && after.EndedAt != nil {
			m.Record(metrics.RunDuration, after.EndedAt.Sub(*started).Seconds(), after.Pool, after.Transform)
		}
	}
}

// observeCluster records a cluster that ended before it was ever ready (a failed start).
func (s *Service) observeCluster(before, after sparkflow.Cluster) {
	if !before.State.Ended() && core.StartFailed(after) {
		s.Metrics.Record(metrics.LaunchFailure, 1, after.Pool, reasonOr(after.Reason.Code, "unknown"))
	}
}

func reasonOr(code, def string) string {
	if code == "" {
		return def
	}
	return code
}

// Gauges measures the levels of every pool now: queue depth and oldest wait, slots used and total,
// clusters by state, degraded. The local engine serves them at each scrape; the AWS reconciler
// records them on every pass.
func (s *Service) Gauges(ctx context.Context) ([]metrics.Sample, error) {
	views, err := s.ListPools(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []metrics.Sample
	add := func(d metrics.Def, v float64, labels ...string) {
		out = append(out, metrics.Sample{Def: d, Value: v, Labels: labels})
	}
	for _, v := range views {
		p := v.Pool.Name
		add(metrics.QueueDepth, float64(v.Waiting), p)
		oldest := 0.0
		if v.OldestWaiting != nil {
			oldest = max(0, now.Sub(*v.OldestWaiting).Seconds())
		}
		add(metrics.QueueOldestWait, oldest, p)
		add(metrics.SlotsUsed, float64(v.SlotsUsed), p)
		add(metrics.SlotsTotal, float64(v.SlotsTotal), p)
		degraded := 0.0
		if v.Pool.Status == sparkflow.PoolDegraded {
			degraded = 1
		}
		add(metrics.PoolDegraded, degraded, p)
		byState := map[sparkflow.ClusterState]int{}
		for _, c := range v.ClusterRecords {
			byState[c.State]++
		}
		for _, st := range sparkflow.ClusterStates {
			add(metrics.Clusters, float64(byState[st]), p, string(st))
		}
	}
	return out, nil
}

// RecordGauges records Gauges into the sink (the AWS home, on every reconcile pass).
func (s *Service) RecordGauges(ctx context.Context) error {
	gs, err := s.Gauges(ctx)
	for _, g := range gs {
		s.Metrics.Record(g.Def, g.Value, g.Labels...)
	}
	return err
}

// recordRepairs counts what a reconcile pass repaired, by kind.
func (s *Service) recordRepairs(rep ReconcileReport) {
	for _, k := range []struct {
		kind string
		n    int
	}{{"step", rep.StepsRepaired}, {"cluster", rep.ClustersFixed}, {"execution", rep.ExecutionsEnded},
		{"slot", rep.SlotsFreed}, {"orphan_step", rep.OrphansCancelled}, {"lost_cluster_run", rep.LostClusterRuns}, {"wait", rep.WaitsRepaired}} {
		if k.n > 0 {
			s.Metrics.Record(metrics.ReconcilerRepairs, float64(k.n), k.kind)
		}
	}
	if rep.ResumesResent > 0 {
		s.Metrics.Record(metrics.ResumeRetries, float64(rep.ResumesResent))
	}
}
