package tasks

import (
	"context"
	"fmt"
	"strings"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/workflow"
)

// Gates hold a run BLOCKED before its pool's queue: until each of its transform's upstream transforms
// has a SUCCEEDED run with the values they share, each run given with --after has SUCCEEDED, and its
// transform (with a concurrency limit) has a place for it. No polling: the workflow's Hold task records
// the run's token and looks once; the end of a run looks again at the runs it may release (afterEnd);
// the reconciler looks at every BLOCKED run as a backstop.

// gated reports whether a run of t accepted with after waits BLOCKED first.
func gated(t sparkflow.Transform, after []string) bool {
	return len(t.Upstream) > 0 || len(after) > 0 || t.MaxConcurrent > 0
}

// HoldTask is the Hold state's task.
func (s *Service) HoldTask(ctx context.Context, in workflow.TokenInput) error {
	return s.Hold(ctx, in.RunID, in.Token, in.Fence(sparkflow.FenceHold))
}

// Hold is a gated run's first task (called with a task token): the token goes on the run, to be
// resumed when the run is released (or failed with SparkFlow.UpstreamFailed when it ends
// UPSTREAM_FAILED); then it looks whether the run may go now. A run released before its Hold began is
// resumed at once.
func (s *Service) Hold(ctx context.Context, runID, token string, fence sparkflow.Fence) error {
	held := false
	r, err := s.mutateRun(ctx, runID, func(r *sparkflow.Run) (bool, error) {
		if err := mayWait(*r, fence); err != nil {
			return false, err
		}
		held = r.Status == sparkflow.RunBlocked
		if !held {
			return false, nil
		}
		r.Token, r.Fence = token, fencePtr(fence)
		return true, nil
	})
	if err != nil {
		return err
	}
	ctx = scope(ctx, r)
	if !held {
		return s.resume(ctx, token, struct{}{})
	}
	s.Log.InfoContext(ctx, "held until released", "waits_for", strings.Join(r.WaitsFor, "; "))
	_, err = s.unblock(ctx, r)
	return err
}

// unblocked says what unblock did: released the run, ended it, left it waiting for its upstreams or
// for a place among its transform's runs, or found it not BLOCKED.
type unblocked int

const (
	notBlocked unblocked = iota
	released
	endedUpstream
	waitsUpstream
	waitsPlace
)

// unblock looks whether a BLOCKED run may go: it releases it into its pool's queue, ends it
// UPSTREAM_FAILED, or records what it waits for. Safe to call at any time, from several places at once.
// A run whose transform has a concurrency limit takes a place in its transform's line: the places go
// to the oldest BLOCKED runs first (offerPlaces), whichever run's Hold or end asks.
func (s *Service) unblock(ctx context.Context, r sparkflow.Run) (unblocked, error) {
	return s.unblockAs(ctx, r, true)
}

func (s *Service) unblockAs(ctx context.Context, r sparkflow.Run, inLine bool) (unblocked, error) {
	if r.Status != sparkflow.RunBlocked {
		return notBlocked, nil
	}
	t, err := s.Store.GetTransform(ctx, r.Transform)
	if sparkflow.IsCode(err, sparkflow.NotFound) {
		return endedUpstream, s.endBlocked(ctx, r.ID, "transform "+r.Transform+" was deleted while the run was blocked")
	}
	if err != nil {
		return 0, err
	}
	ups, err := s.upstreams(ctx, t, r)
	if err != nil {
		return 0, err
	}
	d := core.Gate(ups)
	switch {
	case d.Failed != "":
		return endedUpstream, s.endBlocked(ctx, r.ID, d.Failed)
	case !d.Open:
		return waitsUpstream, s.setWaits(ctx, r.ID, d.WaitsFor)
	}
	if t.MaxConcurrent > 0 && inLine {
		if err := s.offerPlaces(ctx, t.Name, &r); err != nil {
			return 0, err
		}
		now, err := s.Store.GetRun(ctx, r.ID)
		switch {
		case err != nil:
			return 0, err
		case now.Status == sparkflow.RunBlocked:
			return waitsPlace, nil
		case now.Status == sparkflow.RunUpstreamFailed:
			return endedUpstream, nil
		}
		return released, nil
	}
	if t.MaxConcurrent > 0 {
		ok, err := s.Store.Admit(ctx, t.Name, r.ID, t.MaxConcurrent)
		if err != nil {
			return 0, err
		}
		if !ok {
			return waitsPlace, s.setWaits(ctx, r.ID, []string{fmt.Sprintf("a place: %d runs of %s are under way, its most (max-concurrent)", t.MaxConcurrent, t.Name)})
		}
	}
	return released, s.releaseBlocked(ctx, r.ID, t.MaxConcurrent > 0)
}

