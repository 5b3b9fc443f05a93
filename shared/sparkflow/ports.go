package sparkflow

import (
	"context"
	"errors"
	"time"
)

// Store keeps pools, clusters, transforms, runs, reservations, the per-pool FIFO of waiting runs and
// rejected requests. Every implementation passes the contract suite in package storetest.
//
// Errors: NotFound for a missing record, Conflict for a name taken, a stale version or a full cluster.
type Store interface {
	CreatePool(ctx context.Context, p Pool) error
	GetPool(ctx context.Context, name string) (Pool, error)
	ListPools(ctx context.Context) ([]Pool, error)
	// UpdatePool writes p if the stored version is still p.Version and returns it with the new version
	// (Conflict otherwise).
	UpdatePool(ctx context.Context, p Pool) (Pool, error)
	DeletePool(ctx context.Context, name string) error

	// CreateCluster stores a new cluster record (Conflict if the id exists already).
	CreateCluster(ctx context.Context, c Cluster) error
	// UpdateCluster writes c if the stored version is still c.Version and returns it with the new
	// version (Conflict otherwise). Reservations are not written: Reserve and Release own them.
	UpdateCluster(ctx context.Context, c Cluster) (Cluster, error)
	GetCluster(ctx context.Context, id string) (Cluster, error)
	ListClusters(ctx context.Context, pool string) ([]Cluster, error)
	DeleteCluster(ctx context.Context, id string) error

	CreateTransform(ctx context.Context, t Transform) error
	GetTransform(ctx context.Context, name string) (Transform, error)
	ListTransforms(ctx context.Context, pool string) ([]Transform, error)
	UpdateTransform(ctx context.Context, t Transform) error
	DeleteTransform(ctx context.Context, name string) error

	// CreateRun stores a new run. It returns created=false and no error when a run with that id
	// exists already (a redelivered request).
	CreateRun(ctx context.Context, r Run) (created bool, err error)
	GetRun(ctx context.Context, id string) (Run, error)
	// UpdateRun writes r if the stored version is still r.Version, and returns r with the new version;
	// a Conflict error when someone else wrote first.
	UpdateRun(ctx context.Context, r Run) (Run, error)
	ListRuns(ctx context.Context, f RunFilter) ([]Run, error)

	// CreateRunOn is CreateRun of a run that takes, in the same atomic write, a slot of cluster for its
	// attempt (r.Attempt): a run accepted while its pool has a slot free for it is created holding it.
	// A cluster that is not ready or is full fails with ErrNoSlot and writes nothing; created=false
	// (and no slot taken) when a run with that id exists already.
	CreateRunOn(ctx context.Context, r Run, clusterID string) (created bool, err error)
	// UpdateRunSlot is UpdateRun with a change of the run's slot made in the same atomic write (one
	// write where UpdateRun and Reserve or Release would be two): see SlotChange. A stale version
	// fails with Conflict and writes nothing.
	UpdateRunSlot(ctx context.Context, r Run, ch SlotChange) (Run, error)

	// Reserve gives a run's attempt a slot of cluster, atomically. If the run already holds a slot
	// anywhere it returns that cluster's id, and a slot held for an earlier attempt is this attempt's
	// from then on (a retry takes over the slot its ended attempt left); otherwise it adds the run to
	// the cluster's reservations if the cluster is ready and has fewer than its capacity, or fails
	// with Conflict (ErrNoSlot). The run's record must exist (NotFound otherwise): the reservation is
	// kept with it.
	Reserve(ctx context.Context, runID string, attempt int, clusterID string) (string, error)
	// Held is the cluster on which run holds a slot ("" for none) and the attempt it holds it for.
	Held(ctx context.Context, runID string) (clusterID string, attempt int, err error)
	// Release frees run's slot on cluster if it is held for attempt or an earlier one (attempt 0: for
	// any): the late release of an ended attempt leaves alone the slot a later attempt took over.
	// Releasing a slot not held is a no-op. A release that frees the slot sets the cluster's FreedAt
	// to at (the caller's clock: its idle time starts again).
	Release(ctx context.Context, runID string, attempt int, clusterID string, at time.Time) error

	// Enqueue adds run to its pool's FIFO, or updates the token of a run already there (keeping its
	// place); an empty token, or the token there, writes nothing for a run already there.
	Enqueue(ctx context.Context, w Waiter) error
	// Waiters lists the pool's FIFO, oldest first, at most limit (0: all).
	Waiters(ctx context.Context, pool string, limit int) ([]Waiter, error)
	// RemoveWaiter takes run out of the FIFO and reports whether it was there, so that of several
	// dispatchers only one wins a waiter.
	RemoveWaiter(ctx context.Context, pool, runID string) (bool, error)

	// Admit gives run one of the places of transform, atomically: true if the run holds one already or
	// fewer than limit are held (it then holds one), false when all limit places are held.
	Admit(ctx context.Context, transform, runID string, limit int) (bool, error)
	// Leave gives run's place back; leaving a place not held is a no-op.
	Leave(ctx context.Context, transform, runID string) error
	// Places lists the runs holding a place of transform.
	Places(ctx context.Context, transform string) ([]string, error)

	PutRejected(ctx context.Context, r Rejected) error
	ListRejected(ctx context.Context, limit int) ([]Rejected, error)
}

