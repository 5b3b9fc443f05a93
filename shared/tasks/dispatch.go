package tasks

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/logs"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

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
// Dispatch calls, served the latest one a completed pass is known to cover, and running says that a
// pool's passes are under way (in the background).
type dispatchTurn struct {
	mu               sync.Mutex
	requests, served uint64
	running          bool
}

// passKey marks the context of a pool's dispatch pass.
type passKey struct{ pool string }

// dispatchRetries is how often a pool's background passes try again after failing (each after
// dispatchBackoff × the tries so far) before they leave the requests to the next Dispatch (the
// reconciler's, at the latest).
const (
	dispatchRetries = 5
	dispatchBackoff = 50 * time.Millisecond
)

// serialDispatch asks for a pass over the pool and returns: the passes run in the background, one at
// a time per pool, and each covers every request made before it began. Under a burst, the end of
// every run asks for a dispatch; a few passes serve them all, instead of each racing the others for
// the same waiters, and no caller (the handler of a step's end, on one of the event bus's lanes)
// waits for the pool's turn. A pass that fails covers nothing: it is tried again, and a request left
// uncovered is covered by the next Dispatch, so none is lost.
func (s *Service) serialDispatch(ctx context.Context, pool string) error {
	if ctx.Value(passKey{pool}) != nil {
		// Asked from inside this pool's pass (a grant whose run had ended gives its slot back and
		// dispatches): the pass is running, so this one runs nested, in it.
		return s.dispatch(ctx, pool)
	}
	v, _ := s.turns.LoadOrStore(pool, &dispatchTurn{})
	t := v.(*dispatchTurn)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.requests++
	if t.running {
		return nil // the passes under way cover it: the next begins after this request
	}
	t.running = true
	s.background.Add(1)
	go s.dispatchPasses(pool, t)
	return nil
}

// dispatchPasses runs a pool's passes while requests are uncovered.
func (s *Service) dispatchPasses(pool string, t *dispatchTurn) {
	defer s.background.Done()
	base := s.Background
	if base == nil {
		base = context.Background()
	}
	ctx := context.WithValue(logs.With(base, "pool", pool), passKey{pool}, true)
	for failures := 0; ; {
		t.mu.Lock()
		if t.served >= t.requests || ctx.Err() != nil || failures > dispatchRetries {
			t.running = false
			t.mu.Unlock()
			return
		}
		upto := t.requests // a pass that begins now sees every change made before these requests
		t.mu.Unlock()
		if err := s.dispatch(ctx, pool); err != nil {
			if ctx.Err() == nil {
				s.Log.WarnContext(ctx, "dispatch failed; trying again", "err", err, "tries", failures+1)
			}
			failures++
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(failures) * dispatchBackoff):
			}
			continue
		}
		failures = 0
		t.mu.Lock()
		t.served = max(t.served, upto)
		t.mu.Unlock()
	}
}

// WaitBackground waits for the background work of SerialDispatch (once Background is cancelled,
// it ends at once).
func (s *Service) WaitBackground() { s.background.Wait() }

