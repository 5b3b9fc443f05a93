// Package local is SparkFlow's embedded home: one process with no AWS account. It wires the SQLite
// store, the local clusters, an in-process event bus (EventBridge), task tokens (Step Functions'
// callbacks) and a workflow runner that runs the run workflow of package workflow, with the same task
// order, retries and timeouts as the AWS state machine. Every accepted run is in the database before
// Submit returns, and a restarted engine resumes every run that had not ended.
package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/sparkflow/sparkflow/shared/local/localcluster"
	"github.com/sparkflow/sparkflow/shared/local/promsink"
	"github.com/sparkflow/sparkflow/shared/local/sqlitestore"
	"github.com/sparkflow/sparkflow/shared/logs"
	"github.com/sparkflow/sparkflow/shared/metrics"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
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
	// WrapCallbacks, for tests, wraps the callbacks the task logic resumes workflows with (to lose
	// some, say).
	WrapCallbacks func(sparkflow.Callbacks) sparkflow.Callbacks
	// ScheduleNow is the scheduler's clock (tests; default the wall clock in UTC).
	ScheduleNow func() time.Time
	// Store replaces the SQLite store in DataDir (tests run the engine on the DynamoDB store); the
	// engine does not close it.
	Store sparkflow.Store
	Log   *slog.Logger
	// LogFile is where the engine keeps its own log, JSON lines at info level with the run, attempt,
	// pool, cluster and step of each line that concerns a run, besides Log (default DATA/engine.log,
	// rotated at 64 MB with 3 old files kept; "off" for none).
	LogFile string
}

// LogFileOff turns the engine's log file off.
const LogFileOff = "off"

// DefaultLogFile is the engine's log file in a data directory.
func DefaultLogFile(dataDir string) string { return filepath.Join(dataDir, "engine.log") }

// Engine is a running local SparkFlow.
type Engine struct {
	cfg        Config
	Service    *tasks.Service
	Store      sparkflow.Store
	closeStore func() error
	sched      *scheduler
	Clusters   *localcluster.Clusters
	flows      *workflow.Interpreter
	bus        *bus
	log        *slog.Logger
	metrics    *promsink.Sink
	logFile    *lumberjack.Logger
	// epoch orders this engine's workflow executions after those of the engines that ran on the
	// same data before it (workflow.Input.Epoch).
	epoch int64

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	draining atomic.Bool
	// lastReconcile is the last reconcile pass's end (for Health).
	lastReconcile atomic.Pointer[reconciled]
}

type reconciled struct {
	at  time.Time
	err error
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
	var logFile *lumberjack.Logger
	if cfg.LogFile == "" {
		cfg.LogFile = DefaultLogFile(cfg.DataDir)
	}
	if cfg.LogFile != LogFileOff {
		logFile = &lumberjack.Logger{Filename: cfg.LogFile, MaxSize: 64, MaxBackups: 3}
		cfg.Log = slog.New(slog.NewMultiHandler(cfg.Log.Handler(), slog.NewJSONHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo})))
	}
	cfg.Log = slog.New(logs.Handler(cfg.Log.Handler()))
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
	e := &Engine{cfg: cfg, Store: store, closeStore: closeStore, log: cfg.Log, epoch: time.Now().UnixNano(), logFile: logFile}
	e.bus = newBus(cfg.EventFilter, cfg.Log)
	e.Clusters, err = localcluster.Open(localcluster.Config{
		Dir: filepath.Join(cfg.DataDir, "emr"), ProvisionDelay: cfg.ProvisionDelay, WorkDir: cfg.WorkDir,
		Emit: e.bus.publish, Log: cfg.Log,
	})
	if err != nil {
		closeStore()
		return nil, err
	}
	// The service resumes workflows through the interpreter, which runs the service's tasks: the
	// callbacks are bound once both exist.
	callbacks := &lateCallbacks{}
	var cb sparkflow.Callbacks = callbacks
	if cfg.WrapCallbacks != nil {
		cb = cfg.WrapCallbacks(callbacks)
	}
	var svc *tasks.Service
	e.metrics = promsink.New(func(ctx context.Context) ([]metrics.Sample, error) { return svc.Gauges(ctx) })
	var sink metrics.Sink = e.metrics
	e.sched = newScheduler(e, cfg.ScheduleNow)
	svc = tasks.New(tasks.Service{Store: store, Clusters: countedClusters{e.Clusters, sink}, Callbacks: cb, Tiers: catalog, Log: cfg.Log, Metrics: sink, SerialDispatch: true, Schedules: e.sched})
	e.Service = svc
	e.flows, err = workflow.NewInterpreter(workflow.Run(), e.Service.RunTasks(), workflow.Options{
		Log: cfg.Log, Retry: cfg.Retry,
		OnEnd: func(name string, r workflow.Result) {
			if r.Status == workflow.Succeeded {
				return
			}
			// As the stack's execution-status rule does on AWS: a run whose workflow ended without
			// finishing it ends, and its slot is freed (a FAILED run's own workflow fails on purpose).
			if err := e.Service.ExecutionEnded(e.ctx, name, string(r.Status), r.Error, r.Cause); err != nil && e.ctx.Err() == nil {
				run, _ := e.Store.GetRun(e.ctx, name)
				run.ID = name
				e.log.ErrorContext(tasks.Scope(e.ctx, run), "end the run of a failed workflow", "status", r.Status, "error", r.Error, "err", err)
			}
		},
	})
	if err != nil {
		e.Clusters.Close()
		closeStore()
		return nil, err
	}
	callbacks.Callbacks = e.flows
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.Service.Background = e.ctx // its dispatch passes end with the engine
	e.bus.scope = e.Service.EventScope
	e.bus.handleGroup = e.Service.HandleEvents
	e.bus.start(e.ctx, e.Service.HandleEvent)
	if err := e.resume(); err != nil {
		e.Close()
		return nil, err
	}
	e.wg.Add(2)
	go e.reconcileLoop()
	go func() {
		defer e.wg.Done()
		e.sched.loop(e.ctx)
	}()
	return e, nil
}

