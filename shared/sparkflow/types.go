package sparkflow

import "time"

// InstanceFleet describes one EMR instance fleet of a tier: the instance types it may use and how much
// of its target capacity is on-demand and how much spot.
type InstanceFleet struct {
	InstanceTypes    []string `json:"instanceTypes"`
	OnDemandCapacity int      `json:"onDemandCapacity"`
	SpotCapacity     int      `json:"spotCapacity"`
}

// Tier is a named cluster size: an on-demand primary node, core and task fleets, how long to wait for
// spot capacity before falling back to on-demand, and the default step concurrency (slots per cluster).
type Tier struct {
	Name               string        `json:"name"`
	Description        string        `json:"description"`
	Primary            InstanceFleet `json:"primary"`
	Core               InstanceFleet `json:"core"`
	Task               InstanceFleet `json:"task"`
	SpotTimeoutMinutes int           `json:"spotTimeoutMinutes"`
	StepConcurrency    int           `json:"stepConcurrency"`
}

// Network holds the EC2 and IAM settings of a pool's clusters. Empty fields take the deployment's
// defaults (or mean nothing in local mode).
type Network struct {
	SubnetIDs       []string `json:"subnetIds,omitempty"`
	KeyName         string   `json:"keyName,omitempty"`
	SecurityGroups  []string `json:"securityGroups,omitempty"`
	ServiceRole     string   `json:"serviceRole,omitempty"`
	InstanceProfile string   `json:"instanceProfile,omitempty"`
}

// Pool is N EMR clusters of one tier, created, deleted and healed as a unit.
type Pool struct {
	Name string `json:"name"`
	Tier string `json:"tier"`
	// Clusters is how many clusters the pool has, or at most has when MinClusters is set.
	Clusters int `json:"clusters"`
	// MinClusters, when set, makes the pool elastic: that many clusters are kept (launched without the
	// idle timeout, replaced when lost), and up to Clusters more are launched when runs wait for a slot,
	// each ending after IdleTimeoutSeconds idle. Unset, all Clusters are launched with the pool.
	MinClusters *int `json:"minClusters,omitempty"`
	// SlotSeconds is how long a run of the pool holds its slot, on average over its newest ended runs
	// (measured by the reconciler; 0: not yet). An elastic pool launches no cluster for the waiting
	// runs that slots freed sooner than a cluster starts will take (core.SoonFreed).
	SlotSeconds        float64  `json:"slotSeconds,omitempty"`
	ReleaseLabel       string   `json:"releaseLabel"`
	Applications       []string `json:"applications"`
	LogURI             string   `json:"logUri,omitempty"`
	StepConcurrency    int      `json:"stepConcurrency"`
	IdleTimeoutSeconds int      `json:"idleTimeoutSeconds"`
	// MaxQueue, when above 0, is the most runs that may wait for a slot: a submit beyond it is
	// refused (core.QueueFull).
	MaxQueue              int               `json:"maxQueue,omitempty"`
	TerminationProtection bool              `json:"terminationProtection"`
	Network               Network           `json:"network"`
	Tags                  map[string]string `json:"tags,omitempty"`
	// CustomTier, when set, is the pool's own tier, named by Tier: a pool imported from a cluster whose
	// instances match no tier of the catalogue carries their description (sparkflow pool import).
	CustomTier *Tier `json:"customTier,omitempty"`
	// Configurations are the EMR configurations (spark-defaults, yarn-site, …) its clusters are
	// launched with (AWS; local clusters have no use for them).
	Configurations []Configuration `json:"configurations,omitempty"`
	Status         PoolStatus      `json:"status"`
	CreatedAt      time.Time       `json:"createdAt"`
	UpdatedAt      time.Time       `json:"updatedAt"`
	// HealLease is held by the task launching the pool's clusters, so that two healers (an event
	// handler and the reconciler, say) never launch the same replacement twice.
	HealLease *time.Time `json:"healLease,omitempty"`
	// LaunchesResumedAt is when the user last resumed launches (sparkflow pool heal): only clusters
	// launched after it count towards the failed starts that hold a pool's launches.
	LaunchesResumedAt *time.Time `json:"launchesResumedAt,omitempty"`
	// Version increases with every write; stores use it for optimistic locking.
	Version int64 `json:"version"`
}

// Configuration is one EMR configuration object: a classification (spark-defaults, say), its
// properties and nested configurations (EMR's Configurations of RunJobFlow).
type Configuration struct {
	Classification string            `json:"classification"`
	Properties     map[string]string `json:"properties,omitempty"`
	Configurations []Configuration   `json:"configurations,omitempty"`
}

