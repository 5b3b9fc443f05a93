package tasks

import (
	"context"
	"errors"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/metrics"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// Accept validates a run request and records the run as QUEUED. A request whose id was accepted
// before returns that run and created=false (SQS delivers at least once). The caller then starts the
// run's workflow (named by the run id, so a second start is a no-op).
func (s *Service) Accept(ctx context.Context, req sparkflow.RunRequest) (sparkflow.Run, bool, error) {
	if err := req.Validate(); err != nil {
		return sparkflow.Run{}, false, err
	}
	if req.ScheduledTime != nil {
		if err := s.fromSchedule(ctx, &req); err != nil {
			return sparkflow.Run{}, false, err
		}
	}
	if req.ID != "" {
		if r, err := s.Store.GetRun(ctx, req.ID); err == nil {
			if !sameRequest(r, req) {
				return r, false, sparkflow.Errorf(sparkflow.Conflict, "run %s was accepted before for transform %s with parameters %v; this request (transform %s, parameters %v) differs: send it with another id, or none", r.ID, r.Transform, r.Params, req.Transform, req.Params)
			}
			// A redelivery: the first delivery may have recorded the run and failed before taking
			// its place in the FIFO. Taking it again keeps the place it has (Enqueue is idempotent).
			// (A BLOCKED run takes its place when it is released.)
			if r.Status == sparkflow.RunQueued && r.ReleasedAt == nil {
				if err := s.Store.Enqueue(ctx, sparkflow.Waiter{Pool: r.Pool, RunID: r.ID, Since: r.CreatedAt, Priority: r.Priority}); err != nil {
					return r, false, err
				}
				// The run's Reserve may have been granted a slot between the read and the enqueue
				// (the redelivery comes while the first delivery's workflow runs): then the place
				// just taken is stale, and goes.
				// (ReservedAt stays from an earlier attempt: only a grant since the read counts.)
				if now, err := s.Store.GetRun(ctx, r.ID); err != nil {
					return r, false, err
				} else if now.Attempt == r.Attempt && (grantedSince(r, now) || (now.Status != sparkflow.RunQueued && now.Status != sparkflow.RunWaiting)) {
					if _, err := s.Store.RemoveWaiter(ctx, now.Pool, now.ID); err != nil {
						return r, false, err
					}
				}
			}
			return r, false, nil
		}
	}
	t, err := s.Store.GetTransform(ctx, req.Transform)
	if sparkflow.IsCode(err, sparkflow.NotFound) {
		return sparkflow.Run{}, false, sparkflow.MissingError("transform", "transform %q does not exist (sparkflow transform list shows the known ones)", req.Transform)
	}
	if err != nil {
		return sparkflow.Run{}, false, err
	}
	p, err := s.Store.GetPool(ctx, t.Pool)
	if sparkflow.IsCode(err, sparkflow.NotFound) {
		return sparkflow.Run{}, false, sparkflow.MissingError("transform", "transform %s is assigned to pool %q, which does not exist; create the pool or move the transform (sparkflow transform edit %s --pool P)", t.Name, t.Pool, t.Name)
	}
	if err != nil {
		return sparkflow.Run{}, false, err
	}
	if p.Status == sparkflow.PoolDeleting {
		return sparkflow.Run{}, false, sparkflow.Errorf(sparkflow.Conflict, "pool %s of transform %s is being deleted", p.Name, t.Name)
	}
	if err := s.CheckQueue(ctx, p); err != nil {
		return sparkflow.Run{}, false, err
	}
	id := req.ID
	if id == "" {
		id = s.NewID()
	}
	now := s.now()
	r := sparkflow.Run{
		ID: id, Transform: t.Name, Pool: t.Pool, Params: req.Params, Attempt: 1, Priority: req.Priority.Or(t.Priority).Or(sparkflow.PriorityNormal),
		MaxAttempts: t.MaxAttempts, TimeoutSeconds: t.TimeoutSeconds, QueueTimeoutSeconds: t.QueueTimeoutSeconds,
		CreatedAt: now, UpdatedAt: now, History: []sparkflow.Transition{},
	}
	if _, err := core.Step(t, r); err != nil {
		return sparkflow.Run{}, false, err
	}
	if r.Values, err = t.ResolveParams(req.Params); err != nil {
		return sparkflow.Run{}, false, err
	}
	r.After = req.After
	if req.ScheduledTime != nil {
		at := req.ScheduledTime.UTC()
		r.ScheduledFor = &at
	}
	if gated(t, req.After) {
		// It waits BLOCKED for its upstreams (and a place) first: its workflow's Hold looks, and the
		// end of what it waits for releases it.
		if err := s.noteDependent(ctx, r); err != nil {
			return sparkflow.Run{}, false, err
		}
		r.WaitsFor = []string{"its Hold to look at what it waits for"}
		r.SetStatus(sparkflow.RunBlocked, now, "")
	} else {
		r.SetStatus(sparkflow.RunQueued, now, "")
	}
	if r.Status == sparkflow.RunQueued {
		g, created, granted, err := s.acceptWithSlot(ctx, r)
		if err != nil {
			return r, false, err
		}
		if granted {
			if !created {
				r, err = s.Store.GetRun(ctx, id)
				return r, false, err
			}
			s.Metrics.Record(metrics.RunsAccepted, 1, g.Pool, g.Transform)
			s.observeRun(ctx, r, g)
			s.Log.InfoContext(scope(ctx, g), "run accepted, with a slot", "cluster_id", g.ClusterID)
			return g, true, nil
		}
	}
	created, err := s.Store.CreateRun(ctx, r)
	if err != nil {
		return r, false, err
	}
	if !created {
		r, err = s.Store.GetRun(ctx, id)
		return r, false, err
	}
	s.Metrics.Record(metrics.RunsAccepted, 1, r.Pool, r.Transform)
	if r.Status == sparkflow.RunBlocked {
		s.Log.InfoContext(scope(ctx, r), "run accepted, blocked until what it waits for is done")
		return r, true, nil
	}
	// Take the run's place in its pool's FIFO now, so runs are served in acceptance order however
	// their workflows are scheduled. (A crash before this line is mended by Reserve, which enqueues.)
	if err := s.Store.Enqueue(ctx, sparkflow.Waiter{Pool: r.Pool, RunID: r.ID, Since: r.CreatedAt, Priority: r.Priority}); err != nil {
		return r, true, err
	}
	s.Log.InfoContext(scope(ctx, r), "run accepted")
	return r, true, nil
}

// acceptWithSlot records a new run holding a slot when its pool has one free for it: more free slots
// than runs waiting (the FIFO's head, read as Reserve reads it). The grant is written with the run's
// record (one write of the run and its cluster), so the run never takes a place in the FIFO and its
// Reserve, finding the grant, resumes at once without a write. granted is false when there is no slot
// for it, or it was taken first: the run is then recorded as any and takes its place. created is
// false when a run of that id was recorded already (a redelivered request).
func (s *Service) acceptWithSlot(ctx context.Context, r sparkflow.Run) (g sparkflow.Run, created, granted bool, err error) {
	now := s.now()
	clusters, ahead, free, err := s.lookAhead(ctx, r.Pool, r.ID, now)
	if err != nil || free <= ahead {
		return r, false, false, err
	}
	c, ok := core.ChooseCluster(clusters, r.ID, now)
	if !ok {
		return r, false, false, nil
	}
	g = r
	g.History = append([]sparkflow.Transition(nil), r.History...)
	applyGrant(&g, c.ID, now)
	created, err = s.Store.CreateRunOn(ctx, g, c.ID)
	if errors.Is(err, sparkflow.ErrNoSlot) {
		return r, false, false, nil // taken first (or the cluster went): the run waits as any
	}
	if err != nil {
		return r, false, false, err
	}
	if created {
		g.Version = 1
	}
	return g, created, true, nil
}

// fromSchedule completes a schedule's firing: its id is derived from the transform and the firing's
// time (a firing delivered twice is one run), and the time parameters the transform declares are
// filled from it (core.ScheduleParams); parameters the request gives stand.
func (s *Service) fromSchedule(ctx context.Context, req *sparkflow.RunRequest) error {
	t, err := s.Store.GetTransform(ctx, req.Transform)
	if err != nil {
		return err
	}
	if t.Schedule == "" {
		return sparkflow.FieldError("scheduledTime", "transform %s has no schedule (it was removed since this firing was sent)", t.Name)
	}
	sch, err := core.ParseSchedule(t.Schedule, t.Timezone)
	if err != nil {
		return err
	}
	params := core.ScheduleParams(t, sch, *req.ScheduledTime)
	for k, v := range req.Params {
		params[k] = v
	}
	req.Params = params
	if req.ID == "" {
		req.ID = core.ScheduledRunID(t.Name, *req.ScheduledTime)
	}
	return nil
}

// grantedSince reports whether now, a later read of run r, was granted a slot after r was read.
func grantedSince(r, now sparkflow.Run) bool {
	return now.ReservedAt != nil && (r.ReservedAt == nil || now.ReservedAt.After(*r.ReservedAt))
}

// CheckAfter refuses a request that waits for a run (--after) SparkFlow does not know: the front ends
// call it before they submit, so that a mistyped id is an error at once. (The intake itself lets such
// a run wait: on AWS the run it waits for may still be on the runs queue.)
func (s *Service) CheckAfter(ctx context.Context, req sparkflow.RunRequest) error {
	for _, id := range req.After {
		if _, err := s.Store.GetRun(ctx, id); sparkflow.IsCode(err, sparkflow.NotFound) {
			return sparkflow.MissingError("after", "run %s (given with --after) does not exist; give the id of an existing run", id)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// noteDependent notes r on each run it is to wait for (--after), so that its end releases r and its
// lineage shows r (an ended run is noted too). A run that ends between the note and r's record, or
// that is not recorded yet, is seen by r's Hold or by the reconciler.
func (s *Service) noteDependent(ctx context.Context, r sparkflow.Run) error {
	for _, id := range r.After {
		_, err := s.mutateRun(ctx, id, func(u *sparkflow.Run) (bool, error) {
			if contains(u.Dependents, r.ID) {
				return false, nil
			}
			u.Dependents = append(u.Dependents, r.ID)
			return true, nil
		})
		if err != nil && !sparkflow.IsCode(err, sparkflow.NotFound) {
			return err
		}
	}
	return nil
}

// CheckQueue refuses a new run of pool p when its queue is full (Pool.MaxQueue). It reads at most
// MaxQueue waiters; submits at the same instant may each pass it, so the limit can be exceeded by
// the submits in flight.
func (s *Service) CheckQueue(ctx context.Context, p sparkflow.Pool) error {
	if p.MaxQueue <= 0 {
		return nil
	}
	ws, err := s.Store.Waiters(ctx, p.Name, p.MaxQueue)
	if err != nil {
		return err
	}
	if core.QueueFull(p, len(ws)) {
		return sparkflow.Errorf(sparkflow.Conflict, "pool %s's queue is full: %d runs wait for a slot, its most (max-queue); submit again once some have started", p.Name, len(ws))
	}
	return nil
}

// Reject keeps a request that could not be accepted, with its reason.
func (s *Service) Reject(ctx context.Context, id, body string, cause error) error {
	if id == "" {
		id = s.NewID()
	}
	err := s.Store.PutRejected(ctx, sparkflow.Rejected{ID: id, Body: body, Reason: cause.Error(), At: s.now()})
	if err == nil {
		s.Metrics.Record(metrics.RequestsRejected, 1, string(sparkflow.ErrorCode(cause)))
	}
	return err
}

// sameRequest reports whether req asks for the run r was accepted for (a redelivery), as opposed to a
// different request that reuses its id. The priority is no part of what a run is: a backfill asked
// again at another priority is the same runs.
func sameRequest(r sparkflow.Run, req sparkflow.RunRequest) bool {
	if r.Transform != req.Transform || len(r.Params) != len(req.Params) {
		return false
	}
	for k, v := range req.Params {
		if r.Params[k] != v {
			return false
		}
	}
	return true
}