// SlotChange is the change of a run's slot that UpdateRunSlot writes with the run.
//
// Take: the run's attempt (the run's Attempt) takes a slot of this cluster. It fails with ErrNoSlot
// when the cluster is not ready or is full, and with ErrHeld when the run holds a slot already, on
// another cluster or for an earlier attempt (Reserve decides those); a slot of this cluster held for
// this attempt already is no change. Either failure writes nothing.
//
// Free: the run's slot on this cluster, held for attempt FreeAttempt or an earlier one (0: any), is
// freed, and the cluster's FreedAt set to At, as Release does; a slot not held so is no change (the run
// is written all the same).
type SlotChange struct {
	Take        string
	Free        string
	FreeAttempt int
	At          time.Time
}

// ErrNoSlot is the cause of a Conflict when a cluster is full or not ready; ErrHeld of one when the
// run holds a slot already (SlotChange.Take).
var (
	ErrNoSlot = errors.New("no free slot")
	ErrHeld   = errors.New("the run holds a slot already")
)

// Schedules keep a transform's schedule where it fires (EventBridge Scheduler; the local engine's
// scheduler): Put creates, changes, pauses or removes it to match the transform; Delete removes it.
// Both are idempotent.
type Schedules interface {
	PutSchedule(ctx context.Context, t Transform) error
	DeleteSchedule(ctx context.Context, transform string) error
}

// LaunchSpec is what the clusters adapter needs to start one cluster of a pool.
type LaunchSpec struct {
	Name string
	Pool Pool
	Tier Tier
	// Kept: the cluster is one of an elastic pool's minimum: launched without the pool's idle timeout.
	Kept bool
}

// StepSpec is one EMR step: a jar (command-runner.jar for SparkFlow) and its arguments.
type StepSpec struct {
	Name            string   `json:"name"`
	Jar             string   `json:"jar"`
	Args            []string `json:"args"`
	ActionOnFailure string   `json:"actionOnFailure"`
}

// ClusterInfo is what EMR says about a cluster.
type ClusterInfo struct {
	ID                      string
	Name                    string
	State                   ClusterState
	Reason                  StateReason
	NormalizedInstanceHours int
	// ReadyAt is when the cluster was first ready (EMR's Timeline.ReadyDateTime); nil if it never was.
	ReadyAt *time.Time
}

// StepInfo is what EMR says about a step.
type StepInfo struct {
	ID     string
	Name   string
	State  StepState
	Reason StateReason
	// LogURI is where the step's stdout/stderr are (a directory).
	LogURI string
}

// Clusters is the EMR API as SparkFlow uses it. Implementations: local clusters (processes on this
// machine) and EMR. Every implementation passes the contract suite in package clustertest. Cluster
// and step state changes are reported as EMR events on the implementation's event route, not by
// polling.
type Clusters interface {
	// Launch starts a cluster (RunJobFlow) and returns its id.
	Launch(ctx context.Context, spec LaunchSpec) (string, error)
	Describe(ctx context.Context, clusterID string) (ClusterInfo, error)
	// AddStep adds a step (AddJobFlowSteps). It has no idempotency token: a caller that may follow
	// another's try (a retry, a duplicate) looks for the step's name with ListSteps first.
	AddStep(ctx context.Context, clusterID string, step StepSpec) (string, error)
	// ListSteps lists the cluster's steps, newest first.
	ListSteps(ctx context.Context, clusterID string) ([]StepInfo, error)
	CancelStep(ctx context.Context, clusterID, stepID string) error
	Terminate(ctx context.Context, clusterID string) error
}

// Callbacks resume a workflow that waits on a task token (Step Functions' SendTaskSuccess and
// SendTaskFailure; the local engine's own runner). output is JSON.
type Callbacks interface {
	SendTaskSuccess(ctx context.Context, token string, output []byte) error
	SendTaskFailure(ctx context.Context, token, errName, cause string) error
}

// ExecutionStatuses is Callbacks that can tell how a run's workflow execution stands (Step Functions'
// DescribeExecution; the local interpreter): RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED, and
// NotFound when there is none. The reconciler ends active runs whose execution has ended, in case the
// execution's status event was lost.
type ExecutionStatuses interface {
	ExecutionStatus(ctx context.Context, runID string) (string, error)
}

// Clock tells the time; tests drive their own.
type Clock interface{ Now() time.Time }

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns the current time in UTC.
func (SystemClock) Now() time.Time { return time.Now().UTC() }

// StepPager is a Clusters whose step list comes in pages, each an API call: the reconciler reads at
// most as many pages as its call budget has left and counts each one.
type StepPager interface {
	ListStepsPages(ctx context.Context, clusterID string, maxPages int) (steps []StepInfo, pages int, err error)
}

// InstanceLister lists the instances a cluster runs (EMR's ListInstances), for what it costs. Only the
// AWS home has one; without it clusters are priced by their tier.
type InstanceLister interface {
	Instances(ctx context.Context, clusterID string) ([]InstanceCount, error)
}
