package core

import (
	"sort"
	"strings"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// MaxStartFailures is how many clusters of a pool in a row may fail to start before the pool stops
// launching until the user resumes it: a subnet without the managed-policies tag, a missing instance
// profile or a bad bootstrap action fails every launch, and each one is billed.
const MaxStartFailures = 3

// StartBackoff is how long a pool waits before its next launch after n failed starts in a row (the
// reconciler's next pass after it launches): 2, 4, 8 ... minutes.
func StartBackoff(n int) time.Duration {
	if n < 1 {
		return 0
	}
	return time.Duration(1<<min(n, 10)) * time.Minute
}

// StartFailed says whether a cluster ended before it was ever ready, for a reason other than a
// user's request (EMR's VALIDATION_ERROR, BOOTSTRAP_FAILURE, INSTANCE_FLEET_TIMEOUT, ...).
func StartFailed(c sparkflow.Cluster) bool {
	return c.State.Ended() && c.ReadyAt == nil && c.Reason.Code != "USER_REQUEST"
}

// IdleEnded says whether EMR ended (or is ending) a cluster of p for idleness: p has an idle timeout,
// the cluster was ready, and its end is no error: EMR reports ALL_STEPS_COMPLETED, or a message that
// says it was idle. SparkFlow's clusters are kept alive when they have no steps, so such an ending is
// the auto-termination policy's.
func IdleEnded(p sparkflow.Pool, c sparkflow.Cluster) bool {
	if p.IdleTimeoutSeconds <= 0 || !c.State.Ended() || c.State == sparkflow.ClusterTerminatedWithErrors || c.ReadyAt == nil {
		return false
	}
	return c.Reason.Code == "ALL_STEPS_COMPLETED" || strings.Contains(strings.ToLower(c.Reason.Message), "idle")
}

// PoolPlan is what a pool needs now.
type PoolPlan struct {
	Launch int                  // clusters to launch now
	Status sparkflow.PoolStatus // the pool's status now
	// StartFailures, LastStartFailure, Held, RetryAt: failed starts in a row, the newest, whether
	// launches are held until the user resumes them, and when the next launch may go.
	StartFailures    int
	LastStartFailure *sparkflow.StartFailure
	Held             bool
	RetryAt          *time.Time
	// IdleEnded is how many of the missing clusters EMR ended for idleness.
	IdleEnded int
	// Elastic pools (MinClusters set): LaunchKept is how many of Launch are for the minimum (launched
	// without the idle timeout); Room how many more clusters runs waiting could have launched now.
	LaunchKept, Room int
}

// PlanPool compares a pool with its clusters and the runs waiting for a slot in it. A cluster that
// was lost is replaced (after failed starts, with backoff, and not at all once MaxStartFailures
// clusters in a row failed to start, until the user resumes launches); a cluster EMR ended for
// idleness is replaced only when waiting runs need it, as many as they need.
func PlanPool(p sparkflow.Pool, clusters []sparkflow.Cluster, waiting int, now time.Time) PoolPlan {
	if p.Status == sparkflow.PoolDeleting {
		return PoolPlan{Status: sparkflow.PoolDeleting}
	}
	var plan PoolPlan
	live, ready, starting, kept := 0, 0, 0, 0
	var ended []sparkflow.Cluster
	for _, c := range clusters {
		switch {
		case c.State.Ended():
			ended = append(ended, c)
			continue
		case c.State.Ready():
			ready++
		default:
			starting++
		}
		live++
		if c.Kept {
			kept++
		}
	}
	// Failed starts in a row, newest launch first, since launches were last resumed.
	byLaunch := append([]sparkflow.Cluster(nil), clusters...)
	sort.SliceStable(byLaunch, func(i, j int) bool { return byLaunch[i].CreatedAt.After(byLaunch[j].CreatedAt) })
	for _, c := range byLaunch {
		if p.LaunchesResumedAt != nil && !c.CreatedAt.After(*p.LaunchesResumedAt) {
			break
		}
		if c.ReadyAt != nil {
			break // a cluster that started ends the streak
		}
		if !StartFailed(c) {
			continue // still starting, or ended by request
		}
		plan.StartFailures++
		if plan.LastStartFailure == nil {
			at := c.StateTime
			if c.EndedAt != nil {
				at = *c.EndedAt
			}
			plan.LastStartFailure = &sparkflow.StartFailure{ClusterID: c.ID, Reason: c.Reason, At: at}
		}
	}
	if p.MinClusters != nil {
		// Runs the ready clusters' free slots can take now need no launch (they are being granted:
		// a cluster that just became ready has its waiters dispatched on the same event), nor do
		// those a slot freed sooner than a new cluster could start will take.
		waiting = max(waiting-FreeSlots(clusters, now)-SoonFreed(p, clusters), 0)
		return planElastic(p, waiting, now, plan, live, ready, starting, kept)
	}
	// The missing clusters are explained by the latest endings: those EMR ended for idleness wait
	// for work, the others are replaced.
	missing := max(p.Clusters-live, 0)
	sort.SliceStable(ended, func(i, j int) bool { return endTime(ended[i]).After(endTime(ended[j])) })
	lost, never := 0, 0 // clusters lost, and clusters never launched (a new or grown pool)
	for i := 0; i < missing; i++ {
		switch {
		case i >= len(ended):
			never++
		case IdleEnded(p, ended[i]):
			plan.IdleEnded++
		default:
			lost++
		}
	}
	launch := lost + never
	if waiting > 0 && plan.IdleEnded > 0 {
		slots := max(p.StepConcurrency, 1)
		need := (waiting+slots-1)/slots - starting
		launch += min(max(need, 0), plan.IdleEnded)
	}
	plan.Launch = backOff(&plan, launch, now)
	target := p.Clusters - plan.IdleEnded
	switch {
	case plan.Held:
		plan.Status = sparkflow.PoolDegraded
	case live == 0 && plan.IdleEnded == p.Clusters && p.Clusters > 0:
		plan.Status = sparkflow.PoolIdle
	case ready >= target && ready > 0:
		plan.Status = sparkflow.PoolReady
	case lost > 0 || p.Status == sparkflow.PoolReady || p.Status == sparkflow.PoolDegraded:
		plan.Status = sparkflow.PoolDegraded
	default:
		plan.Status = sparkflow.PoolCreating
	}
	return plan
}

// backOff is how many of launch clusters may launch now, after the failed starts plan counts: none
// while the backoff runs, none once launches are held.
func backOff(plan *PoolPlan, launch int, now time.Time) int {
	switch {
	case plan.StartFailures >= MaxStartFailures:
		plan.Held = true
		return 0
	case plan.StartFailures > 0:
		at := plan.LastStartFailure.At.Add(StartBackoff(plan.StartFailures))
		if now.Before(at) {
			plan.RetryAt = &at
			return 0
		}
	}
	return launch
}

// planElastic plans a pool with a minimum (MinClusters): the kept clusters are replaced until there
// are MinClusters of them, whatever the work; beyond them, up to Clusters in all, as many are launched
// as the waiting runs need: a cluster per StepConcurrency of waiting, less the clusters starting
// (PlanPool passes, as waiting, the runs that neither a free slot nor a slot freed within a start-up
// will take). They end after the pool's idle timeout (EMR's auto-termination policy); the kept ones
// have none.
func planElastic(p sparkflow.Pool, waiting int, now time.Time, plan PoolPlan, live, ready, starting, kept int) PoolPlan {
	room := max(p.Clusters-live, 0)
	keep := min(max(*p.MinClusters-kept, 0), room)
	plan.Room = room - keep
	launch := keep
	if waiting > 0 {
		slots := max(p.StepConcurrency, 1)
		need := (waiting+slots-1)/slots - starting - keep
		launch += min(max(need, 0), plan.Room)
	}
	plan.Launch = backOff(&plan, launch, now)
	plan.LaunchKept = min(keep, plan.Launch)
	switch {
	case plan.Held:
		plan.Status = sparkflow.PoolDegraded
	case live == 0 && *p.MinClusters == 0:
		plan.Status = sparkflow.PoolIdle // nothing kept, nothing needed
	case ready >= *p.MinClusters && ready > 0:
		plan.Status = sparkflow.PoolReady
	case *p.MinClusters > 0 && (p.Status == sparkflow.PoolReady || p.Status == sparkflow.PoolDegraded):
		plan.Status = sparkflow.PoolDegraded // fewer than its minimum ready
	default:
		plan.Status = sparkflow.PoolCreating
	}
	return plan
}

func endTime(c sparkflow.Cluster) time.Time {
	if c.EndedAt != nil {
		return *c.EndedAt
	}
	return c.StateTime
}

// StartSamples is how many of a pool's newest clusters MeasuredStart looks at.
const StartSamples = 10

// MeasuredStart is how long clusters take from launch to ready: the median over the newest
// StartSamples clusters that became ready, and how many those were (0: none has yet).
func MeasuredStart(clusters []sparkflow.Cluster) (time.Duration, int) {
	var ready []sparkflow.Cluster
	for _, c := range clusters {
		if c.ReadyAt != nil && !c.CreatedAt.IsZero() && !c.ReadyAt.Before(c.CreatedAt) {
			ready = append(ready, c)
		}
	}
	sort.SliceStable(ready, func(i, j int) bool { return ready[i].CreatedAt.After(ready[j].CreatedAt) })
	if len(ready) > StartSamples {
		ready = ready[:StartSamples]
	}
	if len(ready) == 0 {
		return 0, 0
	}
	took := make([]time.Duration, len(ready))
	for i, c := range ready {
		took[i] = c.ReadyAt.Sub(c.CreatedAt)
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	n := len(took)
	if n%2 == 1 {
		return took[n/2], n
	}
	return (took[n/2-1] + took[n/2]) / 2, n
}

// QueueFull says whether pool p refuses another run when waiting runs wait for a slot: its MaxQueue
// is set and reached.
func QueueFull(p sparkflow.Pool, waiting int) bool {
	return p.MaxQueue > 0 && waiting >= p.MaxQueue
}
