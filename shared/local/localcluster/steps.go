package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

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
	if err := c.putStep(cl, st); err != nil {
		return "", err
	}
	cl.Steps = append(cl.Steps, st)
	cl.byID[st.ID] = st
	cl.pending = append(cl.pending, st)
	cl.busy++ // an idle timeout armed before does nothing
	c.emitStep(cl, st)
	c.startPending(cl)
	if err := c.tidy(cl); err != nil {
		c.cfg.Log.Error("local clusters: compact the journal", "err", err)
	}
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
	if st := cl.byID[stepID]; st != nil {
		switch st.State {
		case sparkflow.StepPending:
			c.endStep(cl, st, sparkflow.StepCancelled, "cancelled before it started")
		case sparkflow.StepRunning:
			st.Cancel = true
			st.State = sparkflow.StepCancelPending
			c.putStepOrLog(cl, st)
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

// endStep moves a step to a final state and reports it. Called with mu held.
func (c *Clusters) endStep(cl *cluster, st *step, state sparkflow.StepState, msg string) {
	if st.State.Terminal() {
		return
	}
	if st.State == sparkflow.StepRunning || st.State == sparkflow.StepCancelPending {
		cl.nrunning--
	}
	st.State = state
	st.Reason = sparkflow.StateReason{Message: msg}
	delete(c.procs, st.ID)
	c.putStepOrLog(cl, st)
	c.emitStep(cl, st)
}

// running is how many of cl's steps run (or are being cancelled). Called with mu held.
func (c *Clusters) running(cl *cluster) int { return cl.nrunning }

// startPending starts pending steps while slots are free, oldest first (the pending queue's head:
// O(1) a step). Called with mu held.
func (c *Clusters) startPending(cl *cluster) {
	if c.closed || c.draining || !cl.State.Ready() {
		return
	}
	for len(cl.pending) > 0 && cl.nrunning < cl.Concurrency {
		st := cl.pending[0]
		cl.pending[0] = nil
		cl.pending = cl.pending[1:]
		if st.State != sparkflow.StepPending {
			continue // cancelled before it started
		}
		if cl.State == sparkflow.ClusterWaiting {
			cl.State = sparkflow.ClusterRunning
			cl.Reason = sparkflow.StateReason{Message: "Running step"}
			c.emitCluster(cl)
		}
		c.start(cl, st)
	}
}

// start runs a step's process: the step takes its slot (RUNNING) at once, and the process is started
// without the lock (a fork and exec take a while, and every other step's change waits for the lock).
// Called with mu held.
func (c *Clusters) start(cl *cluster, st *step) {
	// The program must be there (a failed start would say so only as an error of the spawn).
	program := st.Args[0]
	if strings.Contains(program, "/") && !filepath.IsAbs(program) && c.cfg.WorkDir != "" {
		program = filepath.Join(c.cfg.WorkDir, program)
	}
	path, err := c.paths.look(program)
	if err != nil {
		c.endStep(cl, st, sparkflow.StepFailed, fmt.Sprintf("cannot start %q: %v", st.Args[0], err))
		return
	}
	st.path = path
	st.State = sparkflow.StepRunning
	cl.nrunning++
	c.wg.Add(1)
	go c.run(cl, st)
}

// run starts a step's process and waits for its end. The step is RUNNING already (its slot taken);
// what happened to it while the process started (a cancel, its cluster's end, the engine's stop) is
// looked at once the process is there.
func (c *Clusters) run(cl *cluster, st *step) {
	defer c.wg.Done()
	cmd, logs, err := c.spawn(cl, st)
	c.mu.Lock()
	if err != nil {
		c.endStep(cl, st, sparkflow.StepFailed, err.Error())
		c.afterStep(cl)
		c.mu.Unlock()
		return
	}
	pid := cmd.Process.Pid
	switch {
	case c.closed || st.State.Terminal():
		// The engine stops, or the step ended (its cluster did) while its process started.
		signalGroup(pid, syscall.SIGKILL)
	default:
		c.procs[st.ID] = cmd
		st.Pgid = pid // the command leads the group: its pid is the group's id
		c.putStepOrLog(cl, st)
		if st.State == sparkflow.StepRunning {
			c.emitStep(cl, st)
		}
		if st.Cancel {
			// Cancelled while its process started: as CancelStep does for a running one.
			signalGroup(pid, syscall.SIGTERM)
			c.timers = append(c.timers, time.AfterFunc(c.cfg.KillGrace, func() { signalGroup(pid, syscall.SIGKILL) }))
		}
	}
	c.mu.Unlock()
	err = cmd.Wait()
	unwatchGroup(pid)
	logErr := waitLogs(logs)
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
	case logErr != nil:
		c.endStep(cl, st, sparkflow.StepFailed, "the step's command succeeded but its output was lost: "+logErr.Error())
	default:
		c.endStep(cl, st, sparkflow.StepCompleted, "")
	}
	c.afterStep(cl)
}

// afterStep makes an idle cluster WAITING and starts what is pending. Called with mu held.
func (c *Clusters) afterStep(cl *cluster) {
	if cl.State == sparkflow.ClusterRunning && c.running(cl) == 0 && !c.hasPending(cl) {
		cl.State = sparkflow.ClusterWaiting
		cl.Reason = sparkflow.StateReason{Message: "Cluster ready after last step completed."}
		c.putClusterOrLog(cl)
		c.emitCluster(cl)
		c.armIdle(cl)
	}
	c.startPending(cl)
}

// spawn starts a step's process, its stdout and stderr going to pipes that stepLogs copy to its log
// files (called without mu: it reads only what does not change once the step is added).
func (c *Clusters) spawn(cl *cluster, st *step) (*exec.Cmd, []*stepLog, error) {
	var logs []*stepLog
	var ends []*os.File // the pipes' write ends, the process's own once it runs
	closeAll := func() {
		for _, w := range ends {
			w.Close()
		}
		for _, l := range logs {
			l.r.Close()
		}
	}
	for _, name := range []string{"stdout", "stderr"} {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("cannot make a pipe for its %s: %v", name, err)
		}
		logs = append(logs, &stepLog{c: c, dir: st.LogDir, name: name, r: r, done: make(chan struct{})})
		ends = append(ends, w)
	}
	cmd := stepCommand(st.path, st.Args)
	cmd.Dir = c.cfg.WorkDir
	cmd.Stdout, cmd.Stderr = ends[0], ends[1]
	cmd.Env = append(os.Environ(), "SPARKFLOW_CLUSTER_ID="+cl.ID, "SPARKFLOW_STEP_ID="+st.ID, "SPARKFLOW_STEP_NAME="+st.Name)
	if err := cmd.Start(); err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("cannot start %q: %v", st.Args[0], err)
	}
	watchGroup(cmd.Process.Pid, st.ID)
	for _, w := range ends {
		w.Close() // the process has its copies: a stream ends when the last of them closes
	}
	for _, l := range logs {
		go l.copy()
	}
	return cmd, logs, nil
}