// lateCallbacks lets the service be built before the interpreter that resumes its tasks.
type lateCallbacks struct{ sparkflow.Callbacks }

// ExecutionStatus asks the interpreter, so that the reconciler can look at executions here too.
func (l *lateCallbacks) ExecutionStatus(ctx context.Context, runID string) (string, error) {
	if ex, ok := l.Callbacks.(sparkflow.ExecutionStatuses); ok {
		return ex.ExecutionStatus(ctx, runID)
	}
	return "", sparkflow.Errorf(sparkflow.NotFound, "no execution of %s runs", runID)
}

// resume restarts the workflow of every run that has not ended, where it stood: its waits keep the
// time they began, so a restart never extends a timeout.
func (e *Engine) resume() error {
	runs, err := e.Store.ListRuns(e.ctx, sparkflow.RunFilter{Active: true})
	if err != nil {
		return fmt.Errorf("resume runs: %w", err)
	}
	for i := len(runs) - 1; i >= 0; i-- { // oldest first
		e.startWorkflow(runs[i], ResumeOf(runs[i]))
	}
	if len(runs) > 0 {
		e.log.Info("resumed runs", "count", len(runs))
	}
	return nil
}

// ResumeOf is where a restarted engine resumes a run's workflow: at Reserve (which finds a slot the
// run holds already), with its waits dated from when the attempt began waiting and from when the slot
// was granted, so that a restart never extends a timeout.
func ResumeOf(r sparkflow.Run) *workflow.Resume {
	entered := map[string]time.Time{workflow.StateReserve: r.AttemptBegan()}
	if r.ReservedAt != nil {
		entered[workflow.StateSubmit] = *r.ReservedAt
	}
	if r.Status == sparkflow.RunBlocked {
		return &workflow.Resume{At: workflow.StateHold, EnteredAt: map[string]time.Time{workflow.StateHold: r.CreatedAt}}
	}
	return &workflow.Resume{At: workflow.StateReserve, EnteredAt: entered}
}

