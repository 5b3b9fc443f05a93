package localcluster

import (
	"context"
	"syscall"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

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
	if !spec.Kept {
		cl.IdleTimeout = time.Duration(spec.Pool.IdleTimeoutSeconds) * time.Second
	}
	cl.byID = map[string]*step{}
	if err := c.putCluster(cl); err != nil {
		return "", err
	}
	c.state.Clusters[cl.ID] = cl
	c.emitCluster(cl)
	if codes := c.startFailures[spec.Pool.Name]; len(codes) > 0 {
		c.startFailures[spec.Pool.Name] = codes[1:]
		c.scheduleStartFailure(cl.ID, codes[0])
	} else {
		c.scheduleReady(cl.ID)
	}
	c.cfg.Log.Info("local cluster starting", "cluster_id", cl.ID, "name", cl.Name)
	return cl.ID, nil
}

// FailStarts makes the next launches of a pool fail to start, one per reason code (EMR's
// VALIDATION_ERROR, BOOTSTRAP_FAILURE, INSTANCE_FLEET_TIMEOUT, ...), for tests and demos.
func (c *Clusters) FailStarts(pool string, codes ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.startFailures == nil {
		c.startFailures = map[string][]string{}
	}
	c.startFailures[pool] = append(c.startFailures[pool], codes...)
}

func (c *Clusters) scheduleStartFailure(id, code string) {
	c.timers = append(c.timers, time.AfterFunc(c.cfg.ProvisionDelay, func() {
		c.end(id, sparkflow.StateReason{Code: code, Message: "simulated start failure of local cluster (" + code + ")"})
	}))
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
		c.putClusterOrLog(cl)
		c.emitCluster(cl)
		c.startPending(cl)
		c.armIdle(cl)
	}))
}

// idleReason is how EMR's auto-termination policy ends an idle cluster.
var idleReason = sparkflow.StateReason{Code: "ALL_STEPS_COMPLETED", Message: "Cluster terminated after being idle (auto-termination policy)"}

// armIdle starts the idle timeout of a cluster that waits with nothing to do (called with mu held):
// unless a step is added first, the cluster ends as EMR ends an idle one.
func (c *Clusters) armIdle(cl *cluster) {
	if cl.IdleTimeout <= 0 || cl.State != sparkflow.ClusterWaiting || cl.nrunning > 0 || len(cl.pending) > 0 {
		return
	}
	if cl.idle != nil {
		cl.idle.Stop()
	}
	busy := cl.busy
	cl.idle = time.AfterFunc(cl.IdleTimeout, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed || cl.busy != busy || cl.State != sparkflow.ClusterWaiting || cl.nrunning > 0 || len(cl.pending) > 0 {
			return
		}
		c.cfg.Log.Info("local cluster idle: ending it (auto-termination)", "cluster_id", cl.ID, "idle_timeout", cl.IdleTimeout)
		c.endLocked(cl, idleReason)
	})
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
	info := sparkflow.ClusterInfo{ID: cl.ID, Name: cl.Name, State: cl.State, Reason: cl.Reason, NormalizedInstanceHours: c.hours(cl)}
	if !cl.ReadyAt.IsZero() {
		t := cl.ReadyAt
		info.ReadyAt = &t
	}
	return info, nil
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

// EndIdle ends a cluster as EMR's auto-termination policy ends an idle one: TERMINATED,
// ALL_STEPS_COMPLETED (for tests and demos).
func (c *Clusters) EndIdle(id string) error {
	return c.end(id, idleReason)
}

func (c *Clusters) end(id string, reason sparkflow.StateReason) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, err := c.get(id)
	if err != nil {
		return err
	}
	c.endLocked(cl, reason)
	return nil
}

// endLocked ends a cluster (called with mu held).
func (c *Clusters) endLocked(cl *cluster, reason sparkflow.StateReason) {
	if cl.State.Ended() {
		return
	}
	if cl.idle != nil {
		cl.idle.Stop()
	}
	cl.State, cl.Reason = sparkflow.ClusterTerminating, reason
	c.putClusterOrLog(cl)
	c.emitCluster(cl)
	c.terminated(cl, reason)
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
	c.putClusterOrLog(cl)
	c.emitCluster(cl)
}
