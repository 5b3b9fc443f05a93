// Package localcluster is the embedded home's EMR: clusters that live on this machine. A cluster
// "provisions" for a configurable delay, then runs each step's command line as a local process (stdout
// and stderr to log files under the data directory), at most its step concurrency at a time, and
// reports every cluster and step state change as the exact JSON of EMR's EventBridge events. Its state
// is kept in a file, so a restarted engine finds its clusters again (steps that were running when the
// process died are reported INTERRUPTED, as EMR reports steps cut off under it).
package localcluster

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/sparkflow/sparkflow/shared/emrevent"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// Config configures the local clusters.
type Config struct {
	// Dir holds the state file and the logs (Dir/logs/<cluster>/steps/<step>/{stdout,stderr}).
	Dir string
	// ProvisionDelay is how long a new cluster takes to become ready (default 2 s).
	ProvisionDelay time.Duration
	// KillGrace is how long a cancelled step has after SIGTERM before SIGKILL (default 5 s).
	KillGrace time.Duration
	// WorkDir is the working directory of step processes (default: the current directory).
	WorkDir string
	// Emit receives every event (EMR EventBridge JSON). It must not block for long.
	Emit func(event []byte)
	Log  *slog.Logger
}

// Clusters implements sparkflow.Clusters with local processes.
type Clusters struct {
	cfg     Config
	mu      sync.Mutex
	state   fileState
	procs   map[string]*exec.Cmd // step id → running process
	timers  []*time.Timer
	closed  bool
	builder emrevent.Builder
	wg      sync.WaitGroup
}

var _ sparkflow.Clusters = (*Clusters)(nil)

type fileState struct {
	Clusters map[string]*cluster `json:"clusters"`
}

type cluster struct {
	ID          string                 `json:"id"`
	Name        string                 `json:"name"`
	State       sparkflow.ClusterState `json:"state"`
	Reason      sparkflow.StateReason  `json:"reason"`
	Concurrency int                    `json:"concurrency"`
	CreatedAt   time.Time              `json:"createdAt"`
	ReadyAt     time.Time              `json:"readyAt"`
	EndedAt     time.Time              `json:"endedAt"`
	Steps       []*step                `json:"steps"`
}

type step struct {
	ID        string                `json:"id"`
	Name      string                `json:"name"`
	Args      []string              `json:"args"`
	State     sparkflow.StepState   `json:"state"`
	Reason    sparkflow.StateReason `json:"reason"`
	LogDir    string                `json:"logDir"`
	Cancel    bool                  `json:"cancel"`
	CreatedAt time.Time             `json:"createdAt"`
}

// maxStepsKept bounds a cluster's step history in the state file.
const maxStepsKept = 2000

