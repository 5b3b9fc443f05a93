package core

import (
	"fmt"
	"sort"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// ReconcileOrder orders a reconcile pass: the clusters not yet gone, those with the most submitted
// runs first (their lost events matter most), each with its submitted runs. A pass whose EMR budget
// runs out leaves the rest for the next pass; the changing run set rotates the order between passes.
func ReconcileOrder(clusters []sparkflow.Cluster, active []sparkflow.Run) ([]sparkflow.Cluster, map[string][]sparkflow.Run) {
	byCluster := map[string][]sparkflow.Run{}
	for _, r := range active {
		if r.ClusterID != "" && r.Status.Rank() >= sparkflow.RunSubmitted.Rank() && !r.Status.Terminal() {
			byCluster[r.ClusterID] = append(byCluster[r.ClusterID], r)
		}
	}
	var live []sparkflow.Cluster
	for _, c := range clusters {
		if !c.State.Terminal() {
			live = append(live, c)
		}
	}
	sort.SliceStable(live, func(i, j int) bool { return len(byCluster[live[i].ID]) > len(byCluster[live[j].ID]) })
	return live, byCluster
}

// ClusterDrifted reports whether EMR's view of a cluster is ahead of SparkFlow's record: a state
// change whose event was lost (or has not arrived yet).
func ClusterDrifted(c sparkflow.Cluster, info sparkflow.ClusterInfo) bool {
	if c.State.Ready() && info.State.Ready() {
		return false // RUNNING and WAITING are not recorded (ApplyCluster)
	}
	return info.State != c.State && info.State.Rank() >= c.State.Rank()
}

// StepDrifts returns the steps of runs whose EMR state is ahead of the run's record of it, in the
// runs' order: the step changes an event failed to deliver. A run whose step's id is not recorded yet
// (its first event records it) is matched by the step's name (prefix: the home's name prefix).
func StepDrifts(prefix string, runs []sparkflow.Run, steps []sparkflow.StepInfo) []sparkflow.StepInfo {
	byID := make(map[string]sparkflow.StepInfo, len(steps))
	byAttempt := map[string]sparkflow.StepInfo{}
	for _, st := range steps {
		byID[st.ID] = st
		if id, attempt, ok := ParseStepName(prefix, st.Name); ok {
			if k := fmt.Sprintf("%s#%d", id, attempt); byAttempt[k].ID == "" {
				byAttempt[k] = st // the newest, should there be two
			}
		}
	}
	var out []sparkflow.StepInfo
	for _, r := range runs {
		st, ok := byID[r.StepID]
		if r.StepID == "" {
			st, ok = byAttempt[fmt.Sprintf("%s#%d", r.ID, r.Attempt)]
		}
		if !ok || st.State == r.StepState || st.State.Rank() < r.StepState.Rank() {
			continue
		}
		out = append(out, st)
	}
	return out
}

// ExecutionChecks picks at most n of the active runs whose workflow executions a reconcile pass looks
// at: the longest unchanged first (a run whose execution ended without a word changes no more), the
// window moving on each minute so that, with more runs than n, every run is looked at in turn.
func ExecutionChecks(active []sparkflow.Run, now time.Time, n int) []sparkflow.Run {
	runs := make([]sparkflow.Run, 0, len(active))
	for _, r := range active {
		if !r.Status.Terminal() {
			runs = append(runs, r)
		}
	}
	sort.SliceStable(runs, func(i, j int) bool {
		if !runs[i].UpdatedAt.Equal(runs[j].UpdatedAt) {
			return runs[i].UpdatedAt.Before(runs[j].UpdatedAt)
		}
		return runs[i].ID < runs[j].ID
	})
	if n <= 0 || len(runs) <= n {
		return runs
	}
	start := int((now.Unix()/60)*int64(n)) % len(runs)
	out := make([]sparkflow.Run, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, runs[(start+i)%len(runs)])
	}
	return out
}

// OrphanSteps returns the steps still going (pending or running) of SparkFlow's attempts that are
// over: their run is not among the active ones (attempts: run id -> current attempt), or it has moved
// on to a later attempt. Steps of other names (another stack's, a user's own) are never touched.
func OrphanSteps(prefix string, steps []sparkflow.StepInfo, attempts map[string]int) []sparkflow.StepInfo {
	var out []sparkflow.StepInfo
	for _, st := range steps {
		if st.State != sparkflow.StepPending && st.State != sparkflow.StepRunning {
			continue
		}
		runID, attempt, ok := ParseStepName(prefix, st.Name)
		if !ok {
			continue
		}
		if current, active := attempts[runID]; active && current <= attempt {
			continue
		}
		out = append(out, st)
	}
	return out
}
