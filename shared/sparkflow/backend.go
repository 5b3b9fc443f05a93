package sparkflow

import (
	"context"
	"strings"
	"time"
)

// Backend is SparkFlow as its users see it: the face that the CLI, the web UI and the JSON API speak.
// Implementations: the local engine, the JSON API's client (against any server), and the backend of
// a deployed AWS stack. Every implementation passes the contract suite in package backendtest.
type Backend interface {
	Tiers(ctx context.Context) ([]Tier, error)
	CreatePool(ctx context.Context, p Pool) (PoolView, error)
	ListPools(ctx context.Context) ([]PoolView, error)
	GetPool(ctx context.Context, name string) (PoolView, error)
	DeletePool(ctx context.Context, name string, force bool) error
	// HealPool resumes a pool's launches after failed starts held them (the cause being fixed) and
	// launches what the pool lacks.
	HealPool(ctx context.Context, name string) error
	CreateTransform(ctx context.Context, t Transform) (Transform, error)
	UpdateTransform(ctx context.Context, t Transform) (Transform, error)
	ListTransforms(ctx context.Context, pool string) ([]Transform, error)
	GetTransform(ctx context.Context, name string) (Transform, error)
	DeleteTransform(ctx context.Context, name string) error
	SubmitRun(ctx context.Context, req RunRequest) (Run, error)
	ListRuns(ctx context.Context, f RunFilter) ([]Run, error)
	GetRun(ctx context.Context, id string) (Run, error)
	CancelRun(ctx context.Context, id string) (Run, error)
	// RunLogs returns a run's step output (local homes; others say where the logs are).
	RunLogs(ctx context.Context, id string, q LogQuery) (string, error)
	// ListRejected lists the run requests that could not be accepted, newest first, each with its
	// reason (a home that refuses requests at once, as the local API does, keeps none).
	ListRejected(ctx context.Context, limit int) ([]Rejected, error)
}

// LogQuery says which of a run's logs to read: the stream (stdout or stderr, default stdout), the last
// Tail bytes (0: all), and the attempt (0: the latest).
type LogQuery struct {
	Stream  string
	Tail    int64
	Attempt int
}

// PoolView is a pool with its cluster records and what they add up to.
type PoolView struct {
	Pool
	ClusterRecords []Cluster `json:"clusterRecords"`
	Ready          int       `json:"ready"`
	SlotsUsed      int       `json:"slotsUsed"`
	SlotsTotal     int       `json:"slotsTotal"`
	// Waiting runs in the pool's queue, and since when the oldest of them waits.
	Waiting       int        `json:"waiting"`
	OldestWaiting *time.Time `json:"oldestWaiting,omitempty"`
	// StartFailures counts the pool's clusters in a row that failed to start (since launches were
	// last resumed); LastStartFailure is the newest, with EMR's reason. After MaxStartFailures the
	// pool launches nothing until the user resumes it (HealPool); before, the next launch waits
	// until NextLaunchAt.
	StartFailures    int           `json:"startFailures,omitempty"`
	LastStartFailure *StartFailure `json:"lastStartFailure,omitempty"`
	LaunchesHeld     bool          `json:"launchesHeld,omitempty"`
	NextLaunchAt     *time.Time    `json:"nextLaunchAt,omitempty"`
	// IdleEnded counts the clusters missing because EMR ended them for idleness: they are launched
	// again when runs need them.
	IdleEnded int `json:"idleEnded,omitempty"`
	// StartSeconds is how long the pool's clusters took from launch to ready (the median of the
	// newest StartSamples that became ready; 0 when none has yet).
	StartSeconds float64 `json:"startSeconds,omitempty"`
	StartSamples int     `json:"startSamples,omitempty"`
}

// MinRunIDPrefix is the shortest run id prefix the front ends accept for a run.
const MinRunIDPrefix = 6

// runIDSearch bounds how many of the newest runs a prefix is looked for among.
const runIDSearch = 5000

// ResolveRunID returns the full id of the run that ref names: a full id as it is, or a unique prefix
// of at least MinRunIDPrefix characters (as the UI shows them) among the newest runs.
func ResolveRunID(ctx context.Context, b Backend, ref string) (string, error) {
	ref = strings.ToLower(strings.TrimSpace(ref))
	if id, err := CanonicalRunID(ref); err == nil {
		return id, nil
	}
	if len(ref) < MinRunIDPrefix {
		return "", Errorf(NotFound, "run %q not found: give the run id, or at least %d of its first characters", ref, MinRunIDPrefix)
	}
	runs, err := b.ListRuns(ctx, RunFilter{Limit: runIDSearch})
	if err != nil {
		return "", err
	}
	var found []string
	for _, r := range runs {
		if strings.HasPrefix(r.ID, ref) {
			found = append(found, r.ID)
		}
	}
	switch len(found) {
	case 0:
		return "", Errorf(NotFound, "run %q not found (no run id among the newest %d starts with it)", ref, runIDSearch)
	case 1:
		return found[0], nil
	}
	if len(found) > 3 {
		found = append(found[:3], "…")
	}
	return "", FieldError("id", "%q is the start of several run ids (%s); give more characters", ref, strings.Join(found, ", "))
}
