package tasks

import (
	"context"
	"fmt"
	"time"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/emrevent"
	"github.com/sparkflow/sparkflow/shared/logs"
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
	// SlotsFreed: slots held by runs that had ended (an end whose release was cut off).
	SlotsFreed int `json:"slotsFreed"`
	// OrphansCancelled: steps still going whose attempt had ended.
	OrphansCancelled int `json:"orphansCancelled"`
	// LostClusterRuns: runs still on a cluster recorded as ended, whose attempts were ended again (a
	// cluster-lost handler cut off midway leaves them waiting).
	LostClusterRuns int `json:"lostClusterRuns"`
	// WaitsRepaired: runs waiting for a slot whose grant was sent again, or whose lost FIFO place was
	// given back (a Dispatch cut off midway).
	WaitsRepaired int `json:"waitsRepaired"`
	Skipped       int `json:"skipped"` // checks left for the next pass: budget spent
	// GatesOpened: BLOCKED runs released or ended UPSTREAM_FAILED that no run's end had looked at
	// (a lost wake-up); PlacesFreed: places of a transform held by runs that had ended.
	GatesOpened int `json:"gatesOpened"`
	PlacesFreed int `json:"placesFreed"`
}

// Reconcile compares SparkFlow's records with what EMR says and applies, through the same handlers as
// the events, every change an event failed to deliver. It makes at most budget EMR calls (EMR's API is
// the scarce resource: about 0.5 ListSteps and 1 DescribeCluster per second per account), clusters with
// active runs first (core.ReconcileOrder). It also heals pools and dispatches waiting runs.
func (s *Service) Reconcile(ctx context.Context, budget int) (ReconcileReport, error) {
	rep := ReconcileReport{}
	defer func() { s.recordRepairs(rep) }()
	active, err := s.Store.ListRuns(ctx, sparkflow.RunFilter{Active: true})
	if err != nil {
		return rep, err
	}
	for _, r := range core.PendingResumes(active) {
		rep.ResumesResent++
		if err := s.resume(ctx, r.Token, core.Outcome{StepState: r.StepState, Reason: r.Reason}); err != nil {
			s.Log.WarnContext(scope(ctx, r), "reconcile: resend resume", "err", err)
		}
	}
	s.reconcileExecutions(ctx, active, &rep)
	if err := s.reconcileGates(ctx, active, &rep); err != nil {
		return rep, err
	}
	all, err := s.Store.ListClusters(ctx, "")
	if err != nil {
		return rep, err
	}
	if err := s.sweepSlots(ctx, all, active, &rep); err != nil {
		return rep, err
	}
	s.endOnLostClusters(ctx, all, active, &rep)
	if err := s.reconcileWaits(ctx, all, active, &rep); err != nil {
		return rep, err
	}
	clusters, byCluster := core.ReconcileOrder(all, active)
	attempts := make(map[string]int, len(active))
	for _, r := range active {
		attempts[r.ID] = r.Attempt
	}
	for _, c := range clusters {
		if err := s.reconcileCluster(ctx, c, byCluster[c.ID], attempts, budget, &rep); err != nil {
			return rep, err
		}
	}
	pools, err := s.Store.ListPools(ctx)
	if err != nil {
		return rep, err
	}
	transforms, err := s.elasticTransforms(ctx, pools)
	if err != nil {
		return rep, err
	}
	for _, p := range pools {
		if err := s.measureSlotTime(ctx, p, transforms[p.Name]); err != nil && !sparkflow.IsCode(err, sparkflow.NotFound) {
			return rep, err
		}
		if err := s.Heal(ctx, p.Name); err != nil && !sparkflow.IsCode(err, sparkflow.NotFound) {
			return rep, err
		}
		if err := s.Dispatch(ctx, p.Name); err != nil {
			return rep, err
		}
	}
	if rep.StepsRepaired+rep.ClustersFixed+rep.ResumesResent+rep.ExecutionsEnded+rep.SlotsFreed+rep.OrphansCancelled+rep.LostClusterRuns+rep.GatesOpened+rep.PlacesFreed+rep.WaitsRepaired > 0 {
		s.Log.InfoContext(ctx, "reconciled", "calls", rep.Calls, "steps_repaired", rep.StepsRepaired, "clusters_fixed", rep.ClustersFixed, "resumes_resent", rep.ResumesResent, "executions_ended", rep.ExecutionsEnded, "slots_freed", rep.SlotsFreed, "orphans_cancelled", rep.OrphansCancelled, "lost_cluster_runs", rep.LostClusterRuns, "gates_opened", rep.GatesOpened, "places_freed", rep.PlacesFreed, "waits_repaired", rep.WaitsRepaired)
	}
	return rep, nil
}

