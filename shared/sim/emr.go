package sim

import (
	"context"
	"fmt"
	"time"

	"github.com/sparkflow/sparkflow/shared/emrevent"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// emr is EMR as the simulation plays it: clusters and steps whose states move when the scheduler
// picks their move, each move emitted as EMR's own event. It records every step added, which the
// "one step per attempt" check reads.
type emr struct {
	s        *Sim
	clusters map[string]*fcluster
	order    []string
	steps    int
	events   emrevent.Builder
}

type fcluster struct {
	id, name string
	state    sparkflow.ClusterState
	reason   sparkflow.StateReason
	slots    int
	steps    []*fstep
	busy     bool // RUNNING (a step runs) rather than WAITING
	readyAt  *time.Time
	// idle is the auto-termination policy's idle timeout it was launched with (0: none); quiet is when
	// it last had something to do (a step added or moving, or it became ready).
	idle  time.Duration
	quiet time.Time
}

type fstep struct {
	id, name string
	cluster  *fcluster
	state    sparkflow.StepState
	// completed is the schedule step at which EMR completed it (0: not completed).
	completed int
	// cancelAsked: CancelSteps named it.
	cancelAsked bool
}

var _ sparkflow.Clusters = (*emr)(nil)

func newEMR(s *Sim) *emr {
	return &emr{s: s, clusters: map[string]*fcluster{}, events: emrevent.Builder{Account: "123456789012", Region: "sim-1"}}
}

func (e *emr) Launch(ctx context.Context, spec sparkflow.LaunchSpec) (string, error) {
	return call(e.s, "emr.RunJobFlow "+spec.Pool.Name, true, func() (string, error) {
		id := fmt.Sprintf("j-SIM%02d", len(e.order)+1)
		slots := spec.Pool.StepConcurrency
		if slots == 0 {
			slots = 1
		}
		c := &fcluster{id: id, name: spec.Name, state: sparkflow.ClusterStarting, slots: slots}
		if !spec.Kept {
			c.idle = time.Duration(spec.Pool.IdleTimeoutSeconds) * time.Second
		}
		e.clusters[id] = c
		e.order = append(e.order, id)
		e.clusterEvent(c)
		return id, nil
	})
}

func (e *emr) Describe(ctx context.Context, id string) (sparkflow.ClusterInfo, error) {
	return call(e.s, "emr.DescribeCluster "+id, false, func() (sparkflow.ClusterInfo, error) {
		c, ok := e.clusters[id]
		if !ok {
			return sparkflow.ClusterInfo{}, sparkflow.Errorf(sparkflow.NotFound, "cluster %s not found", id)
		}
		return sparkflow.ClusterInfo{ID: id, Name: c.name, State: c.state, Reason: c.reason, NormalizedInstanceHours: 1, ReadyAt: c.readyAt}, nil
	})
}

func (e *emr) AddStep(ctx context.Context, id string, step sparkflow.StepSpec) (string, error) {
	return call(e.s, "emr.AddJobFlowSteps "+id, true, func() (string, error) {
		c, ok := e.clusters[id]
		if !ok {
			return "", sparkflow.Errorf(sparkflow.NotFound, "cluster %s not found", id)
		}
		if c.state.Ended() {
			return "", sparkflow.Errorf(sparkflow.Conflict, "a job flow that is shut down, terminated, or finished may not be modified (%s)", id)
		}
		e.steps++
		st := &fstep{id: fmt.Sprintf("s-SIM%03d", e.steps), name: step.Name, cluster: c, state: sparkflow.StepPending}
		c.steps = append(c.steps, st)
		c.quiet = e.s.now
		e.s.added = append(e.s.added, st)
		e.stepEvent(st, "")
		return st.id, nil
	})
}

func (e *emr) ListSteps(ctx context.Context, id string) ([]sparkflow.StepInfo, error) {
	return call(e.s, "emr.ListSteps "+id, false, func() ([]sparkflow.StepInfo, error) {
		c, ok := e.clusters[id]
		if !ok {
			return nil, sparkflow.Errorf(sparkflow.NotFound, "cluster %s not found", id)
		}
		out := make([]sparkflow.StepInfo, 0, len(c.steps))
		for i := len(c.steps) - 1; i >= 0; i-- { // newest first, as EMR lists them
			st := c.steps[i]
			out = append(out, sparkflow.StepInfo{ID: st.id, Name: st.name, State: st.state})
		}
		return out, nil
	})
}

func (e *emr) CancelStep(ctx context.Context, id, stepID string) error {
	_, err := call(e.s, "emr.CancelSteps "+stepID, true, func() (struct{}, error) {
		c, ok := e.clusters[id]
		if !ok {
			return struct{}{}, sparkflow.Errorf(sparkflow.NotFound, "cluster %s not found", id)
		}
		for _, st := range c.steps {
			if st.id != stepID {
				continue
			}
			st.cancelAsked = true
			switch st.state {
			case sparkflow.StepPending:
				e.setStep(st, sparkflow.StepCancelled, "cancelled by request")
			case sparkflow.StepRunning:
				e.setStep(st, sparkflow.StepCancelPending, "")
			}
		}
		return struct{}{}, nil
	})
	return err
}

func (e *emr) Terminate(ctx context.Context, id string) error {
	_, err := call(e.s, "emr.TerminateJobFlows "+id, true, func() (struct{}, error) {
		if c, ok := e.clusters[id]; ok && !c.state.Ended() {
			e.end(c, sparkflow.ClusterTerminated, sparkflow.StateReason{Code: "USER_REQUEST", Message: "Terminated by user request"})
		}
		return struct{}{}, nil
	})
	return err
}

// ---- EMR's own moves, which the scheduler picks ----

// move is one thing EMR can do now.
type move struct {
	what string
	do   func()
}

func (e *emr) moves(outcomes func() sparkflow.StepState, loseOK bool) []move {
	var out []move
	for _, id := range e.order {
		c := e.clusters[id]
		if c.state == sparkflow.ClusterStarting {
			out = append(out, move{"ready " + id, func() { e.setCluster(c, sparkflow.ClusterWaiting, sparkflow.StateReason{}) }})
		}
		if !c.state.Ready() {
			continue
		}
		if loseOK {
			out = append(out, move{"lose " + id, func() {
				e.end(c, sparkflow.ClusterTerminatedWithErrors, sparkflow.StateReason{Code: "INSTANCE_FAILURE", Message: "the primary node was lost"})
			}})
		}
		running, active := 0, 0
		for _, st := range c.steps {
			if st.state == sparkflow.StepRunning || st.state == sparkflow.StepCancelPending {
				running++
			}
			if !st.state.Terminal() {
				active++
			}
		}
		if c.idle > 0 && active == 0 && c.state == sparkflow.ClusterWaiting && e.s.now.Sub(c.quiet) >= c.idle {
			// The auto-termination policy: idle for its timeout, EMR ends it.
			out = append(out, move{"idle-end " + id, func() {
				e.end(c, sparkflow.ClusterTerminated, sparkflow.StateReason{Code: "ALL_STEPS_COMPLETED", Message: "Cluster terminated after being idle (auto-termination policy)"})
			}})
		}
		started := false
		for _, st := range c.steps {
			switch st.state {
			case sparkflow.StepPending:
				// EMR starts pending steps in order, up to the step concurrency.
				if running < c.slots && !started {
					started = true
					out = append(out, move{"start " + st.id, func() { e.setStep(st, sparkflow.StepRunning, "") }})
				}
			case sparkflow.StepRunning:
				out = append(out, move{"end " + st.id, func() {
					s := outcomes()
					msg := ""
					if s == sparkflow.StepFailed {
						msg = "the job failed (exit status 1)"
					}
					e.setStep(st, s, msg)
					e.s.stepEnded(st)
				}})
			case sparkflow.StepCancelPending:
				out = append(out, move{"cancelled " + st.id, func() { e.setStep(st, sparkflow.StepCancelled, "cancelled by request") }})
			}
		}
	}
	return out
}

// end ends a cluster: its steps that have not ended are cancelled (or interrupted, when they ran).
// Half the time EMR says nothing of those steps (no step events: only the cluster's tells).
func (e *emr) end(c *fcluster, state sparkflow.ClusterState, reason sparkflow.StateReason) {
	quiet := e.s.rng.IntN(2) == 0
	for _, st := range c.steps {
		next := sparkflow.StepState("")
		switch st.state {
		case sparkflow.StepPending:
			next = sparkflow.StepCancelled
		case sparkflow.StepRunning, sparkflow.StepCancelPending:
			next = sparkflow.StepInterrupted
		}
		switch {
		case next == "":
		case quiet:
			st.state = next
		default:
			e.setStep(st, next, "the cluster ended")
		}
	}
	c.busy = false
	e.setCluster(c, state, reason)
}

// interruptAll is what a restarted local engine's clusters do to the steps its death cut off.
func (e *emr) interruptAll() {
	for _, id := range e.order {
		for _, st := range e.clusters[id].steps {
			if st.state == sparkflow.StepRunning || st.state == sparkflow.StepCancelPending {
				e.setStep(st, sparkflow.StepInterrupted, "the local engine stopped while the step ran")
			}
		}
	}
}

func (e *emr) setStep(st *fstep, state sparkflow.StepState, msg string) {
	st.state = state
	st.cluster.quiet = e.s.now
	if state == sparkflow.StepCompleted {
		st.completed = e.s.step
	}
	e.stepEvent(st, msg)
	c := st.cluster
	if c.state.Ended() {
		return
	}
	busy := false
	for _, o := range c.steps {
		if o.state == sparkflow.StepRunning || o.state == sparkflow.StepCancelPending {
			busy = true
		}
	}
	if busy != c.busy {
		c.busy = busy
		next := sparkflow.ClusterWaiting
		if busy {
			next = sparkflow.ClusterRunning
		}
		e.setCluster(c, next, sparkflow.StateReason{})
	}
}

func (e *emr) setCluster(c *fcluster, state sparkflow.ClusterState, reason sparkflow.StateReason) {
	c.state, c.reason = state, reason
	if state.Ready() && c.readyAt == nil {
		t := e.s.now
		c.readyAt = &t
		c.quiet = t
	}
	e.clusterEvent(c)
}

func (e *emr) clusterEvent(c *fcluster) {
	raw, err := e.events.ClusterEvent(e.s.now, c.id, c.name, c.state, c.reason)
	if err != nil {
		panic(err)
	}
	e.s.emit(raw, "cluster "+c.id+" "+string(c.state))
}

func (e *emr) stepEvent(st *fstep, msg string) {
	raw, err := e.events.StepEvent(e.s.now, st.cluster.id, st.id, st.name, st.state, msg)
	if err != nil {
		panic(err)
	}
	e.s.emit(raw, "step "+st.id+" "+string(st.state))
}
