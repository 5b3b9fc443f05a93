// Package tasks is SparkFlow's task logic, written against the domain's ports: creating, deleting and
// healing pools, accepting run requests, the run workflow's tasks (reserve a slot, submit the step,
// finish the attempt), handling EMR's state-change events, cancelling and reconciling. The same code
// runs in the local engine and, behind Lambda entrypoints, on AWS.
package tasks

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tiers"
	"github.com/sparkflow/sparkflow/shared/workflow"
)

// Service runs the tasks. All fields but Log and NewID are required.
type Service struct {
	Store     sparkflow.Store
	Clusters  sparkflow.Clusters
	Callbacks sparkflow.Callbacks
	Tiers     *tiers.Catalog
	Clock     sparkflow.Clock
	Log       *slog.Logger
	NewID     func() string
}

// New returns a Service with a discarding logger and uuid run ids where those are left out.
func New(s Service) *Service {
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	if s.NewID == nil {
		s.NewID = uuid.NewString
	}
	if s.Clock == nil {
		s.Clock = sparkflow.SystemClock{}
	}
	return &s
}

func (s *Service) now() time.Time { return s.Clock.Now().UTC() }

// conflictRetries bounds the read-modify-write loops on optimistic conflicts.
const conflictRetries = 20

// mutate reads a record, applies fn and writes the result, again on a version conflict (optimistic
// locking: every store write of runs, clusters and pools is conditional on the version read). fn
// returns false when nothing is to be written.
func mutate[T any](what string, get func() (T, error), put func(T) (T, error), fn func(*T) (bool, error)) (T, error) {
	for i := 0; ; i++ {
		v, err := get()
		if err != nil {
			return v, err
		}
		write, err := fn(&v)
		if err != nil || !write {
			return v, err
		}
		out, err := put(v)
		if err == nil {
			return out, nil
		}
		if !sparkflow.IsCode(err, sparkflow.Conflict) || i >= conflictRetries {
			return v, fmt.Errorf("update %s: %w", what, err)
		}
	}
}

func (s *Service) mutateRun(ctx context.Context, id string, fn func(r *sparkflow.Run) (bool, error)) (sparkflow.Run, error) {
	return mutate("run "+id,
		func() (sparkflow.Run, error) { return s.Store.GetRun(ctx, id) },
		func(r sparkflow.Run) (sparkflow.Run, error) {
			r.UpdatedAt = s.now()
			return s.Store.UpdateRun(ctx, r)
		}, fn)
}

func (s *Service) mutateCluster(ctx context.Context, id string, fn func(c *sparkflow.Cluster) (bool, error)) (sparkflow.Cluster, error) {
	return mutate("cluster "+id,
		func() (sparkflow.Cluster, error) { return s.Store.GetCluster(ctx, id) },
		func(c sparkflow.Cluster) (sparkflow.Cluster, error) { return s.Store.UpdateCluster(ctx, c) }, fn)
}

func (s *Service) mutatePool(ctx context.Context, name string, fn func(p *sparkflow.Pool) bool) (sparkflow.Pool, error) {
	return mutate("pool "+name,
		func() (sparkflow.Pool, error) { return s.Store.GetPool(ctx, name) },
		func(p sparkflow.Pool) (sparkflow.Pool, error) {
			p.UpdatedAt = s.now()
			return s.Store.UpdatePool(ctx, p)
		},
		func(p *sparkflow.Pool) (bool, error) { return fn(p), nil })
}

// resume sends output to a waiting workflow. A token that is no longer waited on (the workflow timed
// out or was restarted) is not an error for the caller: it is logged.
func (s *Service) resume(ctx context.Context, token string, output any) error {
	if token == "" {
		return nil
	}
	b, err := json.Marshal(output)
	if err != nil {
		return err
	}
	err = s.Callbacks.SendTaskSuccess(ctx, token, b)
	if sparkflow.IsCode(err, sparkflow.NotFound) {
		s.Log.Info("task token no longer waited on", "err", err)
		return nil
	}
	return err
}

// ---- pools ----

// PoolView is a pool with its clusters.
type PoolView struct {
	sparkflow.Pool
	ClusterRecords []sparkflow.Cluster `json:"clusterRecords"`
	Ready          int                 `json:"ready"`
	SlotsUsed      int                 `json:"slotsUsed"`
	SlotsTotal     int                 `json:"slotsTotal"`
}