// reconcileCluster checks one cluster (DescribeCluster) and, when runs are on it, their steps
// (ListSteps), within what is left of the budget.
func (s *Service) reconcileCluster(ctx context.Context, c sparkflow.Cluster, runs []sparkflow.Run, attempts map[string]int, budget int, rep *ReconcileReport) error {
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
		s.Log.WarnContext(ctx, "reconcile: describe cluster", "cluster_id", c.ID, "err", err)
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
	if info.State.Terminal() {
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
		s.Log.WarnContext(ctx, "reconcile: list steps", "cluster_id", c.ID, "err", err)
		return nil
	}
	for _, st := range core.StepDrifts(s.NamePrefix, runs, steps) {
		rep.StepsRepaired++
		if err := s.HandleStepChange(ctx, emrevent.StepChange{ClusterID: c.ID, StepID: st.ID, Name: st.Name, State: st.State, Message: st.Reason.Message, Time: s.now()}); err != nil {
			return err
		}
	}
	return s.cancelOrphans(ctx, c, steps, attempts, budget, rep)
}

// cancelOrphans cancels the steps still going whose attempt is over: a duplicate invocation that
// added its step after the attempt ended, or died before it could cancel it, leaves one working for
// nothing. A step of a run not among the active ones is confirmed first (the run may be new).
func (s *Service) cancelOrphans(ctx context.Context, c sparkflow.Cluster, steps []sparkflow.StepInfo, attempts map[string]int, budget int, rep *ReconcileReport) error {
	for _, st := range core.OrphanSteps(s.NamePrefix, steps, attempts) {
		if rep.Calls >= budget {
			rep.Skipped++
			return nil
		}
		runID, attempt, _ := core.ParseStepName(s.NamePrefix, st.Name)
		if _, active := attempts[runID]; !active {
			r, err := s.Store.GetRun(ctx, runID)
			if err == nil && !r.Status.Terminal() && r.Attempt <= attempt {
				continue
			}
			if err != nil && !sparkflow.IsCode(err, sparkflow.NotFound) {
				return err
			}
		}
		rep.Calls++
		if err := s.Clusters.CancelStep(ctx, c.ID, st.ID); err != nil {
			s.Log.WarnContext(ctx, "reconcile: cancel the step of an ended attempt", "cluster_id", c.ID, "step_id", st.ID, "err", err)
			continue
		}
		rep.OrphansCancelled++
		s.Log.WarnContext(ctx, "reconcile: cancelled the step of an ended attempt", "run_id", runID, "attempt", attempt, "step_id", st.ID, "cluster_id", c.ID, "pool", c.Pool)
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
			s.Log.WarnContext(scope(ctx, r), "reconcile: a run whose workflow never started")
			if _, err := s.Finish(ctx, r.ID, core.Outcome{Cause: core.CauseWorkflowEnded, StepState: sparkflow.StepFailed,
				Reason: fmt.Sprintf("no workflow execution was started for it within %s of its acceptance", NeverStarted)}); err != nil {
				s.Log.WarnContext(scope(ctx, r), "reconcile: end a run without a workflow", "err", err)
			}
		case err != nil:
			s.Log.WarnContext(scope(ctx, r), "reconcile: describe execution", "err", err)
		case status == "RUNNING" || status == "PENDING_REDRIVE":
		default:
			rep.ExecutionsEnded++
			if err := s.ExecutionEnded(ctx, r.ID, status, "", "found so by the reconciler: its status event was lost"); err != nil {
				s.Log.WarnContext(scope(ctx, r), "reconcile: end the run of an ended execution", "err", err)
			}
		}
	}
}