// stepLog copies one of a step's output streams from its pipe to its log file, which it makes at
// the stream's first byte: a step that writes nothing (most writes to stderr, say) costs no file,
// and making files is what a burst of short steps spends most of its time on (about 1 ms a file or
// directory on a VM's ext4). Every byte the step wrote before its end is in the file when the step
// is reported ended (see wait); what the engine's death leaves in a pipe is lost with the step.
type stepLog struct {
	c         *Clusters
	dir, name string
	r         *os.File
	done      chan struct{} // closed at the stream's end (every process holding it closed it)
	err       error         // why the log file could not be written, read after done
}

// logGrace is how long a step's end waits for its streams to end, once its process has: a stream a
// background process the step started still holds is copied on after the step's end.
const logGrace = 2 * time.Second

func (l *stepLog) copy() {
	defer close(l.done)
	defer l.r.Close()
	buf := make([]byte, 32<<10)
	var f *os.File
	for {
		n, err := l.r.Read(buf)
		if n > 0 && l.err == nil {
			if f == nil {
				f, l.err = l.c.makeLog(l.dir, l.name)
			}
			if f != nil {
				if _, werr := f.Write(buf[:n]); werr != nil {
					l.err = fmt.Errorf("cannot write its %s log: %v", l.name, werr)
				}
			}
		}
		if err != nil {
			break // io.EOF: every holder of the stream closed it
		}
	}
	if f != nil {
		if err := f.Close(); err != nil && l.err == nil {
			l.err = fmt.Errorf("cannot write its %s log: %v", l.name, err)
		}
	}
}

// waitLogs waits (up to logGrace) for a step's streams to end, and returns why one could not be
// written, if so.
func waitLogs(logs []*stepLog) error {
	grace := time.NewTimer(logGrace)
	defer grace.Stop()
	var errs []error
	for _, l := range logs {
		select {
		case <-l.done:
			errs = append(errs, l.err)
		case <-grace.C:
			return errors.Join(errs...)
		}
	}
	return errors.Join(errs...)
}

// makeLog makes a step's log directory and one of its log files. Log files are made one at a time:
// every step's directory is made in its cluster's steps directory, and steps starting at once would
// contend for that directory's lock in the kernel (which spins, burning more CPU than the work).
func (c *Clusters) makeLog(dir, name string) (*os.File, error) {
	c.files.Lock()
	defer c.files.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create its log directory: %v", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot create its %s log: %v", name, err)
	}
	return f, nil
}

func (c *Clusters) hasPending(cl *cluster) bool {
	for _, st := range cl.pending {
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

// Drain stops starting pending steps (they start when the clusters are opened again) and reports how
// many steps are still running.
func (c *Clusters) Drain() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.draining = true
	return c.runningSteps()
}

// Running counts the steps running on every cluster.
func (c *Clusters) Running() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runningSteps()
}

func (c *Clusters) runningSteps() int {
	n := 0
	for _, cl := range c.state.Clusters {
		n += c.running(cl)
	}
	return n
}

// StepEnded reports whether a step has ended on its cluster (its events may not be handled yet).
func (c *Clusters) StepEnded(clusterID, stepID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl := c.state.Clusters[clusterID]
	if cl == nil {
		return false
	}
	st := cl.byID[stepID]
	return st != nil && st.State.Terminal()
}
