package sparkflow

import "context"

// Health is a home's report on itself: GET /api/health.
type Health struct {
	// Status is the worst of the checks': ok, warn or fail.
	Status string        `json:"status"`
	Checks []HealthCheck `json:"checks"`
}

// HealthCheck is one thing a home checked about itself.
type HealthCheck struct {
	Name   string `json:"name"`
	Status string `json:"status"` // ok, warn, fail
	Detail string `json:"detail"`
}

// The statuses of a check, best first.
const (
	HealthOK   = "ok"
	HealthWarn = "warn"
	HealthFail = "fail"
)

// Add records a check and keeps Status the worst so far.
func (h *Health) Add(name, status, detail string) {
	h.Checks = append(h.Checks, HealthCheck{Name: name, Status: status, Detail: detail})
	rank := map[string]int{"": 0, HealthOK: 1, HealthWarn: 2, HealthFail: 3}
	if rank[status] > rank[h.Status] {
		h.Status = status
	}
}

// HealthReporter is a Backend that can report on its own health (the local engine).
type HealthReporter interface {
	Health(ctx context.Context) Health
}

// RunTrace says where a run's own SparkFlow log lines are (beside its step's logs, Run.LogURI): every
// line that concerns the run carries its run_id.
type RunTrace struct {
	// Where names the logs (a file, or CloudWatch log groups).
	Where string `json:"where"`
	// Query finds the run's lines in them (a CloudWatch Logs Insights query), and Command does it
	// from a shell.
	Query   string `json:"query,omitempty"`
	Command string `json:"command,omitempty"`
}

// TraceFinder is a Backend that says where a run's SparkFlow log lines are.
type TraceFinder interface {
	RunTrace(ctx context.Context, id string) (RunTrace, error)
}
