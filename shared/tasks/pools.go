package tasks

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/metrics"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tiers"
)

// CreatePool validates p, records it and launches its clusters.
func (s *Service) CreatePool(ctx context.Context, p sparkflow.Pool) (sparkflow.PoolView, error) {
	if p.Tier == "" && p.CustomTier == nil {
		return sparkflow.PoolView{}, sparkflow.FieldError("tier", "is required; known tiers: %s", tierNames(s.Tiers))
	}
	if p.CustomTier != nil {
		if p.Tier == "" {
			p.Tier = p.CustomTier.Name
		}
		if _, err := s.Tiers.Get(p.CustomTier.Name); err == nil {
			return sparkflow.PoolView{}, sparkflow.FieldError("customTier.name", "%q is a tier of the catalogue already: give the pool's own tier another name", p.CustomTier.Name)
		}
	}
	tier, err := s.tierOf(p)
	if err != nil {
		return sparkflow.PoolView{}, err
	}
	if err := p.Normalize(tier); err != nil {
		return sparkflow.PoolView{}, err
	}
	now := s.now()
	p.Status, p.CreatedAt, p.UpdatedAt = sparkflow.PoolCreating, now, now
	if err := s.Store.CreatePool(ctx, p); err != nil {
		return sparkflow.PoolView{}, err
	}
	s.Log.InfoContext(ctx, "pool created", "pool", p.Name, "tier", p.Tier, "clusters", p.Clusters)
	if err := s.Heal(ctx, p.Name); err != nil {
		return sparkflow.PoolView{}, fmt.Errorf("launch clusters of pool %s: %w", p.Name, err)
	}
	return s.GetPool(ctx, p.Name)
}

// tierOf is the tier of pool p: its own (CustomTier) or the catalogue's it names.
func (s *Service) tierOf(p sparkflow.Pool) (sparkflow.Tier, error) {
	if p.CustomTier == nil {
		return s.Tiers.Get(p.Tier)
	}
	if p.CustomTier.Name != p.Tier {
		return sparkflow.Tier{}, sparkflow.FieldError("tier", "pool %s names tier %q but carries its own tier %q: name that one", p.Name, p.Tier, p.CustomTier.Name)
	}
	if err := tiers.Validate(*p.CustomTier); err != nil {
		return sparkflow.Tier{}, sparkflow.Wrap(sparkflow.Invalid, err, "the pool's own tier (customTier)")
	}
	return *p.CustomTier, nil
}

func tierNames(c *tiers.Catalog) string {
	var n []string
	for _, t := range c.All() {
		n = append(n, t.Name)
	}
	return strings.Join(n, ", ")
}

// GetPool returns a pool with its clusters.
func (s *Service) GetPool(ctx context.Context, name string) (sparkflow.PoolView, error) {
	p, err := s.Store.GetPool(ctx, name)
	if err != nil {
		return sparkflow.PoolView{}, err
	}
	cs, err := s.Store.ListClusters(ctx, name)
	if err != nil {
		return sparkflow.PoolView{}, err
	}
	ws, err := s.Store.Waiters(ctx, name, 0)
	if err != nil {
		return sparkflow.PoolView{}, err
	}
	v := sparkflow.PoolView{Pool: p, ClusterRecords: cs, Waiting: len(ws)}
	for i := range ws { // the queue's head is not the oldest when priorities differ
		if v.OldestWaiting == nil || ws[i].Since.Before(*v.OldestWaiting) {
			oldest := ws[i].Since
			v.OldestWaiting = &oldest
		}
	}
	plan := core.PlanPool(p, cs, len(ws), s.now())
	v.StartFailures, v.LastStartFailure, v.LaunchesHeld, v.NextLaunchAt, v.IdleEnded = plan.StartFailures, plan.LastStartFailure, plan.Held, plan.RetryAt, plan.IdleEnded
	if took, n := core.MeasuredStart(cs); n > 0 {
		v.StartSeconds, v.StartSamples = took.Seconds(), n
	}
	v.ClusterRecords = make([]sparkflow.Cluster, len(cs))
	for i, c := range cs {
		if c.State.Ready() {
			v.Ready++
			v.SlotsTotal += c.Capacity
		}
		if !c.State.Terminal() {
			v.SlotsUsed += len(c.Reservations)
		}
		v.ClusterRecords[i] = c
		v.ClusterRecords[i].State = c.Shown()
	}
	return v, nil
}

// ListPools returns every pool with its clusters.
func (s *Service) ListPools(ctx context.Context) ([]sparkflow.PoolView, error) {
	ps, err := s.Store.ListPools(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]sparkflow.PoolView, 0, len(ps))
	for _, p := range ps {
		v, err := s.GetPool(ctx, p.Name)
		if err != nil && !sparkflow.IsCode(err, sparkflow.NotFound) {
			return nil, err
		}
		if err == nil {
			out = append(out, v)
		}
	}
	return out, nil
}

// ClusterName names a pool's cluster so that an event for a cluster not yet recorded can be traced
// to its pool.
func ClusterName(prefix, pool string) string {
	return prefix + ":" + pool + ":" + uuid.NewString()[:8]
}