func (e *Engine) reconcileLoop() {
	defer e.wg.Done()
	t := time.NewTicker(e.cfg.ReconcileInterval)
	defer t.Stop()
	for {
		if _, err := e.Reconcile(e.ctx); err != nil && e.ctx.Err() == nil {
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
	rep, err := e.Service.Reconcile(ctx, e.cfg.ReconcileBudget)
	e.lastReconcile.Store(&reconciled{at: time.Now(), err: err})
	return rep, err
}

// Submit accepts a run request (the local runs queue: durable in the database before it returns) and
// starts its workflow.
func (e *Engine) Submit(ctx context.Context, req sparkflow.RunRequest) (sparkflow.Run, error) {
	if e.draining.Load() {
		return sparkflow.Run{}, sparkflow.Errorf(sparkflow.Transient, "the engine is stopping and takes no new runs; submit again once it is started")
	}
	r, err := e.accept(ctx, req)
	if err != nil {
		if c := sparkflow.ErrorCode(err); c == sparkflow.Invalid || c == sparkflow.NotFound || c == sparkflow.Conflict {
			e.Service.Metrics.Record(metrics.RequestsRejected, 1, string(c))
		}
		return r, err
	}
	e.startWorkflow(r, nil)
	return r, nil
}

// accept checks the runs a request waits for (--after) exist, then accepts it.
func (e *Engine) accept(ctx context.Context, req sparkflow.RunRequest) (sparkflow.Run, error) {
	if err := req.Validate(); err != nil {
		return sparkflow.Run{}, err
	}
	if err := e.Service.CheckAfter(ctx, req); err != nil {
		return sparkflow.Run{}, err
	}
	r, _, err := e.Service.Accept(ctx, req)
	return r, err
}

// startWorkflow starts run's workflow unless it runs already (an execution is named by its run id).
func (e *Engine) startWorkflow(r sparkflow.Run, resume *workflow.Resume) {
	in, _ := json.Marshal(workflow.InputOf(r, e.epoch))
	if _, err := e.flows.Start(e.ctx, r.ID, in, resume); err != nil {
		e.log.ErrorContext(tasks.Scope(e.ctx, r), "start workflow", "err", err)
	}
}

// InjectEvent puts an EMR event on the engine's bus as the local clusters do (tests use it to deliver
// an event late).
func (e *Engine) InjectEvent(raw []byte) { e.bus.publish(raw) }

// Active reports how many workflows are running.
func (e *Engine) Active() int { return e.flows.Active() }

// LogDir returns where a run's current step writes its logs ("" before it has a step).
func (e *Engine) LogDir(r sparkflow.Run) string {
	if r.StepID == "" {
		return ""
	}
	return e.Clusters.LogDir(r.ClusterID, r.StepID)
}

// DrainReport says what a drain left: steps still running when it gave up (interrupted by Close, they
// retry or fail per their transform's policy at the next start).
type DrainReport struct {
	Finished    int // steps that were running when the drain began and ended during it
	Interrupted int // steps still running at the end of the grace period
}

// Drain prepares a stop: no new runs are accepted and no pending step starts, and the steps under way
// may finish (their runs end as usual) until none runs or ctx ends (the grace period). Close then
// stops the engine; runs still queued or waiting go on at the next start.
func (e *Engine) Drain(ctx context.Context) DrainReport {
	e.draining.Store(true)
	start := e.Clusters.Drain()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		n := e.Clusters.Running()
		if n == 0 && !e.endingRuns(ctx) {
			return DrainReport{Finished: start}
		}
		select {
		case <-ctx.Done():
			return DrainReport{Finished: start - n, Interrupted: n}
		case <-t.C:
		}
	}
}

// endingRuns reports whether a run whose step has ended has not ended yet (its events or its Finish
// are under way), so that a drain lets it end before the engine stops.
func (e *Engine) endingRuns(ctx context.Context) bool {
	active, err := e.Store.ListRuns(ctx, sparkflow.RunFilter{Active: true})
	if err != nil {
		return false
	}
	for _, r := range active {
		if r.StepID != "" && (r.StepState.Terminal() || e.Clusters.StepEnded(r.ClusterID, r.StepID)) {
			return true
		}
	}
	return false
}

// Close stops the engine: workflows stop where they wait (the next Open resumes them), step processes
// are killed (the next Open reports them INTERRUPTED), and the database is closed.
func (e *Engine) Close() error {
	e.cancel()
	e.wg.Wait()
	e.flows.Wait()
	e.bus.close()
	e.Service.WaitBackground()
	e.Clusters.Close()
	err := e.closeStore()
	if e.logFile != nil {
		e.logFile.Close()
	}
	return err
}

// LogFile is where the engine keeps its log ("" when it keeps none).
func (e *Engine) LogFile() string {
	if e.logFile == nil {
		return ""
	}
	return e.cfg.LogFile
}
