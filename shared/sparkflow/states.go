package sparkflow

// RunStatus is where a run stands. A run moves QUEUED → WAITING → SUBMITTED → RUNNING and ends in one
// of the terminal statuses; a retried attempt goes back to WAITING with a higher attempt number. A run
// with a gate (upstream transforms, runs it waits for, its transform's concurrency limit) is BLOCKED
// before QUEUED, and ends UPSTREAM_FAILED when what it waits for ended otherwise than SUCCEEDED.
type RunStatus string

const (
	RunBlocked   RunStatus = "BLOCKED"   // accepted, held until its upstream runs succeed and its transform has a place
	RunQueued    RunStatus = "QUEUED"    // accepted, workflow not yet at the reserve step
	RunWaiting   RunStatus = "WAITING"   // waiting in the pool's FIFO for a free slot
	RunSubmitted RunStatus = "SUBMITTED" // slot held, EMR step added, not yet running
	RunRunning   RunStatus = "RUNNING"   // the step runs
	RunSucceeded RunStatus = "SUCCEEDED"
	RunFailed    RunStatus = "FAILED"
	RunCancelled RunStatus = "CANCELLED"
	RunTimedOut  RunStatus = "TIMED_OUT"
	// RunUpstreamFailed: an upstream run (or a run given with --after) ended otherwise than SUCCEEDED;
	// the run never started.
	RunUpstreamFailed RunStatus = "UPSTREAM_FAILED"
)

// RunStatuses lists every run status in the order a run passes them.
var RunStatuses = []RunStatus{RunBlocked, RunQueued, RunWaiting, RunSubmitted, RunRunning, RunSucceeded, RunFailed, RunCancelled, RunTimedOut, RunUpstreamFailed}

// Terminal reports whether no further change may happen to a run in this status.
func (s RunStatus) Terminal() bool {
	return s == RunSucceeded || s == RunFailed || s == RunCancelled || s == RunTimedOut || s == RunUpstreamFailed
}

// Rank orders the statuses of one attempt; terminal statuses share the top rank.
func (s RunStatus) Rank() int {
	switch s {
	case RunBlocked, RunQueued:
		return 0
	case RunWaiting:
		return 1
	case RunSubmitted:
		return 2
	case RunRunning:
		return 3
	default:
		return 4
	}
}

// Valid reports whether s is a known run status.
func (s RunStatus) Valid() bool {
	for _, v := range RunStatuses {
		if v == s {
			return true
		}
	}
	return false
}

// ClusterState is EMR's cluster state, as the API and the state-change events spell it.
type ClusterState string

const (
	ClusterStarting             ClusterState = "STARTING"
	ClusterBootstrapping        ClusterState = "BOOTSTRAPPING"
	ClusterRunning              ClusterState = "RUNNING"
	ClusterWaiting              ClusterState = "WAITING"
	ClusterTerminating          ClusterState = "TERMINATING"
	ClusterTerminated           ClusterState = "TERMINATED"
	ClusterTerminatedWithErrors ClusterState = "TERMINATED_WITH_ERRORS"
)

// ClusterStates lists every EMR cluster state.
var ClusterStates = []ClusterState{ClusterStarting, ClusterBootstrapping, ClusterRunning, ClusterWaiting, ClusterTerminating, ClusterTerminated, ClusterTerminatedWithErrors}

// Ready reports whether steps can run on the cluster now.
func (s ClusterState) Ready() bool { return s == ClusterRunning || s == ClusterWaiting }

// Terminal reports whether the cluster is gone for good.
func (s ClusterState) Terminal() bool {
	return s == ClusterTerminated || s == ClusterTerminatedWithErrors
}

// Ended reports whether the cluster is gone or going (no new steps can be added).
func (s ClusterState) Ended() bool { return s == ClusterTerminating || s.Terminal() }

// Rank orders cluster states: a state of a lower rank never replaces one of a higher rank. RUNNING and
// WAITING share a rank because a ready cluster moves between them both ways.
func (s ClusterState) Rank() int {
	switch s {
	case ClusterStarting:
		return 0
	case ClusterBootstrapping:
		return 1
	case ClusterRunning, ClusterWaiting:
		return 2
	case ClusterTerminating:
		return 3
	case ClusterTerminated, ClusterTerminatedWithErrors:
		return 4
	}
	return -1
}

// StepState is EMR's step state.
type StepState string

const (
	StepPending       StepState = "PENDING"
	StepCancelPending StepState = "CANCEL_PENDING"
	StepRunning       StepState = "RUNNING"
	StepCompleted     StepState = "COMPLETED"
	StepCancelled     StepState = "CANCELLED"
	StepFailed        StepState = "FAILED"
	StepInterrupted   StepState = "INTERRUPTED"
)

// StepStates lists every EMR step state.
var StepStates = []StepState{StepPending, StepCancelPending, StepRunning, StepCompleted, StepCancelled, StepFailed, StepInterrupted}

// Terminal reports whether the step has ended.
func (s StepState) Terminal() bool {
	return s == StepCompleted || s == StepCancelled || s == StepFailed || s == StepInterrupted
}

// Rank orders step states so that a stale event never moves a step backwards.
func (s StepState) Rank() int {
	switch s {
	case StepPending:
		return 0
	case StepRunning:
		return 1
	case StepCancelPending:
		return 2
	case StepCompleted, StepCancelled, StepFailed, StepInterrupted:
		return 3
	}
	return -1
}

// PoolStatus is the state of a pool as a whole.
type PoolStatus string

const (
	PoolCreating PoolStatus = "CREATING" // clusters launched, not all ready yet
	PoolReady    PoolStatus = "READY"    // every cluster ready
	PoolDegraded PoolStatus = "DEGRADED" // some cluster lost or failed; replacements under way, or held after failed starts
	PoolIdle     PoolStatus = "IDLE"     // every cluster ended for idleness; one launches when a run needs it
	PoolDeleting PoolStatus = "DELETING" // clusters terminating; the records go when they are gone
)
