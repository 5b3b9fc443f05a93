package tasks

import (
	"context"
	"fmt"
	"time"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/emrevent"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// ReconcileReport says what a reconcile pass looked at and repaired.
type ReconcileReport struct {
	Calls           int `json:"calls"`           // EMR API calls made
	ClustersChecked int `json:"clustersChecked"` // clusters described
	StepsRepaired   int `json:"stepsRepaired"`   // step changes applied that no event had delivered
	ClustersFixed   int `json:"clustersFixed"`   // cluster changes applied that no event had delivered
	ResumesResent   int `json:"resumesResent"`   // step ends recorded whose workflow resume was lost, sent again
	// ExecutionsChecked: active runs whose workflow execution was looked at; ExecutionsEnded: of
	// those, runs ended because their execution had ended (its status event lost) or never began.
	ExecutionsChecked int `json:"executionsChecked"`
	ExecutionsEnded   int `json:"executionsEnded"`
	Skipped           int `json:"skipped"` // checks left for the next pass: budget spent
}

// Reconcile compares SparkFlow's records with what EMR says and applies, through the same handlers as
// the events, every change an event failed to deliver. It makes at most budget EMR calls (EMR's API is
// the scarce resource: about 0.5 ListSteps and 1 DescribeCluster per second per account), clusters with
// active runs first (core.ReconcileOrder). It also heals pools and dispatches waiting runs.
func (s *Service) Reconcile(ctx context.Context, budget int) (ReconcileReport, error) {
	rep := ReconcileReport{}
	active, err := s.Store.ListRuns(ctx, sparkflow.RunFilter{Active: true})
	if err != nil {
		return rep, err
	}
	for _, r := range core.PendingResumes(active) {
		rep.ResumesResent++
		if err := s.resume(ctx, r.Token, core.Outcome{StepState: r.StepState, Reason: r.Reason}); err != nil {
			s.Log.Warn("reconcile: resend resume", "run_id", r.ID, "err", err)
		}
	}
	s.reconcileExecutions(ctx, active, &rep)
	all, err := s.Store.ListClusters(ctx, "")
	if err != nil {
		return rep, err
	}
	clusters, byCluster := core.ReconcileOrder(all, active)
	for _, c := range clusters {
		if err := s.reconcileCluster(ctx, c, byCluster[c.ID], budget, &rep); err != nil {
			return rep, err
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
	if rep.StepsRepaired+rep.ClustersFixed+rep.ResumesResent+rep.ExecutionsEnded > 0 {
		s.Log.Info("reconciled", "calls", rep.Calls, "steps_repaired", rep.StepsRepaired, "clusters_fixed", rep.ClustersFixed, "resumes_resent", rep.ResumesResent, "executions_ended", rep.ExecutionsEnded)
	}
	return rep, nil
}

// reconcileCluster checks one cluster (DescribeCluster) and, when runs are on it, their steps
// (ListSteps), within what is left of the budget.
func (s *Service) reconcileCluster(ctx context.Context, c sparkflow.Cluster, runs []sparkflow.Run, budget int, rep *ReconcileReport) error {
	if rep.Calls >= budget {
		rep.Skipped++
		return nil
	}
	info, err := s.Clusters.Describe(ctx, c.ID)
	rep.Calls++
	rep.ClustersChecked++
	if sparkflow.IsCode(err, sparkflow.NotFound) {
		info = sparkflow.ClusterInfo{ID: c.ID, State: sparkflow.ClusterTerminatedWithErrors, Reason: sparkflow.StateReason{Code: "INTERNAL_ERROR", Message: "cluster no longer exists"}}
	} else if err != nil {
		s.Log.Warn("reconcile: describe cluster", "cluster_id", c.ID, "err", err)
		return nil
	}
	if info.NormalizedInstanceHours != c.NormalizedInstanceHours {
		// DescribeCluster is the only source of the hours; recording them costs no extra call.
		if _, err := s.mutateCluster(ctx, c.ID, func(c *sparkflow.Cluster) (bool, error) {
			changed := c.NormalizedInstanceHours != info.NormalizedInstanceHours
			c.NormalizedInstanceHours = info.NormalizedInstanceHours
			return changed, nil
		}); err != nil {
			return err
		}
	}
	if core.ClusterDrifted(c, info) {
		rep.ClustersFixed++
		if err := s.HandleClusterChange(ctx, emrevent.ClusterChange{ClusterID: c.ID, State: info.State, Reason: info.Reason, Time: s.now()}); err != nil {
			return err
		}
	}
	if len(runs) == 0 || info.State.Terminal() {
		return nil
	}
	if rep.Calls >= budget {
		rep.Skipped++
		return nil
	}
	var steps []sparkflow.StepInfo
	if pager, ok := s.Clusters.(sparkflow.StepPager); ok {
		var pages int
		steps, pages, err = pager.ListStepsPages(ctx, c.ID, budget-rep.Calls)
		rep.Calls += pages
	} else {
		steps, err = s.Clusters.ListSteps(ctx, c.ID)
		rep.Calls++
	}
	if err != nil {
		s.Log.Warn("reconcile: list steps", "cluster_id", c.ID, "err", err)
		return nil
	}
	for _, st := range core.StepDrifts(runs, steps) {
		rep.StepsRepaired++
		if err := s.HandleStepChange(ctx, emrevent.StepChange{ClusterID: c.ID, StepID: st.ID, Name: st.Name, State: st.State, Message: st.Reason.Message, Time: s.now()}); err != nil {
			return err
		}
	}
	return nil
}

// ExecutionChecks bounds how many active runs' executions one reconcile pass looks at (Step Functions'
// DescribeExecution is not EMR's scarce API, but a pass stays small).
const ExecutionChecks = 50

// NeverStarted is how long an active run may be without a workflow execution before the reconciler
// ends it: the intake starts the execution right after recording the run, and a request whose start
// failed comes back from the queue until it succeeds, or goes to the dead-letter queue after a few.
const NeverStarted = time.Hour

// reconcileExecutions ends the active runs whose workflow executions have ended without ending them
// (their status event lost), or that never got one. It does nothing where the home cannot tell.
func (s *Service) reconcileExecutions(ctx context.Context, active []sparkflow.Run, rep *ReconcileReport) {
	ex, ok := s.Callbacks.(sparkflow.ExecutionStatuses)
	if !ok {
		return
	}
	for _, r := range core.ExecutionChecks(active, s.now(), ExecutionChecks) {
		status, err := ex.ExecutionStatus(ctx, r.ID)
		rep.ExecutionsChecked++
		switch {
		case sparkflow.IsCode(err, sparkflow.NotFound):
			if s.now().Sub(r.CreatedAt) < NeverStarted {
				continue // its workflow may be starting (the intake starts it after recording the run)
			}
			rep.ExecutionsEnded++
			s.Log.Warn("reconcile: a run whose workflow never started", "run_id", r.ID)
			if _, err := s.Finish(ctx, r.ID, core.Outcome{Cause: core.CauseWorkflowEnded, StepState: sparkflow.StepFailed,
				Reason: fmt.Sprintf("no workflow execution was started for it within %s of its acceptance", NeverStarted)}); err != nil {
				s.Log.Warn("reconcile: end a run without a workflow", "run_id", r.ID, "err", err)
			}
		case err != nil:
			s.Log.Warn("reconcile: describe execution", "run_id", r.ID, "err", err)
		case status == "RUNNING" || status == "PENDING_REDRIVE":
		default:
			rep.ExecutionsEnded++
			if err := s.ExecutionEnded(ctx, r.ID, status, "", "found so by the reconciler: its status event was lost"); err != nil {
				s.Log.Warn("reconcile: end the run of an ended execution", "run_id", r.ID, "err", err)
			}
		}
	}
}
