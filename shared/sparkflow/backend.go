package sparkflow

import "context"

// Backend is SparkFlow as its users see it: the face that the CLI, the web UI and the JSON API speak.
// Implementations: the local engine, the JSON API's client (against any server), and the backend of
// a deployed AWS stack. Every implementation passes the contract suite in package backendtest.
type Backend interface {
	Tiers(ctx context.Context) ([]Tier, error)
	CreatePool(ctx context.Context, p Pool) (PoolView, error)
	ListPools(ctx context.Context) ([]PoolView, error)
	GetPool(ctx context.Context, name string) (PoolView, error)
	DeletePool(ctx context.Context, name string, force bool) error
	CreateTransform(ctx context.Context, t Transform) (Transform, error)
	UpdateTransform(ctx context.Context, t Transform) (Transform, error)
	ListTransforms(ctx context.Context, pool string) ([]Transform, error)
	GetTransform(ctx context.Context, name string) (Transform, error)
	DeleteTransform(ctx context.Context, name string) error
	SubmitRun(ctx context.Context, req RunRequest) (Run, error)
	ListRuns(ctx context.Context, f RunFilter) ([]Run, error)
	GetRun(ctx context.Context, id string) (Run, error)
	CancelRun(ctx context.Context, id string) (Run, error)
	RunLogs(ctx context.Context, id, stream string, tail int64) (string, error)
}

// PoolView is a pool with its cluster records and what they add up to.
type PoolView struct {
	Pool
	ClusterRecords []Cluster `json:"clusterRecords"`
	Ready          int       `json:"ready"`
	SlotsUsed      int       `json:"slotsUsed"`
	SlotsTotal     int       `json:"slotsTotal"`
}
