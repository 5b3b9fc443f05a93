package tasks

import (
	"context"
	"strings"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// CreateTransform validates and records a transform of an existing pool.
func (s *Service) CreateTransform(ctx context.Context, t sparkflow.Transform) (sparkflow.Transform, error) {
	if err := s.checkTransform(ctx, &t); err != nil {
		return t, err
	}
	now := s.now()
	t.CreatedAt, t.UpdatedAt = now, now
	if err := s.Store.CreateTransform(ctx, t); err != nil {
		return t, err
	}
	return t, s.putSchedule(ctx, t, false)
}

// putSchedule makes the transform's schedule match it where it fires (had: it had one before). The
// record is written first: a schedule never fires a transform that is not recorded, and one that
// could not be set is said, with how to set it again.
func (s *Service) putSchedule(ctx context.Context, t sparkflow.Transform, had bool) error {
	if s.Schedules == nil || (t.Schedule == "" && !had) {
		return nil
	}
	if err := s.Schedules.PutSchedule(ctx, t); err != nil {
		return sparkflow.Wrap(sparkflow.ErrorCode(err), err, "transform %s is saved, but its schedule could not be set where it fires; save it again (sparkflow transform edit %s --schedule %q)", t.Name, t.Name, t.Schedule)
	}
	return nil
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
	if err := s.Store.UpdateTransform(ctx, t); err != nil {
		return t, err
	}
	return t, s.putSchedule(ctx, t, old.Schedule != "")
}

func (s *Service) checkTransform(ctx context.Context, t *sparkflow.Transform) error {
	if err := t.Normalize(); err != nil {
		return err
	}
	if _, err := s.Store.GetPool(ctx, t.Pool); err != nil {
		if sparkflow.IsCode(err, sparkflow.NotFound) {
			return sparkflow.MissingError("pool", "pool %q does not exist; create it first (sparkflow pool create %s --tier small --clusters 1)", t.Pool, t.Pool)
		}
		return err
	}
	if t.Schedule != "" {
		if _, err := core.ParseSchedule(t.Schedule, t.Timezone); err != nil {
			return err
		}
		if s.Schedules == nil {
			return sparkflow.FieldError("schedule", "this home keeps no schedules (a stack deployed before schedules came: redeploy it with cdk deploy)")
		}
	}
	// Build the step once with the defaults, so a transform that cannot run is refused now.
	if _, err := core.Step(*t, sparkflow.Run{ID: "00000000-0000-0000-0000-000000000000", Attempt: 1}); err != nil {
		return err
	}
	return s.checkUpstream(ctx, *t)
}

// checkUpstream refuses an upstream transform that does not exist, and an upstream list that would
// close a cycle (the runs of a cycle would wait for each other for ever).
func (s *Service) checkUpstream(ctx context.Context, t sparkflow.Transform) error {
	if len(t.Upstream) == 0 {
		return nil
	}
	ts, err := s.Store.ListTransforms(ctx, "")
	if err != nil {
		return err
	}
	graph := map[string][]string{}
	for _, o := range ts {
		graph[o.Name] = o.Upstream
	}
	for _, u := range t.Upstream {
		if _, ok := graph[u]; !ok {
			return sparkflow.FieldError("upstream", "transform %q does not exist; create it first (sparkflow transform list shows the known ones)", u)
		}
	}
	if c := core.Cycle(t.Name, t.Upstream, func(n string) []string { return graph[n] }); c != nil {
		return sparkflow.FieldError("upstream", "this would make a cycle, whose runs would wait for each other for ever: %s (each waits for the next)", strings.Join(c, " → "))
	}
	return nil
}

// DeleteTransform removes a transform that has no active runs.
func (s *Service) DeleteTransform(ctx context.Context, name string) error {
	t, err := s.Store.GetTransform(ctx, name)
	if err != nil {
		return err
	}
	ts, err := s.Store.ListTransforms(ctx, "")
	if err != nil {
		return err
	}
	for _, o := range ts {
		if contains(o.Upstream, name) {
			return sparkflow.Errorf(sparkflow.Conflict, "transform %s waits for %s (its upstream); take %s out of its upstream first (sparkflow transform edit %s --upstream …)", o.Name, name, name, o.Name)
		}
	}
	active, err := s.Store.ListRuns(ctx, sparkflow.RunFilter{Transform: name, Active: true})
	if err != nil {
		return err
	}
	if len(active) > 0 {
		return sparkflow.Errorf(sparkflow.Conflict, "transform %s has %d active runs; cancel them or wait before deleting it", name, len(active))
	}
	// The schedule goes first: a transform is never left firing without its record.
	if s.Schedules != nil && t.Schedule != "" {
		if err := s.Schedules.DeleteSchedule(ctx, name); err != nil {
			return err
		}
	}
	return s.Store.DeleteTransform(ctx, name)
}
