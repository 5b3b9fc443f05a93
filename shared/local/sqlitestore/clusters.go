package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func (s *Store) CreateCluster(ctx context.Context, c sparkflow.Cluster) error {
	c.Reservations = nil
	c.Version = 1
	_, err := s.db.ExecContext(ctx, `INSERT INTO clusters(id, pool, version, data) VALUES(?, ?, 1, ?)`, c.ID, c.Pool, marshal(c))
	if sparkflow.IsCode(classify("", err), sparkflow.Conflict) {
		return sparkflow.Errorf(sparkflow.Conflict, "cluster %s exists already", c.ID)
	}
	return classify("create cluster", err)
}

func (s *Store) UpdateCluster(ctx context.Context, c sparkflow.Cluster) (sparkflow.Cluster, error) {
	res := c.Reservations
	old := c.Version
	c.Version++
	c.Reservations = nil
	r, err := s.db.ExecContext(ctx, `UPDATE clusters SET data = ?, version = ? WHERE id = ? AND version = ?`, marshal(c), c.Version, c.ID, old)
	c.Reservations = res
	if err != nil {
		return c, classify("update cluster", err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		if _, err := s.GetCluster(ctx, c.ID); err != nil {
			return c, err
		}
		return c, sparkflow.Errorf(sparkflow.Conflict, "cluster %s changed since version %d", c.ID, old)
	}
	return c, nil
}

func (s *Store) reservations(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, clusterID string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT run_id FROM reservations WHERE cluster_id = ? ORDER BY at, run_id`, clusterID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func (s *Store) GetCluster(ctx context.Context, id string) (sparkflow.Cluster, error) {
	var c sparkflow.Cluster
	err := s.getDoc(ctx, &c, `SELECT data FROM clusters WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return c, notFound("cluster", id)
	}
	if err != nil {
		return c, classify("get cluster", err)
	}
	c.Reservations, err = s.reservations(ctx, s.db, id)
	return c, classify("get cluster reservations", err)
}

func (s *Store) ListClusters(ctx context.Context, pool string) ([]sparkflow.Cluster, error) {
	q, args := `SELECT data FROM clusters ORDER BY id`, []any{}
	if pool != "" {
		q, args = `SELECT data FROM clusters WHERE pool = ? ORDER BY id`, []any{pool}
	}
	cs, err := list[sparkflow.Cluster](ctx, s.db, q, args...)
	if err != nil {
		return nil, err
	}
	for i := range cs {
		if cs[i].Reservations, err = s.reservations(ctx, s.db, cs[i].ID); err != nil {
			return nil, classify("list reservations", err)
		}
	}
	return cs, nil
}

func (s *Store) DeleteCluster(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM clusters WHERE id = ?`, id)
	if err := affected("cluster", id, res, err); err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `DELETE FROM reservations WHERE cluster_id = ?`, id)
	return classify("delete reservations", err)
}

func (s *Store) Reserve(ctx context.Context, runID, clusterID string) (string, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", classify("reserve", err)
	}
	defer tx.Rollback()
	var held string
	err = tx.QueryRowContext(ctx, `SELECT cluster_id FROM reservations WHERE run_id = ?`, runID).Scan(&held)
	if err == nil {
		return held, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", classify("reserve", err)
	}
	var data string
	if err := tx.QueryRowContext(ctx, `SELECT data FROM clusters WHERE id = ?`, clusterID).Scan(&data); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return "", notFound("cluster", clusterID)
		}
		return "", classify("reserve", err)
	}
	var c sparkflow.Cluster
	if err := json.Unmarshal([]byte(data), &c); err != nil {
		return "", classify("reserve", err)
	}
	if !c.State.Ready() {
		return "", sparkflow.Errorf(sparkflow.Conflict, "cluster %s is %s, not ready", clusterID, c.State)
	}
	var used int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM reservations WHERE cluster_id = ?`, clusterID).Scan(&used); err != nil {
		return "", classify("reserve", err)
	}
	if used >= c.Capacity {
		return "", sparkflow.Errorf(sparkflow.Conflict, "cluster %s is full (%d of %d slots held)", clusterID, used, c.Capacity)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO reservations(run_id, cluster_id, at) VALUES(?, ?, ?)`, runID, clusterID, time.Now().UnixNano()); err != nil {
		return "", classify("reserve", err)
	}
	return clusterID, classify("reserve", tx.Commit())
}

func (s *Store) Release(ctx context.Context, runID, clusterID string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM reservations WHERE run_id = ? AND cluster_id = ?`, runID, clusterID)
	return classify("release", err)
}
