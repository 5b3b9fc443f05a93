package tasks

import (
	"context"
	"sync"

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
	// The token goes on the run before we look for a slot: a Dispatch that grants us a slot from now
	// on resumes this token, and one that granted it before left the slot for the look below to find.
	// Only a newer invocation replaces it (a late duplicate must not make the live wait unreachable).
	r, err := s.mutateRun(ctx, runID, func(r *sparkflow.Run) (bool, error) {
		if err := mayWait(*r, fence); err != nil {
			return false, err
		}
		r.Token, r.Fence = token, fencePtr(fence)
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
		clusters, ahead, free, err = s.lookAhead(ctx, r.Pool, runID)
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
		c, _ := core.ChooseCluster(clusters, runID)
		got, err := s.Store.Reserve(ctx, runID, r.Attempt, c.ID)
		if sparkflow.IsCode(err, sparkflow.Conflict) {
			continue // someone took the slot first; look again
		}
		if err != nil {
			return err
		}
		return s.grant(ctx, r.Pool, runID, got, token, r.Attempt)
	}
	// No slot for us: wait in the FIFO, in acceptance order.
	if err := s.Store.Enqueue(ctx, sparkflow.Waiter{Pool: r.Pool, RunID: runID, Token: token, Since: r.QueuedSince(), Priority: r.Priority}); err != nil {
		return err
	}
	if _, err := s.mutateRun(ctx, runID, func(r *sparkflow.Run) (bool, error) {
		if r.Status != sparkflow.RunQueued {
			return false, nil
		}
		r.SetStatus(sparkflow.RunWaiting, s.now(), "waiting for a free slot in pool "+r.Pool)
		return true, nil
	}); err != nil {
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

// lookAhead reads the head of the pool's FIFO, then its clusters: it returns the clusters, how many
// waiters are ahead of run (all of the head read when run is not in it) and the free slots. The head
// read is as long as the pool's capacity was when last seen, and read again longer in the rare case
// that the capacity grew past it and the answer depends on it.
func (s *Service) lookAhead(ctx context.Context, pool, runID string) ([]sparkflow.Cluster, int, int, error) {
	limit := s.headHint(pool)
	for {
		head, err := s.Store.Waiters(ctx, pool, limit)
		if err != nil {
			return nil, 0, 0, err
		}
		clusters, err := s.Store.ListClusters(ctx, pool)
		if err != nil {
			return nil, 0, 0, err
		}
		capacity := 0
		for _, c := range core.Eligible(clusters) {
			capacity += c.Capacity
		}
		s.setHeadHint(pool, capacity)
		ahead, found := len(head), false
		for i, w := range head {
			if w.RunID == runID {
				ahead, found = i, true
				break
			}
		}
		free := core.FreeSlots(clusters)
		if found || len(head) < limit || free <= ahead {
			return clusters, ahead, free, nil
		}
		limit = free
	}
}

// headHint is how long a read of pool's FIFO head must be to decide a Reserve: the pool's capacity
// as last seen (64 before it is known).
func (s *Service) headHint(pool string) int {
	if s.heads == nil {
		return 64
	}
	if v, ok := s.heads.Load(pool); ok {
		return max(v.(int), 1)
	}
	return 64
}

func (s *Service) setHeadHint(pool string, capacity int) {
	if s.heads != nil {
		s.heads.Store(pool, capacity)
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
		if r.ClusterID == clusterID && r.ReservedAt != nil {
			wrote = false
			return false, nil
		}
		wrote = true
		now := s.now()
		r.ClusterID, r.ReservedAt = clusterID, &now
		if r.Status == sparkflow.RunQueued {
			r.SetStatus(sparkflow.RunWaiting, now, "")
		}
		r.History = append(r.History, sparkflow.Transition{Status: r.Status, Attempt: r.Attempt, At: now, Note: "slot on " + clusterID, Event: sparkflow.EventReserved, Cluster: clusterID})
		return true, nil
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
		if err := s.Store.Release(ctx, runID, 0, clusterID); err != nil {
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

// Dispatch hands free slots of a pool to its waiting runs, oldest first. Safe to call at any time and
// from several places at once: each waiter is won by one caller only. A waiter whose workflow has not
// reached Reserve yet (no token) gets its slot held; Reserve then finds it and goes on at once.
//
// It is incremental: it reads the pool's clusters once and the FIFO's head a page at a time (never
// more waiters than there are free slots), and grants at most one waiter per free slot; only a lost
// race for a slot makes it read the clusters again.
func (s *Service) Dispatch(ctx context.Context, pool string) error {
	if s.SerialDispatch {
		return s.serialDispatch(ctx, pool)
	}
	return s.dispatch(ctx, pool)
}

// dispatchTurn serializes one process's dispatches of a pool (SerialDispatch): requests counts the
// Dispatch calls, served the latest one a completed pass is known to cover.
type dispatchTurn struct {
	run              sync.Mutex
	mu               sync.Mutex
	requests, served uint64
}

// passKey marks the context of a pool's dispatch pass.
type passKey struct{ pool string }

// serialDispatch runs one pass at a time per pool, and none for a caller whose request a pass that
// began after it has covered already: under a burst, the Finish of every run asks for a dispatch, and
// a few passes serve them all instead of each racing the others for the same waiters. A pass that
// fails covers nothing, so a request is never lost.
func (s *Service) serialDispatch(ctx context.Context, pool string) error {
	if ctx.Value(passKey{pool}) != nil {
		// Asked from inside this pool's pass (a grant whose run had ended gives its slot back and
		// dispatches): the pass holds the turn, so this one runs nested, without it.
		return s.dispatch(ctx, pool)
	}
	ctx = context.WithValue(ctx, passKey{pool}, true)
	v, _ := s.turns.LoadOrStore(pool, &dispatchTurn{})
	t := v.(*dispatchTurn)
	t.mu.Lock()
	t.requests++
	mine := t.requests
	t.mu.Unlock()
	t.run.Lock()
	defer t.run.Unlock()
	t.mu.Lock()
	if t.served >= mine {
		t.mu.Unlock()
		return nil
	}
	upto := t.requests // a pass that begins now sees every change made before these requests
	t.mu.Unlock()
	if err := s.dispatch(ctx, pool); err != nil {
		return err
	}
	t.mu.Lock()
	t.served = max(t.served, upto)
	t.mu.Unlock()
	return nil
}

func (s *Service) dispatch(ctx context.Context, pool string) error {
	clusters, err := s.Store.ListClusters(ctx, pool)
	if err != nil {
		return err
	}
	for relists := 0; ; {
		free := core.FreeSlots(clusters)
		if free == 0 {
			return nil // the next release or ready cluster dispatches again
		}
		waiters, err := s.Store.Waiters(ctx, pool, min(free, dispatchPage))
		if err != nil || len(waiters) == 0 {
			return err
		}
		if s.SerialDispatch {
			// One pass at a time in this process: the page's grants are planned on the clusters as
			// read and made at once, each its own chain of store calls, instead of one after another.
			var relist bool
			if clusters, relist, err = s.grantPage(ctx, pool, clusters, waiters); err != nil {
				return err
			}
			if relist {
				if relists++; relists > dispatchRelists {
					return nil
				}
				if clusters, err = s.Store.ListClusters(ctx, pool); err != nil {
					return err
				}
			}
			continue
		}
		relist := false
		for _, w := range waiters {
			r, err := s.Store.GetRun(ctx, w.RunID)
			if sparkflow.IsCode(err, sparkflow.NotFound) || (err == nil && r.Status.Terminal()) {
				if _, err := s.Store.RemoveWaiter(ctx, pool, w.RunID); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			c, ok := core.ChooseCluster(clusters, w.RunID)
			if !ok {
				return nil
			}
			got, err := s.Store.Reserve(ctx, w.RunID, r.Attempt, c.ID)
			if sparkflow.IsCode(err, sparkflow.Conflict) {
				relist = true // someone else took it; look again with fresh counts
				break
			}
			if err != nil {
				return err
			}
			if got == c.ID {
				clusters = withReservation(clusters, c.ID, w.RunID)
			} else {
				relist = true // it held a slot elsewhere already
			}
			won, err := s.Store.RemoveWaiter(ctx, pool, w.RunID)
			if err != nil {
				return err
			}
			if won {
				if err := s.grantRemoved(ctx, pool, w.RunID, got, "", r.Attempt); err != nil {
					return err
				}
			}
			if relist {
				break
			}
		}
		if relist {
			if relists++; relists > dispatchRelists {
				// Others are dispatching this pool too and keep winning: they carry on from here.
				return nil
			}
			if clusters, err = s.Store.ListClusters(ctx, pool); err != nil {
				return err
			}
		}
	}
}

// grantPage plans a slot for each waiter of the page in FIFO order (the least-loaded cluster, counting
// the page's earlier picks) and grants them concurrently. It returns the clusters with the grants made,
// and relist when the plan met a change (a slot taken by someone else, a waiter that had ended or held
// a slot already): the caller reads the clusters again.
func (s *Service) grantPage(ctx context.Context, pool string, clusters []sparkflow.Cluster, waiters []sparkflow.Waiter) ([]sparkflow.Cluster, bool, error) {
	type pick struct {
		w       sparkflow.Waiter
		cluster string
	}
	var picks []pick
	plan := clusters
	for _, w := range waiters {
		c, ok := core.ChooseCluster(plan, w.RunID)
		if !ok {
			break
		}
		picks = append(picks, pick{w, c.ID})
		plan = withReservation(plan, c.ID, w.RunID)
	}
	if len(picks) == 0 {
		return clusters, false, nil
	}
	changed := make([]bool, len(picks))
	errs := make([]error, len(picks))
	var wg sync.WaitGroup
	for i, p := range picks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			changed[i], errs[i] = s.grantPick(ctx, pool, p.w, p.cluster)
		}()
	}
	wg.Wait()
	relist := false
	for i := range picks {
		if errs[i] != nil {
			return clusters, false, errs[i]
		}
		relist = relist || changed[i]
	}
	return plan, relist, nil
}

// grantPick gives waiter w the slot planned for it on cluster. changed: the plan did not hold (w had
// ended or held a slot elsewhere, or the slot was taken).
func (s *Service) grantPick(ctx context.Context, pool string, w sparkflow.Waiter, cluster string) (bool, error) {
	r, err := s.Store.GetRun(ctx, w.RunID)
	if sparkflow.IsCode(err, sparkflow.NotFound) || (err == nil && r.Status.Terminal()) {
		_, err := s.Store.RemoveWaiter(ctx, pool, w.RunID)
		return true, err
	}
	if err != nil {
		return false, err
	}
	got, err := s.Store.Reserve(ctx, w.RunID, r.Attempt, cluster)
	if sparkflow.IsCode(err, sparkflow.Conflict) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	won, err := s.Store.RemoveWaiter(ctx, pool, w.RunID)
	if err != nil {
		return false, err
	}
	if won {
		if err := s.grantRemoved(ctx, pool, w.RunID, got, "", r.Attempt); err != nil {
			return false, err
		}
	}
	return got != cluster, nil
}

// dispatchPage is the most waiters one read of the FIFO's head returns; dispatchRelists bounds how
// often a Dispatch that loses races reads the clusters again.
const (
	dispatchPage    = 64
	dispatchRelists = 64
)

// withReservation is clusters with run's slot on cluster id added (the copy Dispatch goes on with).
func withReservation(clusters []sparkflow.Cluster, id, runID string) []sparkflow.Cluster {
	out := make([]sparkflow.Cluster, len(clusters))
	copy(out, clusters)
	for i := range out {
		if out[i].ID == id {
			out[i].Reservations = append(append([]string(nil), out[i].Reservations...), runID)
		}
	}
	return out
}

// release frees the slot the run holds and dispatches the pool. A run that has ended leaves the FIFO;
// one that goes on to its next attempt takes its place there again (in acceptance order), once the
// ended attempt's slot is freed: a Dispatch between the two would otherwise grant the old slot, about
// to go, to the new attempt. Only the ended attempt's slot is freed: the new attempt's Reserve may
// have taken it over already (store.Reserve), and then it stays.
func (s *Service) release(ctx context.Context, r sparkflow.Run) error {
	clusters, err := s.Store.ListClusters(ctx, r.Pool)
	if err != nil {
		return err
	}
	ended := 0 // an ended run: its slot, whatever attempt it was taken for
	if !r.Status.Terminal() {
		ended = r.Attempt - 1
	}
	if held := holder(clusters, r.ID); held != "" {
		if err := s.Store.Release(ctx, r.ID, ended, held); err != nil {
			return err
		}
	}
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