// poolOfClusterName is the pool of a cluster named with prefix; another home's cluster (another
// prefix, such as another stack's) is not ok.
func poolOfClusterName(prefix, name string) (string, bool) {
	rest, found := strings.CutPrefix(name, prefix+":")
	if !found {
		return "", false
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 2 || parts[0] == "" {
		return "", false
	}
	return parts[0], true
}

// HealLeaseTime bounds how long a healer may hold a pool's heal lease; a healer that died is
// replaced after it by the next event or reconcile pass.
const HealLeaseTime = 5 * time.Minute

// Heal brings a pool to its cluster count (launching replacements for lost clusters), updates its
// status, and, for a pool being deleted, removes the records once every cluster is gone. Launches
// happen under the pool's heal lease: a second healer finding the lease held leaves the work to the
// holder, which plans again after its launches before it lets go.
func (s *Service) Heal(ctx context.Context, name string) error {
	p, err := s.Store.GetPool(ctx, name)
	if err != nil {
		return err
	}
	cs, err := s.Store.ListClusters(ctx, name)
	if err != nil {
		return err
	}
	if p.Status == sparkflow.PoolDeleting {
		return s.finishDelete(ctx, p, cs)
	}
	plan, err := s.planPool(ctx, p, cs)
	if err != nil {
		return err
	}
	if plan.Launch == 0 {
		return s.settlePoolStatus(ctx, name)
	}
	// Take the lease: a conditional write on the version we read.
	now := s.now()
	if p.HealLease != nil && now.Before(p.HealLease.Add(HealLeaseTime)) {
		return nil
	}
	p.HealLease = &now
	p, err = s.Store.UpdatePool(ctx, p)
	if sparkflow.IsCode(err, sparkflow.Conflict) {
		return nil // another healer got it
	}
	if err != nil {
		return err
	}
	defer func() {
		if _, err := s.mutatePool(ctx, name, func(p *sparkflow.Pool) bool {
			p.HealLease = nil
			return true
		}); err != nil && !sparkflow.IsCode(err, sparkflow.NotFound) {
			s.Log.WarnContext(ctx, "release heal lease", "pool", name, "err", err)
		}
	}()
	tier, err := s.tierOf(p)
	if err != nil {
		return err
	}
	for {
		cs, err := s.Store.ListClusters(ctx, name)
		if err != nil {
			return err
		}
		plan, err := s.planPool(ctx, p, cs)
		if err != nil {
			return err
		}
		if err := s.settlePoolStatus(ctx, name); err != nil {
			return err
		}
		if plan.Launch == 0 {
			return nil
		}
		for i := 0; i < plan.Launch; i++ {
			if err := s.launch(ctx, p, tier, i < plan.LaunchKept); err != nil {
				return err
			}
		}
		if p, err = s.Store.GetPool(ctx, name); err != nil || p.Status == sparkflow.PoolDeleting {
			return err
		}
	}
}

// planPool plans a pool from its clusters and, when it has clusters EMR ended for idleness, the runs
// waiting for them (only as many as could need the whole pool are read).
func (s *Service) planPool(ctx context.Context, p sparkflow.Pool, cs []sparkflow.Cluster) (core.PoolPlan, error) {
	now := s.now()
	plan := core.PlanPool(p, cs, 0, now)
	if plan.IdleEnded > 0 || plan.Room > 0 {
		ws, err := s.Store.Waiters(ctx, p.Name, p.Clusters*max(p.StepConcurrency, 1)+1)
		if err != nil {
			return plan, err
		}
		plan = core.PlanPool(p, cs, len(ws), now)
	}
	switch {
	case plan.Held && p.Status != sparkflow.PoolDegraded:
		f := plan.LastStartFailure
		s.Log.ErrorContext(ctx, "pool launches held: clusters keep failing to start; fix the cause, then run sparkflow pool heal "+p.Name,
			"pool", p.Name, "failed_starts", plan.StartFailures, "cluster_id", f.ClusterID, "code", f.Reason.Code, "reason", f.Reason.Message)
	case plan.RetryAt != nil:
		s.Log.WarnContext(ctx, "cluster failed to start; next launch after backoff", "pool", p.Name, "failed_starts", plan.StartFailures, "retry_at", plan.RetryAt)
	}
	return plan, nil
}

// ResumeLaunches is the user's answer to a pool whose launches are held after failed starts (having
// fixed the cause): the failures so far no longer count, and the pool is healed now.
func (s *Service) ResumeLaunches(ctx context.Context, name string) error {
	if _, err := s.mutatePool(ctx, name, func(p *sparkflow.Pool) bool {
		now := s.now()
		p.LaunchesResumedAt = &now
		return true
	}); err != nil {
		return err
	}
	s.Log.InfoContext(ctx, "pool launches resumed", "pool", name)
	return s.Heal(ctx, name)
}

// settlePoolStatus writes the status the pool's clusters give it, from clusters read after the pool
// and conditional on the pool's version: two handlers of two clusters' events at once never leave the
// older look's status (the one that loses the write looks again). Without this, the handler that saw
// only its own cluster ready could write CREATING after the other had written READY.
func (s *Service) settlePoolStatus(ctx context.Context, name string) error {
	for try := 0; ; try++ {
		p, err := s.Store.GetPool(ctx, name)
		if err != nil {
			return err
		}
		if p.Status == sparkflow.PoolDeleting {
			return nil
		}
		cs, err := s.Store.ListClusters(ctx, name)
		if err != nil {
			return err
		}
		plan, err := s.planPool(ctx, p, cs)
		if err != nil {
			return err
		}
		if p.Status == plan.Status {
			return nil
		}
		p.Status, p.UpdatedAt = plan.Status, s.now()
		_, err = s.Store.UpdatePool(ctx, p)
		if sparkflow.IsCode(err, sparkflow.Conflict) && try < conflictRetries {
			continue
		}
		if err == nil {
			s.Log.InfoContext(ctx, "pool status", "pool", name, "status", plan.Status)
		}
		return err
	}
}

// launch launches a cluster of pool p; kept: one of an elastic pool's minimum (no idle timeout).
func (s *Service) launch(ctx context.Context, p sparkflow.Pool, tier sparkflow.Tier, kept bool) error {
	name := ClusterName(s.NamePrefix, p.Name)
	id, err := s.Clusters.Launch(ctx, sparkflow.LaunchSpec{Name: name, Pool: p, Tier: tier, Kept: kept})
	if err != nil {
		s.Metrics.Record(metrics.LaunchFailure, 1, p.Name, "launch_"+string(sparkflow.ErrorCode(err)))
		return fmt.Errorf("launch cluster for pool %s: %w", p.Name, err)
	}
	now := s.now()
	idle := 0 // the idle timeout EMR ends it after (see emrclusters): none for a kept one
	if !kept {
		idle = p.IdleTimeoutSeconds
	}
	err = s.Store.CreateCluster(ctx, sparkflow.Cluster{
		ID: id, Pool: p.Name, State: sparkflow.ClusterStarting, Capacity: p.StepConcurrency,
		CreatedAt: now, StateTime: time.Time{}, Kept: kept, IdleTimeoutSeconds: idle,
	})
	if sparkflow.IsCode(err, sparkflow.Conflict) {
		// Its first event recorded it already, not knowing whether it is kept or its idle timeout.
		err = nil
		if kept || idle > 0 {
			_, err = s.mutateCluster(ctx, id, func(c *sparkflow.Cluster) (bool, error) {
				if c.Kept == kept && c.IdleTimeoutSeconds == idle {
					return false, nil
				}
				c.Kept, c.IdleTimeoutSeconds = kept, idle
				return true, nil
			})
		}
	}
	s.Log.InfoContext(ctx, "cluster launched", "pool", p.Name, "cluster_id", id, "kept", kept)
	return err
}

// DeletePool terminates a pool's clusters; the records go when the clusters are gone. A pool with
// active runs is refused unless force, which cancels them.
func (s *Service) DeletePool(ctx context.Context, name string, force bool) error {
	if _, err := s.Store.GetPool(ctx, name); err != nil {
		return err
	}
	active, err := s.Store.ListRuns(ctx, sparkflow.RunFilter{Pool: name, Active: true})
	if err != nil {
		return err
	}
	if len(active) > 0 && !force {
		return sparkflow.Errorf(sparkflow.Conflict, "pool %s has %d active runs; wait for them, cancel them, or delete with --force to cancel them", name, len(active))
	}
	for _, r := range active {
		if _, err := s.Cancel(ctx, r.ID); err != nil && !sparkflow.IsCode(err, sparkflow.Conflict) {
			return err
		}
	}
	if _, err := s.mutatePool(ctx, name, func(p *sparkflow.Pool) bool {
		if p.Status == sparkflow.PoolDeleting {
			return false
		}
		p.Status = sparkflow.PoolDeleting
		return true
	}); err != nil {
		return err
	}
	cs, err := s.Store.ListClusters(ctx, name)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.State.Ended() {
			continue
		}
		if err := s.Clusters.Terminate(ctx, c.ID); err != nil && !sparkflow.IsCode(err, sparkflow.NotFound) {
			return fmt.Errorf("terminate cluster %s: %w", c.ID, err)
		}
	}
	s.Log.InfoContext(ctx, "pool deleting", "pool", name)
	if err := s.Heal(ctx, name); err != nil && !sparkflow.IsCode(err, sparkflow.NotFound) {
		return err // (NotFound: the clusters' end events have finished the delete already)
	}
	return nil
}

func (s *Service) finishDelete(ctx context.Context, p sparkflow.Pool, cs []sparkflow.Cluster) error {
	for _, c := range cs {
		if !c.State.Terminal() {
			return nil // the TERMINATED events finish the job
		}
	}
	for _, c := range cs {
		if err := s.Store.DeleteCluster(ctx, c.ID); err != nil && !sparkflow.IsCode(err, sparkflow.NotFound) {
			return err
		}
	}
	err := s.Store.DeletePool(ctx, p.Name)
	if sparkflow.IsCode(err, sparkflow.NotFound) {
		err = nil
	}
	s.Log.InfoContext(ctx, "pool deleted", "pool", p.Name)
	return err
}
