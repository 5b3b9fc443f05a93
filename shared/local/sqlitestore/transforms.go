package sqlitestore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func (s *Store) CreateTransform(ctx context.Context, t sparkflow.Transform) error {
	_, err := s.wr.exec(ctx, `INSERT INTO transforms(name, pool, data) VALUES(?, ?, ?)`, t.Name, t.Pool, marshal(t))
	if sparkflow.IsCode(classify("", err), sparkflow.Conflict) {
		return sparkflow.Errorf(sparkflow.Conflict, "transform %q exists already", t.Name)
	}
	return classify("create transform", err)
}

func (s *Store) GetTransform(ctx context.Context, name string) (sparkflow.Transform, error) {
	var t sparkflow.Transform
	err := s.getDoc(ctx, &t, `SELECT data FROM transforms WHERE name = ?`, name)
	if errors.Is(err, sql.ErrNoRows) {
		return t, notFound("transform", name)
	}
	return t, classify("get transform", err)
}

func (s *Store) ListTransforms(ctx context.Context, pool string) ([]sparkflow.Transform, error) {
	if pool != "" {
		return list[sparkflow.Transform](ctx, s.r, `SELECT data FROM transforms WHERE pool = ? ORDER BY name`, pool)
	}
	return list[sparkflow.Transform](ctx, s.r, `SELECT data FROM transforms ORDER BY name`)
}

func (s *Store) UpdateTransform(ctx context.Context, t sparkflow.Transform) error {
	res, err := s.wr.exec(ctx, `UPDATE transforms SET pool = ?, data = ? WHERE name = ?`, t.Pool, marshal(t), t.Name)
	return affected("transform", t.Name, res, err)
}

func (s *Store) DeleteTransform(ctx context.Context, name string) error {
	res, err := s.wr.exec(ctx, `DELETE FROM transforms WHERE name = ?`, name)
	return affected("transform", name, res, err)
}
