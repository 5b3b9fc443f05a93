// Package localcluster is the embedded home's EMR: clusters that live on this machine. A cluster
// "provisions" for a configurable delay, then runs each step's command line as a local process (stdout
// and stderr to log files under the data directory), at most its step concurrency at a time, and
// reports every cluster and step state change as the exact JSON of EMR's EventBridge events. Its state
// is kept in an append-only journal (one line per changed cluster or step, compacted now and then), so
// a restarted engine finds its clusters again (steps that were running when the process died are
// reported INTERRUPTED, as EMR reports steps cut off under it).
package localcluster

import (
	"crypto/rand"
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
	// Dir holds the state journal and the logs (Dir/logs/<cluster>/steps/<step>/{stdout,stderr}).
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
	cfg    Config
	mu     sync.Mutex
	files  sync.Mutex // makes the steps' log files, one step at a time
	state  fileState
	jr     *journal
	procs  map[string]*exec.Cmd // step id → running process
	timers []*time.Timer
	closed bool
	// draining: no pending step is started any more (the engine is stopping).
	draining bool
	builder  emrevent.Builder
	wg       sync.WaitGroup
	// startFailures: pool name → EMR reason codes of its next launches that fail to start.
	startFailures map[string][]string
	paths         pathCache
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
	Steps       []*step                `json:"steps,omitempty"`
	// IdleTimeout ends the cluster after it has been WAITING that long, as EMR's auto-termination
	// policy does (0: never).
	IdleTimeout time.Duration `json:"idleTimeout,omitempty"`

	// What finds a step fast: by id, the pending ones in order, and how many run.
	byID     map[string]*step
	pending  []*step
	nrunning int
	// idle is the timer of the cluster's idle timeout while it waits; busy counts the steps added,
	// so that a timer armed before one was added does nothing.
	idle *time.Timer
	busy int
}

type step struct {
	ID     string                `json:"id"`
	Name   string                `json:"name"`
	Args   []string              `json:"args"`
	State  sparkflow.StepState   `json:"state"`
	Reason sparkflow.StateReason `json:"reason"`
	LogDir string                `json:"logDir"`
	Cancel bool                  `json:"cancel"`
	// Pgid is the process group the step ran in, whose leftovers a restarted engine kills.
	Pgid      int       `json:"pgid,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	// path is where its program was found when it started (not kept).
	path string
}

// maxStepsKept bounds a cluster's step history (ended steps; those pending or running are always
// kept): ListSteps shows at most this many, and the journal keeps no more after a compaction.
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
	if err := c.load(); err != nil {
		return nil, err
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
					if n := killLeftovers(st.Pgid, st.ID); n > 0 {
						c.cfg.Log.Warn("killed what a step cut off by the engine's stop left running", "step_id", st.ID, "processes", n)
					}
					c.endStep(cl, st, sparkflow.StepInterrupted, "the local engine stopped while the step ran")
				}
			}
			c.startPending(cl)
			c.armIdle(cl) // its idle time starts again from the restart
		}
	}
	return c, nil
}

func (c *Clusters) sorted() []*cluster {
	out := make([]*cluster, 0, len(c.state.Clusters))
	for _, cl := range c.state.Clusters {
		out = append(out, cl)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
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

// Close stops the clusters' timers and kills running step processes, leaving the journal as it is
// (as a crash would: the next Open reports those steps INTERRUPTED).
func (c *Clusters) Close() error {
	c.mu.Lock()
	c.closed = true
	for _, cl := range c.state.Clusters {
		if cl.idle != nil {
			cl.idle.Stop()
		}
	}
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
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.jr.close()
}
