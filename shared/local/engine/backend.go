package engine

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// The methods below make the engine the backend of the JSON API and the CLI (httpapi.Backend).

// Tiers lists the tier catalogue.
func (e *Engine) Tiers(ctx context.Context) ([]sparkflow.Tier, error) {
	return e.Service.Tiers.All(), nil
}

// CreatePool creates a pool and launches its clusters.
func (e *Engine) CreatePool(ctx context.Context, p sparkflow.Pool) (sparkflow.PoolView, error) {
	return e.Service.CreatePool(ctx, p)
}

// ListPools lists the pools with their clusters.
func (e *Engine) ListPools(ctx context.Context) ([]sparkflow.PoolView, error) {
	return e.Service.ListPools(ctx)
}

// GetPool returns a pool with its clusters.
func (e *Engine) GetPool(ctx context.Context, name string) (sparkflow.PoolView, error) {
	return e.Service.GetPool(ctx, name)
}

// HealPool resumes a pool's launches held after failed starts and launches what it lacks.
func (e *Engine) HealPool(ctx context.Context, name string) error {
	return e.Service.ResumeLaunches(ctx, name)
}

// DeletePool terminates a pool's clusters and removes it when they are gone.
func (e *Engine) DeletePool(ctx context.Context, name string, force bool) error {
	return e.Service.DeletePool(ctx, name, force)
}

// CreateTransform records a transform.
func (e *Engine) CreateTransform(ctx context.Context, t sparkflow.Transform) (sparkflow.Transform, error) {
	return e.Service.CreateTransform(ctx, t)
}

// UpdateTransform replaces a transform.
func (e *Engine) UpdateTransform(ctx context.Context, t sparkflow.Transform) (sparkflow.Transform, error) {
	return e.Service.UpdateTransform(ctx, t)
}

// ListTransforms lists transforms, of one pool if pool is set.
func (e *Engine) ListTransforms(ctx context.Context, pool string) ([]sparkflow.Transform, error) {
	return e.Store.ListTransforms(ctx, pool)
}

// GetTransform returns a transform.
func (e *Engine) GetTransform(ctx context.Context, name string) (sparkflow.Transform, error) {
	return e.Store.GetTransform(ctx, name)
}

// DeleteTransform removes a transform with no active runs.
func (e *Engine) DeleteTransform(ctx context.Context, name string) error {
	return e.Service.DeleteTransform(ctx, name)
}

// SubmitRun is Submit under the backend's name.
func (e *Engine) SubmitRun(ctx context.Context, req sparkflow.RunRequest) (sparkflow.Run, error) {
	return e.Submit(ctx, req)
}

// ListRuns lists runs, newest first.
func (e *Engine) ListRuns(ctx context.Context, f sparkflow.RunFilter) ([]sparkflow.Run, error) {
	runs, err := e.Store.ListRuns(ctx, f)
	for i := range runs {
		e.fillLogURI(&runs[i])
	}
	return runs, err
}

// GetRun returns a run.
func (e *Engine) GetRun(ctx context.Context, id string) (sparkflow.Run, error) {
	r, err := e.Store.GetRun(ctx, id)
	e.fillLogURI(&r)
	return r, err
}

func (e *Engine) fillLogURI(r *sparkflow.Run) {
	if r.LogURI == "" {
		r.LogURI = e.LogDir(*r)
	}
}

// CancelRun cancels a run.
func (e *Engine) CancelRun(ctx context.Context, id string) (sparkflow.Run, error) {
	return e.Service.Cancel(ctx, id)
}

// ListRejected lists the requests the engine kept as rejected (its API refuses bad requests at once).
func (e *Engine) ListRejected(ctx context.Context, limit int) ([]sparkflow.Rejected, error) {
	return e.Store.ListRejected(ctx, limit)
}

// RunLogs returns the last q.Tail bytes (all when 0) of a run's stdout or stderr, of its latest
// attempt or of q.Attempt.
func (e *Engine) RunLogs(ctx context.Context, id string, q sparkflow.LogQuery) (string, error) {
	if q.Stream == "" {
		q.Stream = "stdout"
	}
	if q.Stream != "stdout" && q.Stream != "stderr" {
		return "", sparkflow.FieldError("stream", "%q is not a log stream: use stdout or stderr", q.Stream)
	}
	r, err := e.Store.GetRun(ctx, id)
	if err != nil {
		return "", err
	}
	if q.Attempt < 0 || q.Attempt > r.Attempt {
		return "", sparkflow.FieldError("attempt", "run %s has attempts 1 to %d, not %d", id, r.Attempt, q.Attempt)
	}
	step, cluster := r.AttemptStep(q.Attempt)
	if step == "" {
		return "", sparkflow.Errorf(sparkflow.NotFound, "run %s has no step for that attempt yet, so no logs (status %s)", id, r.Status)
	}
	f, err := os.Open(filepath.Join(e.Clusters.LogDir(cluster, step), q.Stream))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil // the step has not started writing
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	if q.Tail > 0 {
		if st, err := f.Stat(); err == nil && st.Size() > q.Tail {
			if _, err := f.Seek(st.Size()-q.Tail, io.SeekStart); err != nil {
				return "", err
			}
		}
	}
	b, err := io.ReadAll(f)
	return string(b), err
}