// Open loads the clusters kept in cfg.Dir (if any) and resumes them: clusters still provisioning
// finish provisioning, pending steps start, and steps that were running are reported INTERRUPTED.
func Open(cfg Config) (*Clusters, error) {
	if cfg.ProvisionDelay == 0 {
		cfg.ProvisionDelay = 2 * time.Second
	}
	if cfg.KillGrace == 0 {
		cfg.KillGrace = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Emit == nil {
		cfg.Emit = func([]byte) {}
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("local clusters: %w", err)
	}
	c := &Clusters{cfg: cfg, procs: map[string]*exec.Cmd{}, builder: emrevent.DefaultBuilder,
		state: fileState{Clusters: map[string]*cluster{}}}
	data, err := os.ReadFile(c.statePath())
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("local clusters: %w", err)
	default:
		if err := json.Unmarshal(data, &c.state); err != nil {
			return nil, fmt.Errorf("local clusters: state file %s is damaged: %w", c.statePath(), err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cl := range c.sorted() {
		switch {
		case cl.State == sparkflow.ClusterStarting || cl.State == sparkflow.ClusterBootstrapping:
			c.scheduleReady(cl.ID)
		case cl.State == sparkflow.ClusterTerminating:
			c.terminated(cl, cl.Reason)
		case cl.State.Ready():
			for _, st := range cl.Steps {
				if st.State == sparkflow.StepRunning || st.State == sparkflow.StepCancelPending {
					c.endStep(cl, st, sparkflow.StepInterrupted, "the local engine stopped while the step ran")
				}
			}
			c.startPending(cl)
		}
	}
	return c, c.save()
}

func (c *Clusters) statePath() string { return filepath.Join(c.cfg.Dir, "clusters.json") }

func (c *Clusters) sorted() []*cluster {
	out := make([]*cluster, 0, len(c.state.Clusters))
	for _, cl := range c.state.Clusters {
		out = append(out, cl)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// save writes the state file atomically. Called with mu held.
func (c *Clusters) save() error {
	data, err := json.Marshal(c.state)
	if err != nil {
		return err
	}
	tmp := c.statePath() + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("local clusters: save state: %w", err)
	}
	return os.Rename(tmp, c.statePath())
}

func (c *Clusters) saveOrLog() {
	if err := c.save(); err != nil {
		c.cfg.Log.Error("local clusters: save state", "err", err)
	}
}

const idChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func newID(prefix string) string {
	b := make([]byte, 13)
	rand.Read(b)
	for i := range b {
		b[i] = idChars[int(b[i])%len(idChars)]
	}
	return prefix + string(b)
}

func (c *Clusters) emitCluster(cl *cluster) {
	ev, err := c.builder.ClusterEvent(time.Now(), cl.ID, cl.Name, cl.State, cl.Reason)
	if err == nil {
		c.cfg.Emit(ev)
	}
}

func (c *Clusters) emitStep(cl *cluster, st *step) {
	msg := ""
	if st.Reason.Message != "" {
		msg = fmt.Sprintf("Step %s (%s) in Amazon EMR cluster %s (%s) is %s: %s", st.ID, st.Name, cl.ID, cl.Name, st.State, st.Reason.Message)
	}
	ev, err := c.builder.StepEvent(time.Now(), cl.ID, st.ID, st.Name, st.State, msg)
	if err == nil {
		c.cfg.Emit(ev)
	}
}

// Launch starts a local cluster: STARTING now, WAITING after the provisioning delay.
func (c *Clusters) Launch(ctx context.Context, spec sparkflow.LaunchSpec) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return "", sparkflow.Errorf(sparkflow.Transient, "local clusters are shut down")
	}
	conc := spec.Pool.StepConcurrency
	if conc < 1 {
		conc = 1
	}
	cl := &cluster{ID: newID("j-"), Name: spec.Name, State: sparkflow.ClusterStarting, Concurrency: conc, CreatedAt: time.Now().UTC()}
	c.state.Clusters[cl.ID] = cl
	if err := c.save(); err != nil {
		delete(c.state.Clusters, cl.ID)
		return "", err
	}
	c.emitCluster(cl)
	c.scheduleReady(cl.ID)
	c.cfg.Log.Info("local cluster starting", "cluster_id", cl.ID, "name", cl.Name)
	return cl.ID, nil
}

func (c *Clusters) scheduleReady(id string) {
	c.timers = append(c.timers, time.AfterFunc(c.cfg.ProvisionDelay, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		cl := c.state.Clusters[id]
		if c.closed || cl == nil || cl.State.Ended() || cl.State.Ready() {
			return
		}
		cl.State, cl.ReadyAt = sparkflow.ClusterWaiting, time.Now().UTC()
		cl.Reason = sparkflow.StateReason{Message: "Cluster ready to run steps."}
		c.saveOrLog()
		c.emitCluster(cl)
		c.startPending(cl)
	}))
}

func (c *Clusters) get(id string) (*cluster, error) {
	cl := c.state.Clusters[id]
	if cl == nil {
		return nil, sparkflow.Errorf(sparkflow.NotFound, "cluster %s does not exist", id)
	}
	return cl, nil
}

// Describe returns a cluster's state.
func (c *Clusters) Describe(ctx context.Context, id string) (sparkflow.ClusterInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, err := c.get(id)
	if err != nil {
		return sparkflow.ClusterInfo{}, err
	}
	return sparkflow.ClusterInfo{ID: cl.ID, Name: cl.Name, State: cl.State, Reason: cl.Reason, NormalizedInstanceHours: c.hours(cl)}, nil
}

// hours counts started hours since creation, like EMR's normalized instance hours of a one-unit
// cluster.
func (c *Clusters) hours(cl *cluster) int {
	end := time.Now()
	if !cl.EndedAt.IsZero() {
		end = cl.EndedAt
	}
	return int(end.Sub(cl.CreatedAt).Hours()) + 1
}

// AddStep queues a step; it starts when the cluster is ready and has a free slot.
func (c *Clusters) AddStep(ctx context.Context, id string, spec sparkflow.StepSpec) (string, error) {
	if len(spec.Args) == 0 {
		return "", sparkflow.FieldError("args", "a step needs a command line")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, err := c.get(id)
	if err != nil {
		return "", err
	}
	if cl.State.Ended() {
		return "", sparkflow.Errorf(sparkflow.Conflict, "cluster %s is %s: steps can be added only while it is STARTING, BOOTSTRAPPING, RUNNING or WAITING", id, cl.State)
	}
	st := &step{ID: newID("s-"), Name: spec.Name, Args: spec.Args, State: sparkflow.StepPending, CreatedAt: time.Now().UTC()}
	st.LogDir = stepLogDir(c.cfg.Dir, cl.ID, st.ID)
	cl.Steps = append(cl.Steps, st)
	if len(cl.Steps) > maxStepsKept {
		cl.Steps = cl.Steps[len(cl.Steps)-maxStepsKept:]
	}
	if err := c.save(); err != nil {
		cl.Steps = cl.Steps[:len(cl.Steps)-1]
		return "", err
	}
	c.emitStep(cl, st)
	c.startPending(cl)
	return st.ID, nil
}

// ListSteps lists a cluster's steps, newest first.
func (c *Clusters) ListSteps(ctx context.Context, id string) ([]sparkflow.StepInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, err := c.get(id)
	if err != nil {
		return nil, err
	}
	out := make([]sparkflow.StepInfo, 0, len(cl.Steps))
	for i := len(cl.Steps) - 1; i >= 0; i-- {
		st := cl.Steps[i]
		out = append(out, sparkflow.StepInfo{ID: st.ID, Name: st.Name, State: st.State, Reason: st.Reason, LogURI: st.LogDir})
	}
	return out, nil
}

// CancelStep cancels a pending step at once and a running one with SIGTERM (SIGKILL after the grace
// period). Cancelling an ended step is a no-op, as in EMR.
func (c *Clusters) CancelStep(ctx context.Context, id, stepID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, err := c.get(id)
	if err != nil {
		return err
	}
	for _, st := range cl.Steps {
		if st.ID != stepID {
			continue
		}
		switch st.State {
		case sparkflow.StepPending:
			c.endStep(cl, st, sparkflow.StepCancelled, "cancelled before it started")
		case sparkflow.StepRunning:
			st.Cancel = true
			st.State = sparkflow.StepCancelPending
			c.saveOrLog()
			c.emitStep(cl, st)
			if p := c.procs[st.ID]; p != nil && p.Process != nil {
				signalGroup(p.Process.Pid, syscall.SIGTERM)
				pid := p.Process.Pid
				c.timers = append(c.timers, time.AfterFunc(c.cfg.KillGrace, func() { signalGroup(pid, syscall.SIGKILL) }))
			}
		}
		return nil
	}
	return sparkflow.Errorf(sparkflow.NotFound, "step %s not found on cluster %s", stepID, id)
}

// Terminate ends a cluster: its steps are cancelled, then it is TERMINATED (USER_REQUEST).
func (c *Clusters) Terminate(ctx context.Context, id string) error {
	return c.end(id, sparkflow.StateReason{Code: "USER_REQUEST", Message: "Terminated by user request"})
}

// Fail simulates the loss of a cluster (for tests and demos): its steps die and it ends
// TERMINATED_WITH_ERRORS with the given reason code (INSTANCE_FAILURE by default).
func (c *Clusters) Fail(id, code string) error {
	if code == "" {
		code = "INSTANCE_FAILURE"
	}
	return c.end(id, sparkflow.StateReason{Code: code, Message: "simulated failure of local cluster"})
}

func (c *Clusters) end(id string, reason sparkflow.StateReason) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, err := c.get(id)
	if err != nil {
		return err
	}
	if cl.State.Ended() {
		return nil
	}
	cl.State, cl.Reason = sparkflow.ClusterTerminating, reason
	c.saveOrLog()
	c.emitCluster(cl)
	c.terminated(cl, reason)
	return nil
}

// terminated finishes a termination. Called with mu held.
func (c *Clusters) terminated(cl *cluster, reason sparkflow.StateReason) {
	for _, st := range cl.Steps {
		if st.State.Terminal() {
			continue
		}
		if p := c.procs[st.ID]; p != nil && p.Process != nil {
			signalGroup(p.Process.Pid, syscall.SIGKILL)
		}
		c.endStep(cl, st, sparkflow.StepCancelled, "cluster terminated")
	}
	state := sparkflow.ClusterTerminated
	if reason.Code != "USER_REQUEST" && reason.Code != "ALL_STEPS_COMPLETED" {
		state = sparkflow.ClusterTerminatedWithErrors
	}
	cl.State, cl.Reason, cl.EndedAt = state, reason, time.Now().UTC()
	c.saveOrLog()
	c.emitCluster(cl)
}

// endStep moves a step to a final state and reports it. Called with mu held.
func (c *Clusters) endStep(cl *cluster, st *step, state sparkflow.StepState, msg string) {
	if st.State.Terminal() {
		return
	}
	st.State = state
	st.Reason = sparkflow.StateReason{Message: msg}
	delete(c.procs, st.ID)
	c.saveOrLog()
	c.emitStep(cl, st)
}

func (c *Clusters) running(cl *cluster) int {
	n := 0
	for _, st := range cl.Steps {
		if st.State == sparkflow.StepRunning || st.State == sparkflow.StepCancelPending {
			n++
		}
	}
	return n
}

// startPending starts pending steps while slots are free, oldest first. Called with mu held.
func (c *Clusters) startPending(cl *cluster) {
	if c.closed || !cl.State.Ready() {
		return
	}
	for _, st := range cl.Steps {
		if c.running(cl) >= cl.Concurrency {
			return
		}
		if st.State != sparkflow.StepPending {
			continue
		}
		if cl.State == sparkflow.ClusterWaiting {
			cl.State = sparkflow.ClusterRunning
			cl.Reason = sparkflow.StateReason{Message: "Running step"}
			c.emitCluster(cl)
		}
		c.start(cl, st)
	}
}

// start runs a step's process. Called with mu held.
func (c *Clusters) start(cl *cluster, st *step) {
	if err := os.MkdirAll(st.LogDir, 0o755); err != nil {
		c.endStep(cl, st, sparkflow.StepFailed, "cannot create log directory: "+err.Error())
		return
	}
	stdout, err1 := os.Create(filepath.Join(st.LogDir, "stdout"))
	stderr, err2 := os.Create(filepath.Join(st.LogDir, "stderr"))
	if err := errors.Join(err1, err2); err != nil {
		c.endStep(cl, st, sparkflow.StepFailed, "cannot create log files: "+err.Error())
		return
	}
	cmd := exec.Command(st.Args[0], st.Args[1:]...)
	cmd.Dir = c.cfg.WorkDir
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Env = append(os.Environ(), "SPARKFLOW_CLUSTER_ID="+cl.ID, "SPARKFLOW_STEP_ID="+st.ID, "SPARKFLOW_STEP_NAME="+st.Name)
	cmd.SysProcAttr = procAttr()
	st.State = sparkflow.StepRunning
	if err := cmd.Start(); err != nil {
		stdout.Close()
		stderr.Close()
		st.State = sparkflow.StepPending
		c.endStep(cl, st, sparkflow.StepFailed, fmt.Sprintf("cannot start %q: %v", st.Args[0], err))
		return
	}
	c.procs[st.ID] = cmd
	c.saveOrLog()
	c.emitStep(cl, st)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		err := cmd.Wait()
		stdout.Close()
		stderr.Close()
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed {
			return // the engine is stopping; the next Open reports the step INTERRUPTED
		}
		switch {
		case st.State.Terminal():
		case st.Cancel:
			c.endStep(cl, st, sparkflow.StepCancelled, "cancelled by request")
		case err != nil:
			c.endStep(cl, st, sparkflow.StepFailed, exitMessage(err))
		default:
			c.endStep(cl, st, sparkflow.StepCompleted, "")
		}
		if cl.State == sparkflow.ClusterRunning && c.running(cl) == 0 && !c.hasPending(cl) {
			cl.State = sparkflow.ClusterWaiting
			cl.Reason = sparkflow.StateReason{Message: "Cluster ready after last step completed."}
			c.saveOrLog()
			c.emitCluster(cl)
		}
		c.startPending(cl)
	}()
}

func (c *Clusters) hasPending(cl *cluster) bool {
	for _, st := range cl.Steps {
		if st.State == sparkflow.StepPending {
			return true
		}
	}
	return false
}

func exitMessage(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Sprintf("the step's process was killed by signal %s; see its stderr", ws.Signal())
		}
		return fmt.Sprintf("the step's process exited with code %d; see its stderr", ee.ExitCode())
	}
	return err.Error()
}

// LogDir returns the log directory of a step (it may not exist yet).
func (c *Clusters) LogDir(clusterID, stepID string) string {
	return stepLogDir(c.cfg.Dir, clusterID, stepID)
}

func stepLogDir(dir, clusterID, stepID string) string {
	return filepath.Join(dir, "logs", clusterID, "steps", stepID)
}

// Close stops the clusters' timers and kills running step processes, leaving the state file as it is
// (as a crash would: the next Open reports those steps INTERRUPTED).
func (c *Clusters) Close() error {
	c.mu.Lock()
	c.closed = true
	for _, t := range c.timers {
		t.Stop()
	}
	for _, p := range c.procs {
		if p.Process != nil {
			signalGroup(p.Process.Pid, syscall.SIGKILL)
		}
	}
	c.mu.Unlock()
	c.wg.Wait()
	return nil
}