// sweepSlots frees the slots held by runs that have ended: a Finish (or a cancel, or a grant that
// raced one) cut off between the run's end and its release leaves one, which nothing else frees. A
// run not among the active ones is read again first: it may have been accepted since they were listed.
func (s *Service) sweepSlots(ctx context.Context, clusters []sparkflow.Cluster, active []sparkflow.Run, rep *ReconcileReport) error {
	live := make(map[string]bool, len(active))
	for _, r := range active {
		live[r.ID] = true
	}
	pools := map[string]bool{}
	for _, c := range clusters {
		for _, id := range c.Reservations {
			if live[id] {
				continue
			}
			r, err := s.Store.GetRun(ctx, id)
			if err == nil && !r.Status.Terminal() {
				continue
			}
			if err != nil && !sparkflow.IsCode(err, sparkflow.NotFound) {
				return err
			}
			if err := s.Store.Release(ctx, id, 0, c.ID, s.now()); err != nil {
				return err
			}
			rep.SlotsFreed++
			pools[c.Pool] = true
			s.Log.WarnContext(logs.With(scope(ctx, r), "run_id", id, "cluster_id", c.ID, "pool", c.Pool), "reconcile: freed the slot of an ended run")
		}
	}
	return nil
}

// endOnLostClusters ends again the attempts of active runs that still hold a slot on a cluster
// recorded as ended. The cluster-lost handler records the cluster's end before it ends the attempts
// on it; cut off between the two, its event (redelivered, or the reconciler's) is no change and does
// nothing more, and the runs would wait for a step that EMR may never report on. No EMR call: the
// records tell; Finish then asks EMR for the step (a step that completed still wins).
func (s *Service) endOnLostClusters(ctx context.Context, clusters []sparkflow.Cluster, active []sparkflow.Run, rep *ReconcileReport) {
	byID := make(map[string]bool, len(active))
	for _, r := range active {
		byID[r.ID] = r.ClusterID != ""
	}
	for _, c := range clusters {
		if !c.State.Ended() {
			continue
		}
		for _, id := range c.Reservations {
			if !byID[id] {
				continue // an ended run's slot: sweepSlots frees it
			}
			rep.LostClusterRuns++
			if err := s.clusterLost(ctx, id, c); err != nil {
				s.Log.WarnContext(ctx, "reconcile: end the attempt of a run on an ended cluster", "run_id", id, "cluster_id", c.ID, "pool", c.Pool, "attempt", activeAttempt(active, id), "err", err)
			}
		}
	}
}

// activeAttempt is the current attempt of the active run id (0 when it is not among them).
func activeAttempt(active []sparkflow.Run, id string) int {
	for _, r := range active {
		if r.ID == id {
			return r.Attempt
		}
	}
	return 0
}