// upstreams gathers what r waits for: per upstream transform, its runs with the values they share
// with r; per run given with --after, that run.
func (s *Service) upstreams(ctx context.Context, t sparkflow.Transform, r sparkflow.Run) ([]core.Upstream, error) {
	var ups []core.Upstream
	for _, name := range t.Upstream {
		ut, err := s.Store.GetTransform(ctx, name)
		if sparkflow.IsCode(err, sparkflow.NotFound) {
			// An upstream deleted since: what it would have made will not come.
			ups = append(ups, core.Upstream{What: name, Runs: []sparkflow.Run{{ID: "-", Status: sparkflow.RunFailed, Reason: "transform " + name + " was deleted"}}})
			continue
		}
		if err != nil {
			return nil, err
		}
		shared := core.SharedValues(ut, r)
		runs, err := s.Store.ListRuns(ctx, sparkflow.RunFilter{Transform: name})
		if err != nil {
			return nil, err
		}
		u := core.Upstream{What: core.Describe(name, shared)}
		for _, c := range runs {
			if core.Matches(c, shared) {
				u.Runs = append(u.Runs, c)
			}
		}
		ups = append(ups, u)
	}
	for _, id := range r.After {
		u := core.Upstream{What: "run " + id}
		c, err := s.Store.GetRun(ctx, id)
		switch {
		case err == nil:
			u.Runs = []sparkflow.Run{c}
		case !sparkflow.IsCode(err, sparkflow.NotFound):
			return nil, err
		}
		ups = append(ups, u)
	}
	return ups, nil
}

// releaseBlocked moves a BLOCKED run into its pool's queue (QUEUED, at the time of its release) and
// resumes its Hold. place: it holds a place of its transform.
func (s *Service) releaseBlocked(ctx context.Context, runID string, place bool) error {
	var token string
	moved := false
	r, err := s.mutateRun(ctx, runID, func(r *sparkflow.Run) (bool, error) {
		moved = r.Status == sparkflow.RunBlocked
		if !moved {
			return false, nil
		}
		now := s.now()
		token = r.Token
		r.ReleasedAt, r.WaitsFor, r.HoldsPlace = &now, nil, place
		r.SetStatus(sparkflow.RunQueued, now, "released: what it waited for is done")
		return true, nil
	})
	if err != nil || !moved {
		if err == nil && place && r.Status.Terminal() {
			// It ended meanwhile (cancelled, say): the place it was just given goes back.
			return s.leavePlace(ctx, r)
		}
		return err
	}
	ctx = scope(ctx, r)
	if err := s.Store.Enqueue(ctx, sparkflow.Waiter{Pool: r.Pool, RunID: r.ID, Since: r.QueuedSince(), Priority: r.Priority}); err != nil {
		return err
	}
	s.Log.InfoContext(ctx, "released into the pool's queue")
	return s.resume(ctx, token, struct{}{})
}

// endBlocked ends a BLOCKED run UPSTREAM_FAILED with reason and stops its Hold.
func (s *Service) endBlocked(ctx context.Context, runID, reason string) error {
	var token string
	ended := false
	r, err := s.mutateRun(ctx, runID, func(r *sparkflow.Run) (bool, error) {
		ended = r.Status == sparkflow.RunBlocked
		if !ended {
			return false, nil
		}
		token = r.Token
		r.Reason, r.WaitsFor = reason, nil
		r.SetStatus(sparkflow.RunUpstreamFailed, s.now(), reason)
		return true, nil
	})
	if err != nil || !ended {
		return err
	}
	ctx = scope(ctx, r)
	s.Log.InfoContext(ctx, "ended: an upstream failed", "reason", reason)
	if token != "" {
		if err := s.Callbacks.SendTaskFailure(ctx, token, workflow.ErrorUpstreamFailed, reason); err != nil && !sparkflow.IsCode(err, sparkflow.NotFound) {
			return err
		}
	}
	return s.afterEnd(ctx, r)
}