func (s *Service) dispatch(ctx context.Context, pool string) error {
	clusters, err := s.Store.ListClusters(ctx, pool)
	if err != nil {
		return err
	}
	for relists := 0; ; {
		now := s.now()
		free := core.FreeSlots(clusters, now)
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
			if clusters, relist, err = s.grantPage(ctx, pool, clusters, waiters, now); err != nil {
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
			c, ok := core.ChooseCluster(clusters, w.RunID, now)
			if !ok {
				return nil
			}
			used, changed, err := s.grantPick(ctx, pool, w, c.ID)
			if err != nil {
				return err
			}
			if used {
				clusters = withReservation(clusters, c.ID, w.RunID)
			}
			if changed {
				relist = true // someone else took the slot, or the run held one elsewhere: look again
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
func (s *Service) grantPage(ctx context.Context, pool string, clusters []sparkflow.Cluster, waiters []sparkflow.Waiter, now time.Time) ([]sparkflow.Cluster, bool, error) {
	type pick struct {
		w       sparkflow.Waiter
		cluster string
	}
	var picks []pick
	plan := clusters
	for _, w := range waiters {
		c, ok := core.ChooseCluster(plan, w.RunID, now)
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
			var used bool
			used, changed[i], errs[i] = s.grantPick(ctx, pool, p.w, p.cluster)
			changed[i] = changed[i] || !used // a waiter that had ended leaves its planned slot free
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

// grantPick gives waiter w the slot planned for it on cluster: the grant is written with the slot
// taken (one write), the run leaves the FIFO, and the writer of the grant resumes the token it wrote
// it over (the run's Reserve's, or none when its workflow has not reached Reserve yet: Reserve then
// finds the grant). used: the slot went to w as planned; changed: the plan did not hold (the slot was
// taken by someone else, or w held a slot already), and the caller reads the clusters again.
func (s *Service) grantPick(ctx context.Context, pool string, w sparkflow.Waiter, cluster string) (used, changed bool, err error) {
	wrote, gone := false, false
	out, err := s.mutateRunSlot(ctx, w.RunID, func(r *sparkflow.Run) (bool, sparkflow.SlotChange, error) {
		wrote, gone = false, r.Status.Terminal()
		if gone || (r.ReservedAt != nil && r.ClusterID != "") {
			return false, sparkflow.SlotChange{}, nil
		}
		applyGrant(r, cluster, s.now())
		wrote = true
		return true, sparkflow.SlotChange{Take: cluster}, nil
	})
	switch {
	case sparkflow.IsCode(err, sparkflow.NotFound) || (err == nil && gone):
		_, err := s.Store.RemoveWaiter(ctx, pool, w.RunID)
		return false, false, err
	case errors.Is(err, sparkflow.ErrNoSlot):
		return false, true, nil
	case errors.Is(err, sparkflow.ErrHeld) || (err == nil && !wrote):
		// It holds a slot already (one its ended attempt left, or one granted meanwhile): taken over
		// for its attempt by Reserve, and granted the way a Reserve's look grants it.
		return s.grantHeld(ctx, pool, w, cluster)
	case err != nil:
		return false, false, err
	}
	if _, err := s.Store.RemoveWaiter(ctx, pool, w.RunID); err != nil {
		return true, false, err
	}
	ctx = scope(ctx, out)
	s.Log.InfoContext(ctx, "slot granted", "cluster_id", cluster)
	return true, false, s.resume(ctx, out.Token, Grant{ClusterID: cluster})
}

// grantHeld grants waiter w the slot it holds already (or takes one of cluster for it): the store's
// Reserve makes a slot its ended attempt left this attempt's, and the dispatcher that wins its FIFO
// place records the grant and resumes it (grantRemoved).
func (s *Service) grantHeld(ctx context.Context, pool string, w sparkflow.Waiter, cluster string) (used, changed bool, err error) {
	r, err := s.Store.GetRun(ctx, w.RunID)
	if sparkflow.IsCode(err, sparkflow.NotFound) || (err == nil && r.Status.Terminal()) {
		_, err := s.Store.RemoveWaiter(ctx, pool, w.RunID)
		return false, false, err
	}
	if err != nil {
		return false, false, err
	}
	got, err := s.Store.Reserve(ctx, w.RunID, r.Attempt, cluster)
	if sparkflow.IsCode(err, sparkflow.Conflict) {
		return false, true, nil
	}
	if err != nil {
		return false, false, err
	}
	won, err := s.Store.RemoveWaiter(ctx, pool, w.RunID)
	if err != nil {
		return false, false, err
	}
	if won {
		if err := s.grantRemoved(ctx, pool, w.RunID, got, "", r.Attempt); err != nil {
			return false, false, err
		}
	}
	return got == cluster, got != cluster, nil
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