// reconcileGates is the backstop of the gates: it looks at every BLOCKED run (a run's end that should
// have released it may have been cut off, or read a list that did not show it yet), resends the resume
// of a released run whose Hold still waits, and frees the places of runs that have ended.
func (s *Service) reconcileGates(ctx context.Context, active []sparkflow.Run, rep *ReconcileReport) error {
	isActive := make(map[string]bool, len(active))
	for _, r := range active {
		isActive[r.ID] = true
		switch {
		case r.Status == sparkflow.RunBlocked:
			got, err := s.unblock(ctx, r)
			if err != nil {
				s.Log.WarnContext(scope(ctx, r), "reconcile: look at a blocked run", "err", err)
			}
			if got == released || got == endedUpstream {
				rep.GatesOpened++
			}
		case (r.Status == sparkflow.RunQueued || r.Status == sparkflow.RunWaiting) && r.ReleasedAt != nil && r.Token != "" && r.Fence != nil && r.Fence.Task == sparkflow.FenceHold:
			// (WAITING: a Dispatch granted it a slot before its Hold was resumed, and the resume of
			// that grant, to the Hold's token, was lost too.)
			if s.now().Sub(*r.ReleasedAt) < time.Minute {
				continue // its Hold is being resumed now
			}
			rep.ResumesResent++
			if err := s.resume(ctx, r.Token, struct{}{}); err != nil {
				s.Log.WarnContext(scope(ctx, r), "reconcile: resend the release of a held run", "err", err)
			}
		}
	}
	ts, err := s.Store.ListTransforms(ctx, "")
	if err != nil {
		return err
	}
	for _, t := range ts {
		if t.MaxConcurrent <= 0 {
			continue
		}
		held, err := s.Store.Places(ctx, t.Name)
		if err != nil {
			return err
		}
		freed := false
		for _, id := range held {
			if isActive[id] {
				continue
			}
			r, err := s.Store.GetRun(ctx, id)
			if err == nil && !r.Status.Terminal() {
				continue // accepted since the active runs were listed
			}
			if err != nil && !sparkflow.IsCode(err, sparkflow.NotFound) {
				return err
			}
			if err := s.Store.Leave(ctx, t.Name, id); err != nil {
				return err
			}
			rep.PlacesFreed++
			freed = true
		}
		if freed {
			if err := s.offerPlaces(ctx, t.Name, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// elasticTransforms lists the transforms of the elastic pools among pools, by pool (one read, none
// when no pool is elastic).
func (s *Service) elasticTransforms(ctx context.Context, pools []sparkflow.Pool) (map[string][]sparkflow.Transform, error) {
	elastic := map[string]bool{}
	for _, p := range pools {
		if p.MinClusters != nil {
			elastic[p.Name] = true
		}
	}
	if len(elastic) == 0 {
		return nil, nil
	}
	ts, err := s.Store.ListTransforms(ctx, "")
	if err != nil {
		return nil, err
	}
	by := map[string][]sparkflow.Transform{}
	for _, t := range ts {
		if elastic[t.Pool] {
			by[t.Pool] = append(by[t.Pool], t)
		}
	}
	return by, nil
}

// measureSlotTime keeps an elastic pool's slot time (core.SlotTime over its transforms' newest ended
// runs) up to date, for its scale-out (core.SoonFreed). One indexed read per transform, every
// reconcile pass; a write only when the figure moved by a tenth.
func (s *Service) measureSlotTime(ctx context.Context, p sparkflow.Pool, ts []sparkflow.Transform) error {
	if p.MinClusters == nil || p.Status == sparkflow.PoolDeleting {
		return nil
	}
	var runs []sparkflow.Run
	for _, t := range ts {
		rs, err := s.Store.ListRuns(ctx, sparkflow.RunFilter{Transform: t.Name, Limit: core.SlotSamples})
		if err != nil {
			return err
		}
		runs = append(runs, rs...)
	}
	took, n := core.SlotTime(runs)
	if n == 0 || !core.SlotTimeChanged(p, took) {
		return nil
	}
	_, err := s.mutatePool(ctx, p.Name, func(p *sparkflow.Pool) bool {
		if !core.SlotTimeChanged(*p, took) {
			return false
		}
		p.SlotSeconds = took.Seconds()
		return true
	})
	if err == nil {
		s.Log.InfoContext(ctx, "pool slot time measured", "pool", p.Name, "slot_seconds", took.Seconds(), "runs", n)
	}
	return err
}
