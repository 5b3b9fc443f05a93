// Package local is SparkFlow's embedded home: one process with no AWS account. It wires the SQLite
// store, the local clusters, an in-process event bus (EventBridge), task tokens (Step Functions'
// callbacks) and a workflow runner that runs the run workflow of package workflow, with the same task
// order, retries and timeouts as the AWS state machine. Every accepted run is in the database before
// Submit returns, and a restarted engine resumes every run that had not ended.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/localcluster"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/sqlitestore"
	"github.com/sparkflow/sparkflow/shared/tasks"
	"github.com/sparkflow/sparkflow/shared/tiers"
	"github.com/sparkflow/sparkflow/shared/workflow"
)

// Config configures an engine. Only DataDir is required.
type Config struct {
	DataDir string
	// TierFile extends or overrides the built-in tiers ("" for none).
	TierFile string
	// ProvisionDelay is how long a local cluster takes to become ready (default 2 s).
	ProvisionDelay time.Duration
	// ReconcileInterval is how often the reconciler runs (default 30 s; it also runs at start).
	ReconcileInterval time.Duration
	// ReconcileBudget is the most EMR calls one reconcile pass makes (default 100; locally there is
	// no throttling, but the pass is written for EMR's).
	ReconcileBudget int
	// WorkDir is where step processes run (default: the current directory).
	WorkDir string
	// EventFilter, for tests, sees every event and returns what is delivered: none (a lost event),
	// one, or several (duplicates, or held-back events released out of order).
	EventFilter func([]byte) [][]byte
	// Retry overrides the task retry policy (tests use a fast one).
	Retry *workflow.Retry
	// Store replaces the SQLite store in DataDir (tests run the engine on the DynamoDB store); the
	// engine does not close it.
	Store sparkflow.Store
	Log   *slog.Logger
}

// Engine is a running local SparkFlow.
type Engine struct {
	cfg        Config
	Service    *tasks.Service
	Store      sparkflow.Store
	closeStore func() error
	Clusters   *localcluster.Clusters
	tokens     *tokens
	bus        *bus
	retry      workflow.Retry
	log        *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	active map[string]bool
	wg     sync.WaitGroup
}

// Open starts an engine on cfg.DataDir, resuming what an earlier engine left there.
func Open(cfg Config) (*Engine, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("local engine: a data directory is required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.ReconcileInterval == 0 {
		cfg.ReconcileInterval = 30 * time.Second
	}
	if cfg.ReconcileBudget == 0 {
		cfg.ReconcileBudget = 100
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", cfg.DataDir, err)
	}
	catalog, err := tiers.Load(cfg.TierFile)
	if err != nil {
		return nil, err
	}
	var store sparkflow.Store = cfg.Store
	var closeStore func() error = func() error { return nil }
	if store == nil {
		db, err := sqlitestore.Open(filepath.Join(cfg.DataDir, "sparkflow.db"))
		if err != nil {
			return nil, err
		}
		store, closeStore = db, db.Close
	}
	e := &Engine{cfg: cfg, Store: store, closeStore: closeStore, tokens: newTokens(), log: cfg.Log, active: map[string]bool{}, retry: workflow.TaskRetry}
	if cfg.Retry != nil {
		e.retry = *cfg.Retry
	}
	e.bus = newBus(cfg.EventFilter, cfg.Log)
	e.Clusters, err = localcluster.Open(localcluster.Config{
		Dir: filepath.Join(cfg.DataDir, "emr"), ProvisionDelay: cfg.ProvisionDelay, WorkDir: cfg.WorkDir,
		Emit: e.bus.publish, Log: cfg.Log,
	})
	if err != nil {
		closeStore()
		return nil, err
	}
	e.Service = tasks.New(tasks.Service{Store: store, Clusters: e.Clusters, Callbacks: e.tokens, Tiers: catalog, Log: cfg.Log})
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.bus.start(e.ctx, e.Service.HandleEvent)
	if err := e.resume(); err != nil {
		e.Close()
		return nil, err
	}
	e.wg.Add(1)
	go e.reconcileLoop()
	return e, nil
}

// resume restarts the workflow of every run that has not ended.
func (e *Engine) resume() error {
	runs, err := e.Store.ListRuns(e.ctx, sparkflow.RunFilter{Active: true})
	if err != nil {
		return fmt.Errorf("resume runs: %w", err)
	}
	for i := len(runs) - 1; i >= 0; i-- { // oldest first
		e.startWorkflow(runs[i].ID)
	}
	if len(runs) > 0 {
		e.log.Info("resumed runs", "count", len(runs))
	}
	return nil
}

func (e *Engine) reconcileLoop() {
	defer e.wg.Done()
	t := time.NewTicker(e.cfg.ReconcileInterval)
	defer t.Stop()
	for {
		if _, err := e.Service.Reconcile(e.ctx, e.cfg.ReconcileBudget); err != nil && e.ctx.Err() == nil {
			e.log.Warn("reconcile", "err", err)
		}
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Reconcile runs one reconcile pass now.
func (e *Engine) Reconcile(ctx context.Context) (tasks.ReconcileReport, error) {
	return e.Service.Reconcile(ctx, e.cfg.ReconcileBudget)
}

// Submit accepts a run request (the local runs queue: durable in the database before it returns) and
// starts its workflow.
func (e *Engine) Submit(ctx context.Context, req sparkflow.RunRequest) (sparkflow.Run, error) {
	r, _, err := e.Service.Accept(ctx, req)
	if err != nil {
		return r, err
	}
	e.startWorkflow(r.ID)
	return r, nil
}

// startWorkflow starts run's workflow unless it runs already (a workflow is named by its run id).
func (e *Engine) startWorkflow(runID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.active[runID] || e.ctx.Err() != nil {
		return
	}
	e.active[runID] = true
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer func() {
			e.mu.Lock()
			delete(e.active, runID)
			e.mu.Unlock()
		}()
		if err := e.execute(e.ctx, runID); err != nil && e.ctx.Err() == nil {
			e.log.Error("workflow stopped", "run_id", runID, "err", err)
		}
	}()
}

// Active reports how many workflows are running.
func (e *Engine) Active() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.active)
}