// CreatePool validates p, records it and launches its clusters.
func (s *Service) CreatePool(ctx context.Context, p sparkflow.Pool) (PoolView, error) {
	if p.Tier == "" {
		return PoolView{}, sparkflow.FieldError("tier", "is required; known tiers: %s", tierNames(s.Tiers))
	}
	tier, err := s.Tiers.Get(p.Tier)
	if err != nil {
		return PoolView{}, err
	}
	if err := p.Normalize(tier); err != nil {
		return PoolView{}, err
	}
	now := s.now()
	p.Status, p.CreatedAt, p.UpdatedAt = sparkflow.PoolCreating, now, now
	if err := s.Store.CreatePool(ctx, p); err != nil {
		return PoolView{}, err
	}
	s.Log.Info("pool created", "pool", p.Name, "tier", p.Tier, "clusters", p.Clusters)
	if err := s.Heal(ctx, p.Name); err != nil {
		return PoolView{}, fmt.Errorf("launch clusters of pool %s: %w", p.Name, err)
	}
	return s.GetPool(ctx, p.Name)
}

func tierNames(c *tiers.Catalog) string {
	var n []string
	for _, t := range c.All() {
		n = append(n, t.Name)
	}
	return strings.Join(n, ", ")
}

// GetPool returns a pool with its clusters.
func (s *Service) GetPool(ctx context.Context, name string) (PoolView, error) {
	p, err := s.Store.GetPool(ctx, name)
	if err != nil {
		return PoolView{}, err
	}
	cs, err := s.Store.ListClusters(ctx, name)
	if err != nil {
		return PoolView{}, err
	}
	v := PoolView{Pool: p, ClusterRecords: cs}
	for _, c := range cs {
		if c.State.Ready() {
			v.Ready++
			v.SlotsTotal += c.Capacity
		}
		if !c.State.Terminal() {
			v.SlotsUsed += len(c.Reservations)
		}
	}
	return v, nil
}

// ListPools returns every pool with its clusters.
func (s *Service) ListPools(ctx context.Context) ([]PoolView, error) {
	ps, err := s.Store.ListPools(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]PoolView, 0, len(ps))
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
func ClusterName(pool string) string {
	return "sparkflow:" + pool + ":" + uuid.NewString()[:8]
}

func poolOfClusterName(name string) (string, bool) {
	parts := strings.Split(name, ":")
	if len(parts) != 3 || parts[0] != "sparkflow" || parts[1] == "" {
		return "", false
	}
	return parts[1], true
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
	if plan := core.PlanPool(p, cs); plan.Launch == 0 {
		return s.setPoolStatus(ctx, name, plan.Status)
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
			s.Log.Warn("release heal lease", "pool", name, "err", err)
		}
	}()
	tier, err := s.Tiers.Get(p.Tier)
	if err != nil {
		return err
	}
	for {
		cs, err := s.Store.ListClusters(ctx, name)
		if err != nil {
			return err
		}
		plan := core.PlanPool(p, cs)
		if err := s.setPoolStatus(ctx, name, plan.Status); err != nil {
			return err
		}
		if plan.Launch == 0 {
			return nil
		}
		for i := 0; i < plan.Launch; i++ {
			if err := s.launch(ctx, p, tier); err != nil {
				return err
			}
		}
		if p, err = s.Store.GetPool(ctx, name); err != nil || p.Status == sparkflow.PoolDeleting {
			return err
		}
	}
}

func (s *Service) setPoolStatus(ctx context.Context, name string, status sparkflow.PoolStatus) error {
	_, err := s.mutatePool(ctx, name, func(p *sparkflow.Pool) bool {
		if p.Status == sparkflow.PoolDeleting || p.Status == status {
			return false
		}
		p.Status = status
		s.Log.Info("pool status", "pool", name, "status", status)
		return true
	})
	return err
}

