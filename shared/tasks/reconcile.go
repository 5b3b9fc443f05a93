package tasks

import (
	"context"
	"sort"

	"github.com/sparkflow/sparkflow/shared/emrevent"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// ReconcileReport says what a reconcile pass looked at and repaired.
type ReconcileReport struct {
	Calls           int `json:"calls"`           // EMR API calls made
	ClustersChecked int `json:"clustersChecked"` // clusters described
	StepsRepaired   int `json:"stepsRepaired"`   // step changes applied that no event had delivered
	ClustersFixed   int `json:"clustersFixed"`   // cluster changes applied that no event had delivered
	Skipped         int `json:"skipped"`         // checks left for the next pass: budget spent
}

// Reconcile compares SparkFlow's records with what EMR says and applies, through the same handlers as
// the events, every change an event failed to deliver. It makes at most budget EMR calls (EMR's API is
// the scarce resource: about 0.5 ListSteps and 1 DescribeCluster per second per account), clusters with
// active runs first. It also heals pools and dispatches waiting runs.
func (s *Service) Reconcile(ctx context.Context, budget int) (ReconcileReport, error) {
	var rep ReconcileReport
	active, err := s.Store.ListRuns(ctx, sparkflow.RunFilter{Active: true})
	if err != nil {
		return rep, err
	}
	byCluster := map[string][]sparkflow.Run{}
	for _, r := range active {
		if r.ClusterID != "" && r.Status.Rank() >= sparkflow.RunSubmitted.Rank() {
			byCluster[r.ClusterID] = append(byCluster[r.ClusterID], r)
		}
	}
	clusters, err := s.Store.ListClusters(ctx, "")
	if err != nil {
		return rep, err
	}
	// Clusters with runs on them first, then the rest; stable so that a small budget still covers
	// everything over several passes only if the order rotates, which the changing run set provides.
	sort.SliceStable(clusters, func(i, j int) bool {
		return len(byCluster[clusters[i].ID]) > len(byCluster[clusters[j].ID])
	})
	for _, c := range clusters {
		if c.State.Terminal() {
			continue
		}
		if rep.Calls >= budget {
			rep.Skipped++
			continue
		}
		info, err := s.Clusters.Describe(ctx, c.ID)
		rep.Calls++
		rep.ClustersChecked++
		if sparkflow.IsCode(err, sparkflow.NotFound) {
			info = sparkflow.ClusterInfo{ID: c.ID, State: sparkflow.ClusterTerminatedWithErrors, Reason: sparkflow.StateReason{Code: "INTERNAL_ERROR", Message: "cluster no longer exists"}}
		} else if err != nil {
			s.Log.Warn("reconcile: describe cluster", "cluster_id", c.ID, "err", err)
			continue
		}
		if info.NormalizedInstanceHours != c.NormalizedInstanceHours {
			// DescribeCluster is the only source of the hours; recording them costs no extra call.
			if _, err := s.mutateCluster(ctx, c.ID, func(c *sparkflow.Cluster) (bool, error) {
				changed := c.NormalizedInstanceHours != info.NormalizedInstanceHours
				c.NormalizedInstanceHours = info.NormalizedInstanceHours
				return changed, nil
			}); err != nil {
				return rep, err
			}
		}
		if info.State != c.State && info.State.Rank() >= c.State.Rank() {
			rep.ClustersFixed++
			if err := s.HandleClusterChange(ctx, emrevent.ClusterChange{ClusterID: c.ID, State: info.State, Reason: info.Reason, Time: s.now()}); err != nil {
				return rep, err
			}
		}
		runs := byCluster[c.ID]
		if len(runs) == 0 || info.State.Terminal() {
			continue
		}
		if rep.Calls >= budget {
			rep.Skipped++
			continue
		}
		steps, err := s.Clusters.ListSteps(ctx, c.ID)
		rep.Calls++
		if err != nil {
			s.Log.Warn("reconcile: list steps", "cluster_id", c.ID, "err", err)
			continue
		}
		byID := map[string]sparkflow.StepInfo{}
		for _, st := range steps {
			byID[st.ID] = st
		}
		for _, r := range runs {
			st, ok := byID[r.StepID]
			if !ok || st.State == r.StepState || st.State.Rank() < r.StepState.Rank() {
				continue
			}
			rep.StepsRepaired++
			if err := s.HandleStepChange(ctx, emrevent.StepChange{ClusterID: c.ID, StepID: st.ID, Name: st.Name, State: st.State, Message: st.Reason.Message, Time: s.now()}); err != nil {
				return rep, err
			}
		}
	}
	pools, err := s.Store.ListPools(ctx)
	if err != nil {
		return rep, err
	}
	for _, p := range pools {
		if err := s.Heal(ctx, p.Name); err != nil && !sparkflow.IsCode(err, sparkflow.NotFound) {
			return rep, err
		}
		if err := s.Dispatch(ctx, p.Name); err != nil {
			return rep, err
		}
	}
	if rep.StepsRepaired+rep.ClustersFixed > 0 {
		s.Log.Info("reconciled", "calls", rep.Calls, "steps_repaired", rep.StepsRepaired, "clusters_fixed", rep.ClustersFixed)
	}
	return rep, nil
}
