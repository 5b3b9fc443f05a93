package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func (s *Store) CreatePool(ctx context.Context, p sparkflow.Pool) error {
	p.Version = 1
	_, err := s.wr.exec(ctx, `INSERT INTO pools(name, version, data) VALUES(?, 1, ?)`, p.Name, marshal(p))
	if sparkflow.IsCode(classify("", err), sparkflow.Conflict) {
		return sparkflow.Errorf(sparkflow.Conflict, "pool %q exists already", p.Name)
	}
	return classify("create pool", err)
}

func (s *Store) GetPool(ctx context.Context, name string) (sparkflow.Pool, error) {
	var p sparkflow.Pool
	err := s.getDoc(ctx, &p, `SELECT data FROM pools WHERE name = ?`, name)
	if errors.Is(err, sql.ErrNoRows) {
		return p, notFound("pool", name)
	}
	return p, classify("get pool", err)
}

func (s *Store) ListPools(ctx context.Context) ([]sparkflow.Pool, error) {
	return list[sparkflow.Pool](ctx, s.r, `SELECT data FROM pools ORDER BY name`)
}

func (s *Store) UpdatePool(ctx context.Context, p sparkflow.Pool) (sparkflow.Pool, error) {
	old := p.Version
	p.Version++
	res, err := s.wr.exec(ctx, `UPDATE pools SET data = ?, version = ? WHERE name = ? AND version = ?`, marshal(p), p.Version, p.Name, old)
	if err != nil {
		return p, classify("update pool", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.GetPool(ctx, p.Name); err != nil {
			return p, err
		}
		return p, sparkflow.Errorf(sparkflow.Conflict, "pool %s changed since version %d", p.Name, old)
	}
	return p, nil
}

func (s *Store) DeletePool(ctx context.Context, name string) error {
	res, err := s.wr.exec(ctx, `DELETE FROM pools WHERE name = ?`, name)
	return affected("pool", name, res, err)
}

func affected(kind, name string, res sql.Result, err error) error {
	if err != nil {
		return classify(kind, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound(kind, name)
	}
	return nil
}

func list[T any](ctx context.Context, db *conn, query string, args ...any) ([]T, error) {
	rows, err := db.query(ctx, query, args...)
	if err != nil {
		return nil, classify("list", err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, classify("list", err)
		}
		var v T
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			return nil, classify("decode", err)
		}
		out = append(out, v)
	}
	return out, classify("list", rows.Err())
}