var errWaitTimeout = errors.New(workflow.ErrorTimeout)

type taskFailure struct{ name, cause string }

func (f *taskFailure) Error() string { return f.name + ": " + f.cause }

// execute runs the run workflow: Reserve → Submit → Finish, looping while Finish says retry.
func (e *Engine) execute(ctx context.Context, runID string) error {
	for {
		r, err := e.Store.GetRun(ctx, runID)
		if err != nil {
			return err
		}
		if r.Status.Terminal() {
			return nil
		}
		// Reserve: wait for a slot, at most the queue timeout from when this attempt began.
		deadline := attemptStart(r).Add(time.Duration(r.QueueTimeoutSeconds) * time.Second)
		_, err = e.wait(ctx, deadline, func(tok string) error { return e.Service.Reserve(ctx, runID, tok) })
		var outcome *core.Outcome
		switch {
		case ctx.Err() != nil:
			return nil // engine stopping: the next start resumes
		case errors.Is(err, errWaitTimeout):
			outcome = &core.Outcome{Cause: core.CauseQueueTimeout}
		case err != nil:
			outcome = failureOutcome(err)
		}
		if outcome == nil {
			// Submit: wait for the step to end, at most the run's timeout from the reservation.
			r, err = e.Store.GetRun(ctx, runID)
			if err != nil {
				return err
			}
			start := time.Now()
			if r.ReservedAt != nil {
				start = *r.ReservedAt
			}
			deadline = start.Add(time.Duration(r.TimeoutSeconds) * time.Second)
			out, err := e.wait(ctx, deadline, func(tok string) error { return e.Service.Submit(ctx, runID, tok) })
			switch {
			case ctx.Err() != nil:
				return nil
			case errors.Is(err, errWaitTimeout):
				outcome = &core.Outcome{Cause: core.CauseTimeout}
			case err != nil:
				outcome = failureOutcome(err)
			default:
				outcome = &core.Outcome{}
				if err := json.Unmarshal(out, outcome); err != nil || (outcome.StepState == "" && outcome.Cause == "") {
					return fmt.Errorf("submit resumed with %s, not an outcome (%v)", out, err)
				}
			}
		}
		var res tasks.FinishResult
		err = e.task(ctx, func() error {
			var err error
			res, err = e.Service.Finish(ctx, runID, *outcome)
			return err
		})
		if err != nil {
			return fmt.Errorf("finish: %w", err)
		}
		if !res.Retry {
			return nil
		}
	}
}

func failureOutcome(err error) *core.Outcome {
	var f *taskFailure
	if errors.As(err, &f) && f.name == workflow.ErrorCancelled {
		return &core.Outcome{StepState: sparkflow.StepCancelled, Cause: core.CauseCancelled}
	}
	return &core.Outcome{StepState: sparkflow.StepFailed, Cause: core.CauseSubmitFailed, Reason: err.Error()}
}

// attemptStart is when the run's current attempt began waiting.
func attemptStart(r sparkflow.Run) time.Time {
	for _, t := range r.History {
		if t.Attempt == r.Attempt {
			return t.At
		}
	}
	return r.CreatedAt
}

// wait runs a .waitForTaskToken task: it registers a token, runs the task (with the retry policy) and
// waits until the token is resumed, the deadline passes or the engine stops.
func (e *Engine) wait(ctx context.Context, deadline time.Time, task func(token string) error) ([]byte, error) {
	tok, ch := e.tokens.register()
	if err := e.task(ctx, func() error { return task(tok) }); err != nil {
		e.tokens.drop(tok)
		select {
		case res := <-ch: // the task resumed the token before failing: honour the resume
			return res.output, resErr(res)
		default:
		}
		return nil, err
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case res := <-ch:
		return res.output, resErr(res)
	case <-timer.C:
		e.tokens.drop(tok)
		select {
		case res := <-ch:
			return res.output, resErr(res)
		default:
		}
		return nil, errWaitTimeout
	case <-ctx.Done():
		e.tokens.drop(tok)
		return nil, ctx.Err()
	}
}

func resErr(r result) error {
	if r.errName == "" {
		return nil
	}
	return &taskFailure{name: r.errName, cause: r.cause}
}

// task runs fn with the workflow's retry policy for transient errors.
func (e *Engine) task(ctx context.Context, fn func() error) error {
	for n := 1; ; n++ {
		err := fn()
		if err == nil || !retryable(err) || n > e.retry.MaxAttempts {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(e.retry.Delay(n)):
		}
	}
}

// retryable: transient errors and internal ones (a crash-like failure of the task), not a caller's
// mistake, a missing record or a conflict that retrying cannot fix.
func retryable(err error) bool {
	switch sparkflow.ErrorCode(err) {
	case sparkflow.Transient, sparkflow.Internal:
		return true
	}
	return false
}

// LogDir returns where a run's current step writes its logs ("" before it has a step).
func (e *Engine) LogDir(r sparkflow.Run) string {
	if r.StepID == "" {
		return ""
	}
	return e.Clusters.LogDir(r.ClusterID, r.StepID)
}

// Close stops the engine: workflows stop where they wait (the next Open resumes them), step processes
// are killed (the next Open reports them INTERRUPTED), and the database is closed.
func (e *Engine) Close() error {
	e.cancel()
	e.wg.Wait()
	e.bus.close()
	e.Clusters.Close()
	return e.closeStore()
}
