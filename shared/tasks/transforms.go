package tasks

import (
	"context"

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
			return sparkflow.MissingError("pool", "pool %q does not exist; create it first (sparkflow pool create %s --tier small --clusters 1)", t.Pool, t.Pool)
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