// setWaits records what a BLOCKED run waits for, when that changed.
func (s *Service) setWaits(ctx context.Context, runID string, waits []string) error {
	_, err := s.mutateRun(ctx, runID, func(r *sparkflow.Run) (bool, error) {
		if r.Status != sparkflow.RunBlocked || strings.Join(r.WaitsFor, "\n") == strings.Join(waits, "\n") {
			return false, nil
		}
		r.WaitsFor = waits
		return true, nil
	})
	return err
}

// afterEnd is what the end of run r releases: its place among its transform's runs goes to the oldest
// BLOCKED run of the transform that may take it, and the BLOCKED runs that wait for it (runs of the
// transforms downstream of its transform with the same shared values, and runs given it with --after)
// are looked at again. Idempotent.
func (s *Service) afterEnd(ctx context.Context, r sparkflow.Run) error {
	if !r.Status.Terminal() {
		return nil
	}
	ts, err := s.Store.ListTransforms(ctx, "")
	if err != nil {
		return err
	}
	var up *sparkflow.Transform
	for i := range ts {
		if ts[i].Name == r.Transform {
			up = &ts[i]
		}
	}
	// A run that ended BLOCKED may hold a place all the same: a Hold that was given it (Admit) and
	// was cut off before it wrote the release. Leaving a place not held changes nothing.
	if r.HoldsPlace || (r.ReleasedAt == nil && up != nil && up.MaxConcurrent > 0) {
		if err := s.leavePlace(ctx, r); err != nil {
			return err
		}
	}
	for _, id := range r.Dependents {
		d, err := s.Store.GetRun(ctx, id)
		if sparkflow.IsCode(err, sparkflow.NotFound) {
			continue // accepted a moment ago, or never: its Hold looks for itself
		}
		if err != nil {
			return err
		}
		if _, err := s.unblock(ctx, d); err != nil {
			return err
		}
	}
	for _, t := range ts {
		if !contains(t.Upstream, r.Transform) {
			continue
		}
		blocked, err := s.Store.ListRuns(ctx, sparkflow.RunFilter{Transform: t.Name, Active: true, Status: sparkflow.RunBlocked})
		if err != nil {
			return err
		}
		for _, d := range blocked {
			if up != nil && !core.Matches(r, core.SharedValues(*up, d)) {
				continue
			}
			if _, err := s.unblock(ctx, d); err != nil {
				return err
			}
		}
	}
	return nil
}

// leavePlace gives back r's place among its transform's runs, and offers it to the transform's oldest
// BLOCKED runs.
func (s *Service) leavePlace(ctx context.Context, r sparkflow.Run) error {
	if err := s.Store.Leave(ctx, r.Transform, r.ID); err != nil {
		return err
	}
	return s.offerPlaces(ctx, r.Transform, nil)
}

// offerPlaces offers the transform's free places to its BLOCKED runs, oldest first (core.AdmitOrder),
// until one is refused a place; runs that wait for their upstreams are passed over. also is a run to
// count among them even if the list does not show it yet (an index read a moment after its write).
func (s *Service) offerPlaces(ctx context.Context, transform string, also *sparkflow.Run) error {
	blocked, err := s.Store.ListRuns(ctx, sparkflow.RunFilter{Transform: transform, Active: true, Status: sparkflow.RunBlocked})
	if err != nil {
		return err
	}
	if also != nil {
		found := false
		for _, d := range blocked {
			found = found || d.ID == also.ID
		}
		if !found {
			blocked = append(blocked, *also)
		}
	}
	held, err := s.Store.Places(ctx, transform)
	if err != nil {
		return err
	}
	for _, d := range core.AdmitOrder(blocked, held) {
		got, err := s.unblockAs(ctx, d, false)
		if err != nil {
			return err
		}
		if got == waitsPlace {
			return nil
		}
	}
	return nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