func (s *Service) launch(ctx context.Context, p sparkflow.Pool, tier sparkflow.Tier) error {
	name := ClusterName(p.Name)
	id, err := s.Clusters.Launch(ctx, sparkflow.LaunchSpec{Name: name, Pool: p, Tier: tier})
	if err != nil {
		return fmt.Errorf("launch cluster for pool %s: %w", p.Name, err)
	}
	now := s.now()
	err = s.Store.CreateCluster(ctx, sparkflow.Cluster{
		ID: id, Pool: p.Name, State: sparkflow.ClusterStarting, Capacity: p.StepConcurrency,
		CreatedAt: now, StateTime: time.Time{},
	})
	if sparkflow.IsCode(err, sparkflow.Conflict) {
		err = nil // its first event recorded it already
	}
	s.Log.Info("cluster launched", "pool", p.Name, "cluster_id", id)
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
	s.Log.Info("pool deleting", "pool", name)
	return s.Heal(ctx, name)
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
	s.Log.Info("pool deleted", "pool", p.Name)
	return err
}

// ---- transforms ----

// CreateTransform validates and records a transform of an existing pool.
func (s *Service) CreateTransform(ctx context.Context, t sparkflow.Transform) (sparkflow.Transform, error) {
	if err := s.checkTransform(ctx, &t); err != nil {
		return t, err
	}
	now := s.now()
	t.CreatedAt, t.UpdatedAt = now, now
	return t, s.Store.CreateTransform(ctx, t)
}

// UpdateTransform replaces a transform's definition; runs under way keep the policy they started with.
func (s *Service) UpdateTransform(ctx context.Context, t sparkflow.Transform) (sparkflow.Transform, error) {
	old, err := s.Store.GetTransform(ctx, t.Name)
	if err != nil {
		return t, err
	}
	if err := s.checkTransform(ctx, &t); err != nil {
		return t, err
	}
	t.CreatedAt, t.UpdatedAt = old.CreatedAt, s.now()
	return t, s.Store.UpdateTransform(ctx, t)
}

func (s *Service) checkTransform(ctx context.Context, t *sparkflow.Transform) error {
	if err := t.Normalize(); err != nil {
		return err
	}
	if _, err := s.Store.GetPool(ctx, t.Pool); err != nil {
		if sparkflow.IsCode(err, sparkflow.NotFound) {
			return sparkflow.FieldError("pool", "pool %q does not exist; create it first (sparkflow pool create %s --tier small --clusters 1)", t.Pool, t.Pool)
		}
		return err
	}
	// Build the step once with the defaults, so a transform that cannot run is refused now.
	_, err := core.Step(*t, sparkflow.Run{ID: "00000000-0000-0000-0000-000000000000", Attempt: 1})
	return err
}

// DeleteTransform removes a transform that has no active runs.
func (s *Service) DeleteTransform(ctx context.Context, name string) error {
	if _, err := s.Store.GetTransform(ctx, name); err != nil {
		return err
	}
	active, err := s.Store.ListRuns(ctx, sparkflow.RunFilter{Transform: name, Active: true})
	if err != nil {
		return err
	}
	if len(active) > 0 {
		return sparkflow.Errorf(sparkflow.Conflict, "transform %s has %d active runs; cancel them or wait before deleting it", name, len(active))
	}
	return s.Store.DeleteTransform(ctx, name)
}

// ---- runs: intake ----

