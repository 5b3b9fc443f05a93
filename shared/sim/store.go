package sim

import (
	"context"
	"fmt"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// store is a real store (SQLite, or DynamoDB Local) behind gates: every call parks the proc first.
type store struct {
	s     *Sim
	inner sparkflow.Store
	// seen holds every version of each run the store gave or wrote: GetRunCached serves one of them
	// now and then, as a cache that another writer's change went behind would.
	seen map[string][]sparkflow.Run
}

// saw keeps a version of a run for GetRunCached.
func (st *store) saw(r sparkflow.Run, err error) {
	if err != nil {
		return
	}
	if st.seen == nil {
		st.seen = map[string][]sparkflow.Run{}
	}
	st.seen[r.ID] = append(st.seen[r.ID], r.Clone())
}

// GetRunCached is the run, or (one read in three) a version of it seen before: the task logic must
// write nothing and decide nothing wrong on a stale read (tasks.mutateFrom).
func (st *store) GetRunCached(ctx context.Context, id string) (sparkflow.Run, error) {
	return call(st.s, "store.GetRunCached "+short(id), false, func() (sparkflow.Run, error) {
		if old := st.seen[id]; len(old) > 0 && st.s.rng.IntN(3) == 0 {
			return old[st.s.rng.IntN(len(old))].Clone(), nil
		}
		r, err := st.inner.GetRun(ctx, id)
		st.saw(r, err)
		return r, err
	})
}

var _ sparkflow.Store = (*store)(nil)

func (st *store) CreatePool(ctx context.Context, p sparkflow.Pool) error {
	_, err := call(st.s, "store.CreatePool "+p.Name, true, func() (struct{}, error) { return struct{}{}, st.inner.CreatePool(ctx, p) })
	return err
}
func (st *store) GetPool(ctx context.Context, name string) (sparkflow.Pool, error) {
	return call(st.s, "store.GetPool "+name, false, func() (sparkflow.Pool, error) { return st.inner.GetPool(ctx, name) })
}
func (st *store) ListPools(ctx context.Context) ([]sparkflow.Pool, error) {
	return call(st.s, "store.ListPools", false, func() ([]sparkflow.Pool, error) { return st.inner.ListPools(ctx) })
}
func (st *store) UpdatePool(ctx context.Context, p sparkflow.Pool) (sparkflow.Pool, error) {
	return call(st.s, "store.UpdatePool "+p.Name, true, func() (sparkflow.Pool, error) { return st.inner.UpdatePool(ctx, p) })
}
func (st *store) DeletePool(ctx context.Context, name string) error {
	_, err := call(st.s, "store.DeletePool "+name, true, func() (struct{}, error) { return struct{}{}, st.inner.DeletePool(ctx, name) })
	return err
}
func (st *store) CreateCluster(ctx context.Context, c sparkflow.Cluster) error {
	_, err := call(st.s, "store.CreateCluster "+c.ID, true, func() (struct{}, error) { return struct{}{}, st.inner.CreateCluster(ctx, c) })
	return err
}
func (st *store) UpdateCluster(ctx context.Context, c sparkflow.Cluster) (sparkflow.Cluster, error) {
	return call(st.s, "store.UpdateCluster "+c.ID+" "+string(c.State), true, func() (sparkflow.Cluster, error) { return st.inner.UpdateCluster(ctx, c) })
}
func (st *store) GetCluster(ctx context.Context, id string) (sparkflow.Cluster, error) {
	return call(st.s, "store.GetCluster "+id, false, func() (sparkflow.Cluster, error) { return st.inner.GetCluster(ctx, id) })
}
func (st *store) ListClusters(ctx context.Context, pool string) ([]sparkflow.Cluster, error) {
	return call(st.s, "store.ListClusters "+pool, false, func() ([]sparkflow.Cluster, error) { return st.inner.ListClusters(ctx, pool) })
}
func (st *store) DeleteCluster(ctx context.Context, id string) error {
	_, err := call(st.s, "store.DeleteCluster "+id, true, func() (struct{}, error) { return struct{}{}, st.inner.DeleteCluster(ctx, id) })
	return err
}
func (st *store) CreateTransform(ctx context.Context, t sparkflow.Transform) error {
	_, err := call(st.s, "store.CreateTransform "+t.Name, true, func() (struct{}, error) { return struct{}{}, st.inner.CreateTransform(ctx, t) })
	return err
}
func (st *store) GetTransform(ctx context.Context, name string) (sparkflow.Transform, error) {
	return call(st.s, "store.GetTransform "+name, false, func() (sparkflow.Transform, error) { return st.inner.GetTransform(ctx, name) })
}
func (st *store) ListTransforms(ctx context.Context, pool string) ([]sparkflow.Transform, error) {
	return call(st.s, "store.ListTransforms "+pool, false, func() ([]sparkflow.Transform, error) { return st.inner.ListTransforms(ctx, pool) })
}
func (st *store) UpdateTransform(ctx context.Context, t sparkflow.Transform) error {
	_, err := call(st.s, "store.UpdateTransform "+t.Name, true, func() (struct{}, error) { return struct{}{}, st.inner.UpdateTransform(ctx, t) })
	return err
}
func (st *store) DeleteTransform(ctx context.Context, name string) error {
	_, err := call(st.s, "store.DeleteTransform "+name, true, func() (struct{}, error) { return struct{}{}, st.inner.DeleteTransform(ctx, name) })
	return err
}
func (st *store) CreateRun(ctx context.Context, r sparkflow.Run) (bool, error) {
	return call(st.s, "store.CreateRun "+short(r.ID), true, func() (bool, error) { return st.inner.CreateRun(ctx, r) })
}
func (st *store) GetRun(ctx context.Context, id string) (sparkflow.Run, error) {
	return call(st.s, "store.GetRun "+short(id), false, func() (sparkflow.Run, error) {
		r, err := st.inner.GetRun(ctx, id)
		st.saw(r, err)
		return r, err
	})
}
func (st *store) UpdateRun(ctx context.Context, r sparkflow.Run) (sparkflow.Run, error) {
	return call(st.s, "store.UpdateRun "+short(r.ID)+" "+string(r.Status), true, func() (sparkflow.Run, error) {
		out, err := st.inner.UpdateRun(ctx, r)
		st.saw(out, err)
		return out, err
	})
}
func (st *store) ListRuns(ctx context.Context, f sparkflow.RunFilter) ([]sparkflow.Run, error) {
	return call(st.s, "store.ListRuns", false, func() ([]sparkflow.Run, error) { return st.inner.ListRuns(ctx, f) })
}
func (st *store) CreateRunOn(ctx context.Context, r sparkflow.Run, clusterID string) (bool, error) {
	return call(st.s, fmt.Sprintf("store.CreateRunOn %s %s", short(r.ID), clusterID), true, func() (bool, error) { return st.inner.CreateRunOn(ctx, r, clusterID) })
}
func (st *store) UpdateRunSlot(ctx context.Context, r sparkflow.Run, ch sparkflow.SlotChange) (sparkflow.Run, error) {
	op := fmt.Sprintf("store.UpdateRunSlot %s %s take %s free %s", short(r.ID), r.Status, ch.Take, ch.Free)
	return call(st.s, op, true, func() (sparkflow.Run, error) {
		out, err := st.inner.UpdateRunSlot(ctx, r, ch)
		st.saw(out, err)
		return out, err
	})
}
func (st *store) Reserve(ctx context.Context, runID string, attempt int, clusterID string) (string, error) {
	return call(st.s, fmt.Sprintf("store.Reserve %s#%d %s", short(runID), attempt, clusterID), true, func() (string, error) { return st.inner.Reserve(ctx, runID, attempt, clusterID) })
}
func (st *store) Held(ctx context.Context, runID string) (string, int, error) {
	type held struct {
		cluster string
		attempt int
	}
	h, err := call(st.s, "store.Held "+short(runID), false, func() (held, error) {
		c, a, err := st.inner.Held(ctx, runID)
		return held{c, a}, err
	})
	return h.cluster, h.attempt, err
}
func (st *store) Release(ctx context.Context, runID string, attempt int, clusterID string, at time.Time) error {
	_, err := call(st.s, fmt.Sprintf("store.Release %s#%d %s", short(runID), attempt, clusterID), true, func() (struct{}, error) { return struct{}{}, st.inner.Release(ctx, runID, attempt, clusterID, at) })
	return err
}
func (st *store) Enqueue(ctx context.Context, w sparkflow.Waiter) error {
	_, err := call(st.s, "store.Enqueue "+short(w.RunID), true, func() (struct{}, error) { return struct{}{}, st.inner.Enqueue(ctx, w) })
	return err
}
func (st *store) Waiters(ctx context.Context, pool string, limit int) ([]sparkflow.Waiter, error) {
	return call(st.s, "store.Waiters "+pool, false, func() ([]sparkflow.Waiter, error) { return st.inner.Waiters(ctx, pool, limit) })
}
func (st *store) RemoveWaiter(ctx context.Context, pool, runID string) (bool, error) {
	return call(st.s, "store.RemoveWaiter "+short(runID), true, func() (bool, error) { return st.inner.RemoveWaiter(ctx, pool, runID) })
}
func (st *store) Admit(ctx context.Context, transform, runID string, limit int) (bool, error) {
	return call(st.s, "store.Admit "+transform+" "+short(runID), true, func() (bool, error) { return st.inner.Admit(ctx, transform, runID, limit) })
}
func (st *store) Leave(ctx context.Context, transform, runID string) error {
	_, err := call(st.s, "store.Leave "+transform+" "+short(runID), true, func() (struct{}, error) { return struct{}{}, st.inner.Leave(ctx, transform, runID) })
	return err
}
func (st *store) Places(ctx context.Context, transform string) ([]string, error) {
	return call(st.s, "store.Places "+transform, false, func() ([]string, error) { return st.inner.Places(ctx, transform) })
}
func (st *store) PutRejected(ctx context.Context, r sparkflow.Rejected) error {
	_, err := call(st.s, "store.PutRejected", true, func() (struct{}, error) { return struct{}{}, st.inner.PutRejected(ctx, r) })
	return err
}
func (st *store) ListRejected(ctx context.Context, limit int) ([]sparkflow.Rejected, error) {
	return call(st.s, "store.ListRejected", false, func() ([]sparkflow.Rejected, error) { return st.inner.ListRejected(ctx, limit) })
}

// short is a run id as the trace shows it.
func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
