package tasks

import (
	"context"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// rewaitAfter is how long a run's Reserve wait must have gone unchanged before the reconciler looks
// at it: a Reserve or a grant under way is done by then.
const rewaitAfter = time.Minute

// reconcileWaits is the backstop of Reserve's wait: a run whose workflow waits in Reserve (its token
// is Reserve's) must either hold a slot whose grant resumes that token, or have its place in its
// pool's FIFO. A Dispatch cut off between taking the run out of the FIFO (with a slot) and resuming
// it leaves neither a grant nor a place: its event's redelivery changes nothing and the run would
// wait out its attempt's timeout. Here the grant is sent again to a run that holds a slot, and a run
// that holds none and is not in the FIFO gets its place back (by its acceptance time, so no run
// overtakes it); the pools' heal and dispatch that follow in the pass serve it.
func (s *Service) reconcileWaits(ctx context.Context, clusters []sparkflow.Cluster, active []sparkflow.Run, rep *ReconcileReport) error {
	now := s.now()
	byPool := map[string][]sparkflow.Run{}
	for _, r := range active {
		if (r.Status != sparkflow.RunQueued && r.Status != sparkflow.RunWaiting) || r.Token == "" || r.CancelRequested ||
			r.Fence == nil || r.Fence.Task != sparkflow.FenceReserve || now.Sub(r.UpdatedAt) < rewaitAfter {
			continue
		}
		if held := holder(clusters, r.ID); held != "" {
			// Granted, but the grant may never have reached the workflow: send it again (a token no
			// longer waited on is no error).
			rep.WaitsRepaired++
			if err := s.grantRemoved(ctx, r.Pool, r.ID, held, r.Token, r.Attempt); err != nil {
				s.Log.WarnContext(scope(ctx, r), "reconcile: resend the grant of a waiting run", "err", err)
			}
			continue
		}
		byPool[r.Pool] = append(byPool[r.Pool], r)
	}
	for pool, runs := range byPool {
		ws, err := s.Store.Waiters(ctx, pool, 0)
		if err != nil {
			return err
		}
		in := make(map[string]bool, len(ws))
		for _, w := range ws {
			in[w.RunID] = true
		}
		for _, r := range runs {
			if in[r.ID] {
				continue
			}
			rep.WaitsRepaired++
			s.Log.WarnContext(scope(ctx, r), "reconcile: a run waiting for a slot had lost its place in the FIFO: given it back")
			if err := s.Store.Enqueue(ctx, sparkflow.Waiter{Pool: r.Pool, RunID: r.ID, Token: r.Token, Since: r.QueuedSince(), Priority: r.Priority}); err != nil {
				return err
			}
		}
	}
	return nil
}