// Accept validates a run request and records the run as QUEUED. A request whose id was accepted
// before returns that run and created=false (SQS delivers at least once). The caller then starts the
// run's workflow (named by the run id, so a second start is a no-op).
func (s *Service) Accept(ctx context.Context, req sparkflow.RunRequest) (sparkflow.Run, bool, error) {
	if err := req.Validate(); err != nil {
		return sparkflow.Run{}, false, err
	}
	if req.ID != "" {
		if _, err := uuid.Parse(req.ID); err != nil {
			return sparkflow.Run{}, false, sparkflow.FieldError("id", "%q is not a UUID; leave it out to get one", req.ID)
		}
		if r, err := s.Store.GetRun(ctx, req.ID); err == nil {
			return r, false, nil
		}
	}
	t, err := s.Store.GetTransform(ctx, req.Transform)
	if sparkflow.IsCode(err, sparkflow.NotFound) {
		return sparkflow.Run{}, false, sparkflow.FieldError("transform", "transform %q does not exist (sparkflow transform list shows the known ones)", req.Transform)
	}
	if err != nil {
		return sparkflow.Run{}, false, err
	}
	p, err := s.Store.GetPool(ctx, t.Pool)
	if sparkflow.IsCode(err, sparkflow.NotFound) {
		return sparkflow.Run{}, false, sparkflow.FieldError("transform", "transform %s is assigned to pool %q, which does not exist; create the pool or move the transform (sparkflow transform edit %s --pool P)", t.Name, t.Pool, t.Name)
	}
	if err != nil {
		return sparkflow.Run{}, false, err
	}
	if p.Status == sparkflow.PoolDeleting {
		return sparkflow.Run{}, false, sparkflow.Errorf(sparkflow.Conflict, "pool %s of transform %s is being deleted", p.Name, t.Name)
	}
	id := req.ID
	if id == "" {
		id = s.NewID()
	}
	now := s.now()
	r := sparkflow.Run{
		ID: id, Transform: t.Name, Pool: t.Pool, Params: req.Params, Attempt: 1,
		MaxAttempts: t.MaxAttempts, TimeoutSeconds: t.TimeoutSeconds, QueueTimeoutSeconds: t.QueueTimeoutSeconds,
		CreatedAt: now, UpdatedAt: now, History: []sparkflow.Transition{},
	}
	if _, err := core.Step(t, r); err != nil {
		return sparkflow.Run{}, false, err
	}
	r.SetStatus(sparkflow.RunQueued, now, "")
	created, err := s.Store.CreateRun(ctx, r)
	if err != nil {
		return r, false, err
	}
	if !created {
		r, err = s.Store.GetRun(ctx, id)
		return r, false, err
	}
	// Take the run's place in its pool's FIFO now, so runs are served in acceptance order however
	// their workflows are scheduled. (A crash before this line is mended by Reserve, which enqueues.)
	if err := s.Store.Enqueue(ctx, sparkflow.Waiter{Pool: r.Pool, RunID: r.ID, Since: r.CreatedAt}); err != nil {
		return r, true, err
	}
	s.Log.Info("run accepted", "run_id", id, "transform", t.Name, "pool", t.Pool)
	return r, true, nil
}

// Reject keeps a request that could not be accepted, with its reason.
func (s *Service) Reject(ctx context.Context, id, body string, cause error) error {
	if id == "" {
		id = s.NewID()
	}
	return s.Store.PutRejected(ctx, sparkflow.Rejected{ID: id, Body: body, Reason: cause.Error(), At: s.now()})
}

// ---- runs: the workflow's tasks ----

// Grant is the output that resumes a workflow waiting for a slot.
type Grant struct {
	ClusterID string `json:"clusterId"`
}

