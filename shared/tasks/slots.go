package tasks

import (
	"context"
	"time"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// Grant is the output that resumes a workflow waiting for a slot.
type Grant struct {
	ClusterID string `json:"clusterId"`
}

// Reserve is the first task of an attempt (called with a task token): it gives the run a slot on
// the least-loaded ready cluster of its pool and resumes the workflow at once, or puts the run in its
// pool's FIFO, to be resumed by Dispatch when a slot frees or a cluster becomes ready. Runs are served
// in acceptance order: a run takes a free slot only if there are more free slots than runs ahead of it.
// Idempotent: a run that holds a slot already is resumed with it.
func (s *Service) Reserve(ctx context.Context, runID, token string, fence sparkflow.Fence) error {
	if done, err := s.reserveAtOnce(ctx, runID, token, fence); done || err != nil {
		return err
	}
	// No slot at first look. The token goes on the run before we look again: a Dispatch that grants us a slot from now
	// on resumes this token, and one that granted it before left the slot for the look below to find.
	// Only a newer invocation replaces it (a late duplicate must not make the live wait unreachable).
	// The run is WAITING from this write on (one write: the token and the status).
	r, err := s.mutateRun(ctx, runID, func(r *sparkflow.Run) (bool, error) {
		if err := mayWait(*r, fence); err != nil {
			return false, err
		}
		r.Token, r.Fence = token, fencePtr(fence)
		if r.Status == sparkflow.RunQueued {
			r.SetStatus(sparkflow.RunWaiting, s.now(), "waiting for a free slot in pool "+r.Pool)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	ctx = scope(ctx, r)
	var clusters []sparkflow.Cluster
	for try := 0; try < conflictRetries; try++ {
		// The run may take a free slot only if there are more free slots than runs ahead of it. The
		// FIFO is read before the clusters (a waiter served in between still counts as ahead, which
		// is safe), and only its head: as many waiters as there can be free slots.
		var ahead, free int
		now := s.now()
		clusters, ahead, free, err = s.lookAhead(ctx, r.Pool, runID, now)
		if err != nil {
			return err
		}
		if held := holder(clusters, runID); held != "" {
			// The run holds a slot: a Dispatch granted it, or the attempt before this one left it
			// (its Finish frees it in a moment). Reserve makes it this attempt's, atomically: the
			// ended attempt's release then leaves it alone.
			got, err := s.Store.Reserve(ctx, runID, r.Attempt, held)
			if sparkflow.IsCode(err, sparkflow.Conflict) {
				continue // freed meanwhile, and the cluster full: look again
			}
			if err != nil {
				return err
			}
			return s.grant(ctx, r.Pool, runID, got, token, r.Attempt)
		}
		if free <= ahead {
			break
		}
		c, _ := core.ChooseCluster(clusters, runID, now) // free > ahead ≥ 0: there is one
		got, err := s.Store.Reserve(ctx, runID, r.Attempt, c.ID)
		if sparkflow.IsCode(err, sparkflow.Conflict) {
			continue // someone took the slot first; look again
		}
		if err != nil {
			return err
		}
		return s.grant(ctx, r.Pool, runID, got, token, r.Attempt)
	}
	// No slot for us: wait in the FIFO, in acceptance order. Its place was taken when it was accepted
	// (Enqueue then writes nothing); this takes it should that have been cut off. (The place needs no
	// token: a grant resumes the token on the run.)
	if err := s.Store.Enqueue(ctx, sparkflow.Waiter{Pool: r.Pool, RunID: runID, Since: r.QueuedSince(), Priority: r.Priority}); err != nil {
		return err
	}
	s.Log.InfoContext(ctx, "waiting for a free slot")
	// A slot may have freed between the look and the enqueue: dispatch closes that gap.
	if err := s.Dispatch(ctx, r.Pool); err != nil {
		return err
	}
	// A pool whose clusters EMR ended for idleness, or an elastic pool below its maximum, launches
	// what the waiting runs need.
	heal := mayNeedLaunch(clusters)
	if !heal {
		p, err := s.Store.GetPool(ctx, r.Pool)
		if err != nil && !sparkflow.IsCode(err, sparkflow.NotFound) {
			return err
		}
		heal = err == nil && p.MinClusters != nil && live(clusters) < p.Clusters
	}
	if heal {
		if err := s.Heal(ctx, r.Pool); err != nil && !sparkflow.IsCode(err, sparkflow.NotFound) {
			return err
		}
	}
	return nil
}

// reserveAtOnce is Reserve's first look, made before its token is recorded: when the run holds a
// slot already or may take a free one, it takes it and records the token with the grant in one write
// (one run write fewer than recording the token first), and resumes the workflow. It reports false
// when the run must wait: Reserve then records the token and looks again, so that a Dispatch granting
// the run a slot between this look and that write (and resuming no live token) is caught by the look
// after it.
func (s *Service) reserveAtOnce(ctx context.Context, runID, token string, fence sparkflow.Fence) (bool, error) {
	r, err := s.Store.GetRun(ctx, runID)
	if err != nil {
		return true, err
	}
	if err := mayWait(r, fence); err != nil {
		return true, err
	}
	ctx = scope(ctx, r)
	now := s.now()
	var cluster string
	if r.ReservedAt != nil && r.ClusterID != "" {
		// Granted already, when it was accepted or by a Dispatch before this Reserve ran (which took
		// it out of the FIFO): the store confirms the slot (Reserve finds it held for this attempt),
		// nothing is written, and this invocation resumes its own token.
		got, err := s.Store.Reserve(ctx, runID, r.Attempt, r.ClusterID)
		if err == nil && got == r.ClusterID {
			s.Log.InfoContext(ctx, "slot granted", "cluster_id", got)
			return true, s.resume(ctx, token, Grant{ClusterID: got})
		}
		if err != nil && !sparkflow.IsCode(err, sparkflow.Conflict) {
			return true, err
		}
		cluster = r.ClusterID
	} else {
		clusters, ahead, free, err := s.lookAhead(ctx, r.Pool, runID, now)
		if err != nil {
			return true, err
		}
		cluster = holder(clusters, runID)
		if cluster == "" {
			if free <= ahead {
				return false, nil
			}
			c, _ := core.ChooseCluster(clusters, runID, now) // free > ahead ≥ 0: there is one
			cluster = c.ID
		}
	}
	got, err := s.Store.Reserve(ctx, runID, r.Attempt, cluster)
	if sparkflow.IsCode(err, sparkflow.Conflict) {
		return false, nil // taken first, or freed meanwhile and the cluster full: Reserve looks again
	}
	if err != nil {
		return true, err
	}
	if _, err := s.Store.RemoveWaiter(ctx, r.Pool, runID); err != nil {
		return true, err
	}
	ended := false
	out, err := s.mutateRun(ctx, runID, func(x *sparkflow.Run) (bool, error) {
		ended = false
		if err := mayWait(*x, fence); err != nil {
			ended = x.Status.Terminal() || x.CancelRequested
			return false, err
		}
		if x.Attempt != r.Attempt {
			return false, sparkflow.Errorf(sparkflow.Conflict, "run %s went on to attempt %d while attempt %d reserved a slot", runID, x.Attempt, r.Attempt)
		}
		if x.ClusterID == got && x.ReservedAt != nil {
			// The grant is recorded: this invocation resumes its own token at once, and no one else
			// resumes it, so it need not be written.
			return false, nil
		}
		x.Token, x.Fence = token, fencePtr(fence)
		applyGrant(x, got, s.now())
		return true, nil
	})
	if err != nil {
		if ended {
			// It ended, or its cancel was asked, while the slot was being taken: the slot goes back.
			if rerr := s.Store.Release(ctx, runID, r.Attempt, got, s.now()); rerr != nil {
				return true, rerr
			}
			if derr := s.Dispatch(ctx, r.Pool); derr != nil {
				return true, derr
			}
		}
		// Otherwise a newer invocation or attempt took over: the slot is the run's for its Reserve.
		return true, err
	}
	s.Log.InfoContext(scope(ctx, out), "slot granted", "cluster_id", got)
	return true, s.resume(ctx, token, Grant{ClusterID: got})
}

// live counts the clusters that have not ended.
func live(clusters []sparkflow.Cluster) int {
	n := 0
	for _, c := range clusters {
		if !c.State.Ended() {
			n++
		}
	}
	return n
}

// lookAhead returns the pool's clusters, how many waiters are ahead of run and the free slots. It
// reads the clusters first: with no slot free, the run is to wait whatever the FIFO holds (a slot
// freed after this look is given by the Dispatch that follows its enqueue), and the FIFO is not read,
// which is the common case under load. Otherwise it reads the head of the FIFO, then the clusters
// again (a waiter served in between still counts as ahead, which is safe): the head as long as the
// free slots (more waiters than that and the run waits), read again longer in the rare case that
// more slots were freed meanwhile and the answer depends on it.
func (s *Service) lookAhead(ctx context.Context, pool, runID string, now time.Time) ([]sparkflow.Cluster, int, int, error) {
	clusters, err := s.Store.ListClusters(ctx, pool)
	if err != nil {
		return nil, 0, 0, err
	}
	limit := core.FreeSlots(clusters, now)
	if limit == 0 {
		return clusters, 0, 0, nil
	}
	for {
		head, err := s.Store.Waiters(ctx, pool, limit)
		if err != nil {
			return nil, 0, 0, err
		}
		clusters, err := s.Store.ListClusters(ctx, pool)
		if err != nil {
			return nil, 0, 0, err
		}
		ahead, found := len(head), false
		for i, w := range head {
			if w.RunID == runID {
				ahead, found = i, true
				break
			}
		}
		free := core.FreeSlots(clusters, now)
		if found || len(head) < limit || free <= ahead {
			return clusters, ahead, free, nil
		}
		limit = free
	}
}

// mayWait refuses a waiting task's invocation (Hold, Reserve) for a run that has ended or is being
// cancelled, or one a newer invocation superseded: it must not record its token.
func mayWait(r sparkflow.Run, fence sparkflow.Fence) error {
	if r.Status.Terminal() || r.CancelRequested {
		return sparkflow.Errorf(sparkflow.Conflict, "run %s is %s%s", r.ID, r.Status, map[bool]string{true: " (cancel requested)"}[r.CancelRequested])
	}
	return superseded(r, fence)
}

func fencePtr(f sparkflow.Fence) *sparkflow.Fence {
	if f.Attempt == 0 {
		return nil
	}
	return &f
}

// mayNeedLaunch says whether a pool with these clusters might launch one for a waiting run: it has
// no cluster that is ready or starting, or some cluster has ended (Heal decides).
func mayNeedLaunch(clusters []sparkflow.Cluster) bool {
	live := 0
	for _, c := range clusters {
		if c.State.Ended() {
			return true
		}
		live++
	}
	return live == 0
}

func holder(clusters []sparkflow.Cluster, runID string) string {
	for _, c := range clusters {
		if c.Holds(runID) {
			return c.ID
		}
	}
	return ""
}

// grant records that run holds a slot on cluster and resumes its workflow. The caller that writes
// the grant resumes the token the run holds at that moment (none when its workflow has not reached
// Reserve yet: Reserve then finds the slot); a Reserve that finds its slot granted already resumes its
// own token (own). No one else resumes: by then the run's token may be Submit's.
//
// attempt is the attempt the slot was taken for: a grant that finds the run gone on to a later one (a
// late invocation) writes nothing and resumes nothing; the run's reservation stays for its current
// attempt's Reserve to find.
func (s *Service) grant(ctx context.Context, pool, runID, clusterID, own string, attempt int) error {
	if _, err := s.Store.RemoveWaiter(ctx, pool, runID); err != nil {
		return err
	}
	return s.grantRemoved(ctx, pool, runID, clusterID, own, attempt)
}

// grantRemoved is grant of a run its caller has taken out of the FIFO already (Dispatch, which won
// it).
func (s *Service) grantRemoved(ctx context.Context, pool, runID, clusterID, own string, attempt int) error {
	wrote, ended, stale := false, false, false
	r, err := s.mutateRun(ctx, runID, func(r *sparkflow.Run) (bool, error) {
		if r.Status.Terminal() {
			// It ended (cancelled, say) while the slot was being taken for it: the slot goes back.
			wrote, ended, stale = false, true, false
			return false, nil
		}
		ended, stale = false, r.Attempt != attempt
		if stale {
			wrote = false
			return false, nil
		}
		wrote = applyGrant(r, clusterID, s.now())
		return wrote, nil
	})
	if err != nil {
		return err
	}
	ctx = scope(ctx, r)
	if stale {
		s.Log.InfoContext(ctx, "slot taken for an attempt that has ended: left to the run's current attempt", "cluster_id", clusterID, "slot_attempt", attempt)
		return nil
	}
	if ended {
		s.Log.InfoContext(ctx, "slot of an ended run given back", "cluster_id", clusterID)
		if err := s.Store.Release(ctx, runID, 0, clusterID, s.now()); err != nil {
			return err
		}
		return s.Dispatch(ctx, pool)
	}
	token := own
	if wrote {
		token = r.Token
		s.Log.InfoContext(ctx, "slot granted", "cluster_id", clusterID)
	}
	return s.resume(ctx, token, Grant{ClusterID: clusterID})
}

// applyGrant records on r that it holds a slot on clusterID (false: it is recorded already).
func applyGrant(r *sparkflow.Run, clusterID string, now time.Time) bool {
	if r.ClusterID == clusterID && r.ReservedAt != nil {
		return false
	}
	r.ClusterID, r.ReservedAt = clusterID, &now
	if r.Status == sparkflow.RunQueued {
		r.SetStatus(sparkflow.RunWaiting, now, "")
	}
	r.History = append(r.History, sparkflow.Transition{Status: r.Status, Attempt: r.Attempt, At: now, Note: "slot on " + clusterID, Event: sparkflow.EventReserved, Cluster: clusterID})
	return true
}

// release frees the slot the run holds and dispatches the pool. A run that has ended leaves the FIFO;
// one that goes on to its next attempt takes its place there again (in acceptance order), once the
// ended attempt's slot is freed: a Dispatch between the two would otherwise grant the old slot, about
// to go, to the new attempt. Only the ended attempt's slot is freed: the new attempt's Reserve may
// have taken it over already (store.Reserve), and then it stays.
func (s *Service) release(ctx context.Context, r sparkflow.Run) error {
	ended := 0 // an ended run: its slot, whatever attempt it was taken for
	if !r.Status.Terminal() {
		ended = r.Attempt - 1
	}
	held, _, err := s.Store.Held(ctx, r.ID)
	if err != nil {
		return err
	}
	if held != "" {
		if err := s.Store.Release(ctx, r.ID, ended, held, s.now()); err != nil {
			return err
		}
	}
	return s.released(ctx, r)
}

// released is release once the run's slot is freed: an ended run leaves the FIFO, one that goes on
// takes its place again, and the pool is dispatched.
func (s *Service) released(ctx context.Context, r sparkflow.Run) error {
	if r.Status.Terminal() {
		if _, err := s.Store.RemoveWaiter(ctx, r.Pool, r.ID); err != nil {
			return err
		}
	} else if err := s.Store.Enqueue(ctx, sparkflow.Waiter{Pool: r.Pool, RunID: r.ID, Since: r.QueuedSince(), Priority: r.Priority}); err != nil {
		return err
	}
	if err := s.Dispatch(ctx, r.Pool); err != nil {
		return err
	}
	return s.afterEnd(ctx, r)
}