// StartFailure is a cluster that ended before it was ever ready, with EMR's reason.
type StartFailure struct {
	ClusterID string      `json:"clusterId"`
	Reason    StateReason `json:"reason"`
	At        time.Time   `json:"at"`
}

// StateReason is why a cluster or step is in its state (EMR's stateChangeReason).
type StateReason struct {
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// TransformKind says how a transform's step is built.
type TransformKind string

const (
	// KindSpark runs spark-submit through command-runner.jar.
	KindSpark TransformKind = "spark"
	// KindCommand runs any command line through command-runner.jar (locally: as a process).
	KindCommand TransformKind = "command"
)

// Transform is a job profile assigned to a pool.
type Transform struct {
	Name        string        `json:"name"`
	Pool        string        `json:"pool"`
	Kind        TransformKind `json:"kind"`
	Description string        `json:"description,omitempty"`
	// Spark: the main jar or script, its class (jars), spark-submit options as an ordered list (so that
	// --conf can repeat), and the job arguments.
	MainResource string   `json:"mainResource,omitempty"`
	MainClass    string   `json:"mainClass,omitempty"`
	SparkOptions []string `json:"sparkOptions,omitempty"`
	// Command: the command line as argv.
	Command []string `json:"command,omitempty"`
	// Args are the job arguments, appended after the main resource (spark) or the command. ${name}
	// stands for a parameter: a run can override Params; ${run_id} and ${attempt} are always set.
	Args   []string          `json:"args,omitempty"`
	Params map[string]string `json:"params,omitempty"`
	// Retry and timeout policy.
	MaxAttempts         int `json:"maxAttempts"`
	TimeoutSeconds      int `json:"timeoutSeconds"`
	QueueTimeoutSeconds int `json:"queueTimeoutSeconds"`
	// Priority is its runs' priority unless a request gives one (default normal).
	Priority Priority `json:"priority,omitempty"`
	// Upstream names the transforms a run of this one waits for: it is BLOCKED until each has a
	// SUCCEEDED run with the same values of the parameters they share (core.SharedValues), and ends
	// UPSTREAM_FAILED when that run ended otherwise.
	Upstream []string `json:"upstream,omitempty"`
	// MaxConcurrent, when above 0, is the most runs of the transform that may be under way at once
	// (QUEUED to their end): the others wait BLOCKED, in acceptance order.
	MaxConcurrent int `json:"maxConcurrent,omitempty"`
	// Schedule, when set, fires runs of the transform: "cron(0 2 * * ? *)" or "rate(15 minutes)"
	// (EventBridge Scheduler's syntax), in Timezone (IANA, default UTC). A firing's run has the id
	// core.ScheduledRunID and the parameters core.ScheduleParams fills (day, prev_day, month, hour,
	// scheduled_time). CatchUp says what a local engine that was stopped submits of the firings it
	// missed (none, latest, all; default latest); Paused holds the schedule.
	Schedule  string    `json:"schedule,omitempty"`
	Timezone  string    `json:"timezone,omitempty"`
	CatchUp   string    `json:"catchUp,omitempty"`
	Paused    bool      `json:"paused,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Transition is one change of a run's status, kept as the run's timeline.
type Transition struct {
	Status  RunStatus `json:"status"`
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	Note    string    `json:"note,omitempty"`
	// Event names a change within a status that is not a status of its own (RESERVED: the waiting
	// run got its slot; CANCEL REQUESTED; ATTEMPT ENDED, before a retry).
	Event string `json:"event,omitempty"`
	// Step and Cluster are set on the transition that recorded an attempt's step, so that every
	// attempt's step (and its logs) can be found.
	Step    string `json:"step,omitempty"`
	Cluster string `json:"cluster,omitempty"`
}

// Events of a run's history that are not statuses.
const (
	EventReserved        = "RESERVED"
	EventCancelRequested = "CANCEL REQUESTED"
	EventAttemptEnded    = "ATTEMPT ENDED"
)

// Label is what a history line shows: the event, or else the status.
func (t Transition) Label() string {
	if t.Event != "" {
		return t.Event
	}
	return string(t.Status)
}

// AttemptStep returns the step and cluster of one attempt of the run (0: the current one).
func (r Run) AttemptStep(attempt int) (step, cluster string) {
	if attempt == 0 || attempt == r.Attempt {
		return r.StepID, r.ClusterID
	}
	for _, t := range r.History {
		if t.Attempt == attempt && t.Step != "" {
			step, cluster = t.Step, t.Cluster
		}
	}
	return step, cluster
}

// Run is one execution of a transform.
type Run struct {
	ID        string            `json:"id"`
	Transform string            `json:"transform"`
	Pool      string            `json:"pool"`
	Params    map[string]string `json:"params,omitempty"`
	// Values are every parameter's value when the run was accepted: the transform's defaults with
	// Params (the request's overrides) over them. Shown with the run.
	Values  map[string]string `json:"values,omitempty"`
	Status  RunStatus         `json:"status"`
	Attempt int               `json:"attempt"`
	// Priority is the run's place in its pool's queue (the request's, else the transform's).
	Priority Priority `json:"priority,omitempty"`
	// After are runs this one waits for (run submit --after), beside its transform's upstream.
	After []string `json:"after,omitempty"`
	// ScheduledFor is the firing of its transform's schedule that made the run.
	ScheduledFor *time.Time `json:"scheduledFor,omitempty"`
	// WaitsFor says, while the run is BLOCKED, what it waits for (upstream runs, a place among its
	// transform's concurrent runs).
	WaitsFor []string `json:"waitsFor,omitempty"`
	// Policy copied from the transform when the run was accepted, so an edit does not change a run
	// under way.
	MaxAttempts         int `json:"maxAttempts"`
	TimeoutSeconds      int `json:"timeoutSeconds"`
	QueueTimeoutSeconds int `json:"queueTimeoutSeconds"`
	// The cluster whose slot the run holds (or held last), the step of the current attempt and its
	// last known state.
	ClusterID string    `json:"clusterId,omitempty"`
	StepID    string    `json:"stepId,omitempty"`
	StepState StepState `json:"stepState,omitempty"`
	// Token is the workflow task token the run's current wait resumes with, and Fence the invocation
	// that wrote it: only a newer invocation replaces it.
	Token string `json:"token,omitempty"`
	Fence *Fence `json:"fence,omitempty"`
	// Submitting is the claim of the Submit invocation that may add the attempt's step: a duplicate
	// invocation of the same attempt never adds a second one.
	Submitting      *SubmitClaim `json:"submitting,omitempty"`
	CancelRequested bool         `json:"cancelRequested,omitempty"`
	Reason          string       `json:"reason,omitempty"`
	LogURI          string       `json:"logUri,omitempty"`
	CreatedAt       time.Time    `json:"createdAt"`
	UpdatedAt       time.Time    `json:"updatedAt"`
	// ReleasedAt is when a BLOCKED run was released into its pool's queue; HoldsPlace says that it
	// holds one of its transform's places (MaxConcurrent), given back when it ends.
	ReleasedAt *time.Time `json:"releasedAt,omitempty"`
	HoldsPlace bool       `json:"holdsPlace,omitempty"`
	// Dependents are runs accepted with --after this one: its end releases them.
	Dependents []string     `json:"dependents,omitempty"`
	ReservedAt *time.Time   `json:"reservedAt,omitempty"`
	StartedAt  *time.Time   `json:"startedAt,omitempty"`
	EndedAt    *time.Time   `json:"endedAt,omitempty"`
	History    []Transition `json:"history"`
	// Version increases with every write; stores use it for optimistic locking.
	Version int64 `json:"version"`
}

// SetStatus moves the run to status and records the transition.
func (r *Run) SetStatus(status RunStatus, at time.Time, note string) {
	r.Status = status
	r.UpdatedAt = at
	r.History = append(r.History, Transition{Status: status, Attempt: r.Attempt, At: at, Note: note})
	if status.Terminal() {
		t := at
		r.EndedAt = &t
		r.Token = ""
	}
}

// AttemptBegan is when the run's current attempt began to wait for a slot: its first transition of
// that attempt (the run's acceptance, or its release from BLOCKED, for the first).
func (r Run) AttemptBegan() time.Time {
	for _, t := range r.History {
		if t.Attempt == r.Attempt && t.Status != RunBlocked {
			return t.At
		}
	}
	return r.QueuedSince()
}

// QueuedSince is when the run joined its pool's queue: its acceptance, or its release if it was
// BLOCKED. Its place in the queue is at QueueKey(QueuedSince, Priority).
func (r Run) QueuedSince() time.Time {
	if r.ReleasedAt != nil {
		return *r.ReleasedAt
	}
	return r.CreatedAt
}

// QueueWait is how long the run waited for a slot (until now if it still waits); time BLOCKED does
// not count.
func (r Run) QueueWait(now time.Time) time.Duration {
	since := r.QueuedSince()
	if r.Status == RunBlocked {
		return 0
	}
	if r.ReservedAt != nil {
		return r.ReservedAt.Sub(since)
	}
	if r.EndedAt != nil {
		if r.EndedAt.Before(since) {
			return 0
		}
		return r.EndedAt.Sub(since)
	}
	return now.Sub(since)
}

// RunRequest is what a producer puts on the runs queue.
type RunRequest struct {
	ID        string            `json:"id,omitempty"`
	Transform string            `json:"transform"`
	Params    map[string]string `json:"params,omitempty"`
	// Priority: high, normal or low (default: the transform's).
	Priority Priority `json:"priority,omitempty"`
	// After lists runs (ids) the run waits for: it starts once each has SUCCEEDED, and ends
	// UPSTREAM_FAILED if one ends otherwise.
	After []string `json:"after,omitempty"`
	// ScheduledTime is set by a schedule's firing: the run's id and its time parameters come from it.
	ScheduledTime *time.Time `json:"scheduledTime,omitempty"`
}

// Rejected is a request that could not be accepted, kept with its reason so nothing is lost.
type Rejected struct {
	ID     string    `json:"id"`
	Body   string    `json:"body"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Waiter is a run waiting in its pool's FIFO for a free slot.
type Waiter struct {
	Pool  string    `json:"pool"`
	RunID string    `json:"runId"`
	Token string    `json:"token"`
	Since time.Time `json:"since"`
	// Priority places the waiter in the queue: at QueueKey(Since, Priority).
	Priority Priority `json:"priority,omitempty"`
}

// RunFilter selects runs; zero fields match all. Runs come newest first.
type RunFilter struct {
	Transform string
	Pool      string
	Status    RunStatus
	Active    bool // only runs not in a terminal status
	Limit     int
}

// Fence orders the invocations of a run's waiting tasks: the workflow hands each the epoch of its
// execution (a restarted local engine's are newer), the attempt, the task and the retry count of its
// state. A late duplicate of an invocation the workflow gave up on (its response lost, or a retry
// that overtook it) is older than the live one, so it can neither replace the live task token nor add
// a step.
type Fence struct {
	Epoch   int64 `json:"epoch,omitempty"`
	Attempt int   `json:"attempt"`
	Task    int   `json:"task"` // FenceReserve or FenceSubmit: Submit comes after Reserve in an attempt
	Retry   int   `json:"retry,omitempty"`
}

// The tasks a Fence names, in their order within an attempt (Hold: only a gated run's first).
const (
	FenceHold    = 0
	FenceReserve = 1
	FenceSubmit  = 2
)

// Before reports whether f is an older invocation than g.
func (f Fence) Before(g Fence) bool {
	switch {
	case f.Epoch != g.Epoch:
		return f.Epoch < g.Epoch
	case f.Attempt != g.Attempt:
		return f.Attempt < g.Attempt
	case f.Task != g.Task:
		return f.Task < g.Task
	}
	return f.Retry < g.Retry
}

// SubmitClaim is a Submit invocation's claim on adding its attempt's step, and since when it holds it.
type SubmitClaim struct {
	Fence Fence     `json:"fence"`
	At    time.Time `json:"at"`
}

// Clone returns a deep copy of r: nothing the copy holds (maps, slices, pointed-to values) is shared
// with r, so either may be changed without the other seeing it (a store keeping decoded runs hands
// out clones). TestRunCloneSharesNothing checks that every field is covered.
func (r Run) Clone() Run {
	c := r
	c.Params, c.Values = cloneMap(r.Params), cloneMap(r.Values)
	c.After, c.WaitsFor, c.Dependents = cloneSlice(r.After), cloneSlice(r.WaitsFor), cloneSlice(r.Dependents)
	c.History = cloneSlice(r.History)
	c.ScheduledFor, c.ReleasedAt, c.ReservedAt = clonePtr(r.ScheduledFor), clonePtr(r.ReleasedAt), clonePtr(r.ReservedAt)
	c.StartedAt, c.EndedAt = clonePtr(r.StartedAt), clonePtr(r.EndedAt)
	c.Fence, c.Submitting = clonePtr(r.Fence), clonePtr(r.Submitting)
	return c
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func cloneSlice[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append(make([]T, 0, len(s)), s...)
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