// Reserve is the first task of an attempt (called with a task token): it gives the run a slot on
// the least-loaded ready cluster of its pool and resumes the workflow at once, or puts the run in its
// pool's FIFO, to be resumed by Dispatch when a slot frees or a cluster becomes ready. Runs are served
// in acceptance order: a run takes a free slot only if there are more free slots than runs ahead of it.
// Idempotent: a run that holds a slot already is resumed with it.
func (s *Service) Reserve(ctx context.Context, runID, token string) error {
	// The token goes on the run before we look for a slot: a Dispatch that grants us a slot from now
	// on resumes this token, and one that granted it before left the slot for the look below to find.
	r, err := s.mutateRun(ctx, runID, func(r *sparkflow.Run) (bool, error) {
		if r.Status.Terminal() || r.CancelRequested {
			return false, sparkflow.Errorf(sparkflow.Conflict, "run %s is %s%s", runID, r.Status, map[bool]string{true: " (cancel requested)"}[r.CancelRequested])
		}
		r.Token = token
		return true, nil
	})
	if err != nil {
		return err
	}
	for try := 0; try < conflictRetries; try++ {
		waiters, err := s.Store.Waiters(ctx, r.Pool, 0)
		if err != nil {
			return err
		}
		ahead := len(waiters)
		for i, w := range waiters {
			if w.RunID == runID {
				ahead = i
				break
			}
		}
		clusters, err := s.Store.ListClusters(ctx, r.Pool)
		if err != nil {
			return err
		}
		if held := holder(clusters, runID); held != "" {
			return s.grant(ctx, r.Pool, runID, held, token)
		}
		if core.FreeSlots(clusters) <= ahead {
			break
		}
		c, _ := core.ChooseCluster(clusters, runID)
		got, err := s.Store.Reserve(ctx, runID, c.ID)
		if sparkflow.IsCode(err, sparkflow.Conflict) {
			continue // someone took the slot first; look again
		}
		if err != nil {
			return err
		}
		return s.grant(ctx, r.Pool, runID, got, token)
	}
	// No slot for us: wait in the FIFO, in acceptance order.
	if err := s.Store.Enqueue(ctx, sparkflow.Waiter{Pool: r.Pool, RunID: runID, Token: token, Since: r.CreatedAt}); err != nil {
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
	// A slot may have freed between the look and the enqueue: dispatch closes that gap.
	return s.Dispatch(ctx, r.Pool)
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
func (s *Service) grant(ctx context.Context, pool, runID, clusterID, own string) error {
	if _, err := s.Store.RemoveWaiter(ctx, pool, runID); err != nil {
		return err
	}
	wrote := false
	r, err := s.mutateRun(ctx, runID, func(r *sparkflow.Run) (bool, error) {
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
		r.History = append(r.History, sparkflow.Transition{Status: r.Status, Attempt: r.Attempt, At: now, Note: "slot on " + clusterID})
		return true, nil
	})
	if err != nil {
		return err
	}
	token := own
	if wrote {
		token = r.Token
		s.Log.Info("slot granted", "run_id", runID, "cluster_id", clusterID, "pool", pool)
	}
	return s.resume(ctx, token, Grant{ClusterID: clusterID})
}

// Dispatch hands free slots of a pool to its waiting runs, oldest first. Safe to call at any time and
// from several places at once: each waiter is won by one caller only. A waiter whose workflow has not
// reached Reserve yet (no token) gets its slot held; Reserve then finds it and goes on at once.
func (s *Service) Dispatch(ctx context.Context, pool string) error {
	for {
		waiters, err := s.Store.Waiters(ctx, pool, 0)
		if err != nil || len(waiters) == 0 {
			return err
		}
		clusters, err := s.Store.ListClusters(ctx, pool)
		if err != nil {
			return err
		}
		progressed := false
		for _, w := range waiters {
			r, err := s.Store.GetRun(ctx, w.RunID)
			if sparkflow.IsCode(err, sparkflow.NotFound) || (err == nil && r.Status.Terminal()) {
				if _, err := s.Store.RemoveWaiter(ctx, pool, w.RunID); err != nil {
					return err
				}
				progressed = true
				continue
			}
			if err != nil {
				return err
			}
			c, ok := core.ChooseCluster(clusters, w.RunID)
			if !ok {
				return nil // no free slot: the next release or ready cluster dispatches again
			}
			got, err := s.Store.Reserve(ctx, w.RunID, c.ID)
			if sparkflow.IsCode(err, sparkflow.Conflict) {
				progressed = true // someone else took it; look again with fresh counts
				break
			}
			if err != nil {
				return err
			}
			won, err := s.Store.RemoveWaiter(ctx, pool, w.RunID)
			if err != nil {
				return err
			}
			if won {
				if err := s.grant(ctx, pool, w.RunID, got, ""); err != nil {
					return err
				}
			}
			progressed = true
			break // counts changed; list again
		}
		if !progressed {
			return nil
		}
	}
}

// Submit is the second task of an attempt (called with a task token): it adds the attempt's step to
// the cluster the run holds, unless a step of that name is there already (AddJobFlowSteps has no
// idempotency token), and records the step id and the token that the step's end resumes. A step found
// already ended resumes the workflow at once.
func (s *Service) Submit(ctx context.Context, runID, token string) error {
	r, err := s.mutateRun(ctx, runID, func(r *sparkflow.Run) (bool, error) {
		if r.Status.Terminal() {
			return false, sparkflow.Errorf(sparkflow.Conflict, "run %s is %s", r.ID, r.Status)
		}
		r.Token = token
		return true, nil
	})
	if err != nil {
		return err
	}
	fail := func(cause, reason string) error {
		return s.resume(ctx, token, core.Outcome{StepState: sparkflow.StepFailed, Cause: cause, Reason: reason})
	}
	if r.CancelRequested {
		return s.resume(ctx, token, core.Outcome{StepState: sparkflow.StepCancelled, Cause: core.CauseCancelled})
	}
	if r.ClusterID == "" || r.ReservedAt == nil {
		return sparkflow.Errorf(sparkflow.Internal, "run %s reached submit without a slot", runID)
	}
	t, err := s.Store.GetTransform(ctx, r.Transform)
	if sparkflow.IsCode(err, sparkflow.NotFound) {
		return fail(core.CauseSubmitFailed, "transform "+r.Transform+" was deleted")
	}
	if err != nil {
		return err
	}
	step, err := core.Step(t, r)
	if err != nil {
		return fail(core.CauseSubmitFailed, err.Error())
	}
	steps, err := s.Clusters.ListSteps(ctx, r.ClusterID)
	if sparkflow.IsCode(err, sparkflow.NotFound) {
		return s.resume(ctx, token, core.Outcome{StepState: sparkflow.StepInterrupted, Cause: core.CauseClusterLost, Reason: "cluster not found"})
	}
	if err != nil {
		return fmt.Errorf("list steps of %s: %w", r.ClusterID, err)
	}
	var found *sparkflow.StepInfo
	for i := range steps {
		if steps[i].Name == step.Name {
			found = &steps[i]
			break
		}
	}
	if found == nil {
		id, err := s.Clusters.AddStep(ctx, r.ClusterID, step)
		switch {
		case sparkflow.IsCode(err, sparkflow.Conflict) || sparkflow.IsCode(err, sparkflow.NotFound):
			return s.resume(ctx, token, core.Outcome{StepState: sparkflow.StepInterrupted, Cause: core.CauseClusterLost, Reason: err.Error()})
		case sparkflow.IsCode(err, sparkflow.Invalid):
			return fail(core.CauseSubmitFailed, err.Error())
		case err != nil:
			return fmt.Errorf("add step to %s: %w", r.ClusterID, err)
		}
		found = &sparkflow.StepInfo{ID: id, Name: step.Name, State: sparkflow.StepPending}
		s.Log.Info("step added", "run_id", runID, "cluster_id", r.ClusterID, "step_id", id, "attempt", r.Attempt)
	}
	r, err = s.mutateRun(ctx, runID, func(r *sparkflow.Run) (bool, error) {
		if r.Status.Terminal() {
			return false, nil
		}
		r.StepID = found.ID
		if found.LogURI != "" {
			r.LogURI = found.LogURI
		}
		if r.Status.Rank() < sparkflow.RunSubmitted.Rank() {
			r.SetStatus(sparkflow.RunSubmitted, s.now(), "step "+found.ID+" on "+r.ClusterID)
		}
		if found.State.Rank() > r.StepState.Rank() || r.StepState == "" {
			r.StepState = found.State
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	if r.CancelRequested && !found.State.Terminal() {
		if err := s.Clusters.CancelStep(ctx, r.ClusterID, found.ID); err != nil {
			s.Log.Warn("cancel step after submit", "run_id", runID, "err", err)
		}
	}
	if found.State.Terminal() {
		return s.resume(ctx, token, core.Outcome{StepState: found.State, Reason: found.Reason.Message})
	}
	if r.StepState.Terminal() {
		// The step's end event was handled before the token was recorded.
		return s.resume(ctx, token, core.Outcome{StepState: r.StepState, Reason: r.Reason})
	}
	return nil
}

// FinishResult tells the workflow whether to go round again.
type FinishResult struct {
	Retry  bool                `json:"retry"`
	Status sparkflow.RunStatus `json:"status"`
}

// Finish ends an attempt: it frees the run's slot (and wakes the pool's next waiter), cancels a step
// left running by a timeout, and decides per the run's policy whether to retry or end the run.
// Idempotent: a run that has ended already is left as it is.
func (s *Service) Finish(ctx context.Context, runID string, o core.Outcome) (FinishResult, error) {
	r, err := s.Store.GetRun(ctx, runID)
	if err != nil {
		return FinishResult{}, err
	}
	if r.Status.Terminal() {
		return FinishResult{Status: r.Status}, s.release(ctx, r)
	}
	if o.Cause == core.CauseTimeout && r.StepID != "" && !r.StepState.Terminal() {
		if err := s.Clusters.CancelStep(ctx, r.ClusterID, r.StepID); err != nil {
			s.Log.Warn("cancel timed-out step", "run_id", runID, "step_id", r.StepID, "err", err)
		}
	}
	var verdict core.Verdict
	r, err = s.mutateRun(ctx, runID, func(r *sparkflow.Run) (bool, error) {
		if r.Status.Terminal() {
			verdict = core.Verdict{Status: r.Status}
			return false, nil
		}
		verdict = core.Conclude(*r, o)
		now := s.now()
		if verdict.Retry {
			r.History = append(r.History, sparkflow.Transition{Status: r.Status, Attempt: r.Attempt, At: now, Note: verdict.Reason})
			r.Attempt++
			r.StepID, r.StepState, r.Token, r.ReservedAt, r.StartedAt = "", "", "", nil, nil
			r.Reason = verdict.Reason
			r.SetStatus(sparkflow.RunWaiting, now, "")
			return true, nil
		}
		if verdict.Reason != "" {
			r.Reason = verdict.Reason
		} else if verdict.Status == sparkflow.RunSucceeded {
			r.Reason = ""
		}
		r.SetStatus(verdict.Status, now, verdict.Reason)
		return true, nil
	})
	if err != nil {
		return FinishResult{}, err
	}
	s.Log.Info("attempt finished", "run_id", runID, "attempt", r.Attempt, "status", r.Status, "retry", verdict.Retry, "reason", verdict.Reason)
	if err := s.release(ctx, r); err != nil {
		return FinishResult{}, err
	}
	return FinishResult{Retry: verdict.Retry, Status: r.Status}, nil
}

// release frees whatever slot or FIFO place the run holds and dispatches the pool.
func (s *Service) release(ctx context.Context, r sparkflow.Run) error {
	if _, err := s.Store.RemoveWaiter(ctx, r.Pool, r.ID); err != nil {
		return err
	}
	clusters, err := s.Store.ListClusters(ctx, r.Pool)
	if err != nil {
		return err
	}
	if held := holder(clusters, r.ID); held != "" {
		if err := s.Store.Release(ctx, r.ID, held); err != nil {
			return err
		}
	}
	return s.Dispatch(ctx, r.Pool)
}

// ---- cancel ----

// Cancel asks for a run to end as CANCELLED: a run without a step ends at once (its waiting workflow
// is told); a run with a step has it cancelled, and the step's end finishes the run.
func (s *Service) Cancel(ctx context.Context, runID string) (sparkflow.Run, error) {
	r, err := s.mutateRun(ctx, runID, func(r *sparkflow.Run) (bool, error) {
		if r.Status.Terminal() {
			return false, sparkflow.Errorf(sparkflow.Conflict, "run %s has ended already (%s)", r.ID, r.Status)
		}
		if r.CancelRequested {
			return false, nil
		}
		r.CancelRequested = true
		r.History = append(r.History, sparkflow.Transition{Status: r.Status, Attempt: r.Attempt, At: s.now(), Note: "cancel requested"})
		return true, nil
	})
	if err != nil {
		return r, err
	}
	if r.StepID != "" && !r.StepState.Terminal() {
		if err := s.Clusters.CancelStep(ctx, r.ClusterID, r.StepID); err != nil && !sparkflow.IsCode(err, sparkflow.NotFound) {
			return r, fmt.Errorf("cancel step %s of run %s: %w", r.StepID, runID, err)
		}
		s.Log.Info("step cancel sent", "run_id", runID, "step_id", r.StepID)
		return r, nil
	}
	if r.Status.Rank() >= sparkflow.RunSubmitted.Rank() {
		return r, nil // submit is under way: it sees the request and cancels its step
	}
	// No step: end it now and stop the waiting workflow.
	token := r.Token
	if _, err := s.Finish(ctx, runID, core.Outcome{StepState: sparkflow.StepCancelled, Cause: core.CauseCancelled}); err != nil {
		return r, err
	}
	if token != "" {
		if err := s.Callbacks.SendTaskFailure(ctx, token, workflow.ErrorCancelled, "cancelled by request"); err != nil && !sparkflow.IsCode(err, sparkflow.NotFound) {
			s.Log.Warn("stop waiting workflow", "run_id", runID, "err", err)
		}
	}
	return s.Store.GetRun(ctx, runID)
}
