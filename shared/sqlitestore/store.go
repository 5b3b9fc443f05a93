// Package sqlitestore is the embedded home's Store: one SQLite database file (through the pure-Go
// modernc.org/sqlite driver) in the data directory. Records are JSON documents with the columns the
// queries need beside them; reservations and the per-pool FIFO are tables of their own so that the
// capacity and one-slot-per-run rules are enforced inside one transaction.
package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// Store implements sparkflow.Store on SQLite.
type Store struct {
	db *sql.DB
}

var _ sparkflow.Store = (*Store)(nil)

const schema = `
CREATE TABLE IF NOT EXISTS pools (name TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clusters (id TEXT PRIMARY KEY, pool TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS clusters_pool ON clusters(pool);
CREATE TABLE IF NOT EXISTS reservations (run_id TEXT PRIMARY KEY, cluster_id TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS reservations_cluster ON reservations(cluster_id);
CREATE TABLE IF NOT EXISTS transforms (name TEXT PRIMARY KEY, pool TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, transform TEXT NOT NULL, pool TEXT NOT NULL, status TEXT NOT NULL,
  terminal INTEGER NOT NULL, created INTEGER NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_created ON runs(created DESC, id DESC);
CREATE INDEX IF NOT EXISTS runs_transform ON runs(transform, created DESC);
CREATE INDEX IF NOT EXISTS runs_active ON runs(terminal, created);
CREATE TABLE IF NOT EXISTS waiters (pool TEXT NOT NULL, run_id TEXT NOT NULL, token TEXT NOT NULL, since INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (pool, run_id));
CREATE TABLE IF NOT EXISTS rejected (id TEXT PRIMARY KEY, at INTEGER NOT NULL, data TEXT NOT NULL);
`

// Open opens (creating if needed) the database at path. Use ":memory:" for a throwaway store.
func Open(path string) (*Store, error) {
	dsn := path
	if path != ":memory:" {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, err
		}
		dsn = "file:" + abs
	}
	dsn += "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// One connection: SQLite writes one at a time anyway, and this makes every transaction serial,
	// which is what the capacity rule needs.
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create schema in %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func nanos(t time.Time) int64 { return t.UnixNano() }

func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return sparkflow.Wrap(sparkflow.NotFound, err, "%s", op)
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "UNIQUE constraint") || strings.Contains(msg, "PRIMARY KEY"):
		return sparkflow.Wrap(sparkflow.Conflict, err, "%s", op)
	case strings.Contains(msg, "SQLITE_BUSY") || strings.Contains(msg, "database is locked"):
		return sparkflow.Wrap(sparkflow.Transient, err, "%s", op)
	}
	return sparkflow.Wrap(sparkflow.Internal, err, "%s", op)
}

func notFound(kind, name string) error {
	return sparkflow.Errorf(sparkflow.NotFound, "%s %q not found", kind, name)
}

func marshal(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // domain records always marshal
	}
	return string(b)
}

func (s *Store) getDoc(ctx context.Context, v any, query string, args ...any) error {
	var data string
	if err := s.db.QueryRowContext(ctx, query, args...).Scan(&data); err != nil {
		return err
	}
	return json.Unmarshal([]byte(data), v)
}

// --- pools ---

func (s *Store) CreatePool(ctx context.Context, p sparkflow.Pool) error {
	p.Version = 1
	_, err := s.db.ExecContext(ctx, `INSERT INTO pools(name, version, data) VALUES(?, 1, ?)`, p.Name, marshal(p))
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
	return list[sparkflow.Pool](ctx, s.db, `SELECT data FROM pools ORDER BY name`)
}

func (s *Store) UpdatePool(ctx context.Context, p sparkflow.Pool) (sparkflow.Pool, error) {
	old := p.Version
	p.Version++
	res, err := s.db.ExecContext(ctx, `UPDATE pools SET data = ?, version = ? WHERE name = ? AND version = ?`, marshal(p), p.Version, p.Name, old)
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
	res, err := s.db.ExecContext(ctx, `DELETE FROM pools WHERE name = ?`, name)
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

func list[T any](ctx context.Context, db *sql.DB, query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
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

// --- clusters ---

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

// --- reservations ---

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

// --- transforms ---

func (s *Store) CreateTransform(ctx context.Context, t sparkflow.Transform) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO transforms(name, pool, data) VALUES(?, ?, ?)`, t.Name, t.Pool, marshal(t))
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
		return list[sparkflow.Transform](ctx, s.db, `SELECT data FROM transforms WHERE pool = ? ORDER BY name`, pool)
	}
	return list[sparkflow.Transform](ctx, s.db, `SELECT data FROM transforms ORDER BY name`)
}

func (s *Store) UpdateTransform(ctx context.Context, t sparkflow.Transform) error {
	res, err := s.db.ExecContext(ctx, `UPDATE transforms SET pool = ?, data = ? WHERE name = ?`, t.Pool, marshal(t), t.Name)
	return affected("transform", t.Name, res, err)
}

func (s *Store) DeleteTransform(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM transforms WHERE name = ?`, name)
	return affected("transform", name, res, err)
}

// --- runs ---

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *Store) CreateRun(ctx context.Context, r sparkflow.Run) (bool, error) {
	r.Version = 1
	res, err := s.db.ExecContext(ctx, `INSERT INTO runs(id, transform, pool, status, terminal, created, version, data)
		VALUES(?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT(id) DO NOTHING`,
		r.ID, r.Transform, r.Pool, string(r.Status), boolInt(r.Status.Terminal()), nanos(r.CreatedAt), marshal(r))
	if err != nil {
		return false, classify("create run", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (s *Store) GetRun(ctx context.Context, id string) (sparkflow.Run, error) {
	var r sparkflow.Run
	err := s.getDoc(ctx, &r, `SELECT data FROM runs WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return r, notFound("run", id)
	}
	return r, classify("get run", err)
}

func (s *Store) UpdateRun(ctx context.Context, r sparkflow.Run) (sparkflow.Run, error) {
	old := r.Version
	r.Version++
	res, err := s.db.ExecContext(ctx, `UPDATE runs SET status = ?, terminal = ?, pool = ?, version = ?, data = ? WHERE id = ? AND version = ?`,
		string(r.Status), boolInt(r.Status.Terminal()), r.Pool, r.Version, marshal(r), r.ID, old)
	if err != nil {
		return r, classify("update run", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.GetRun(ctx, r.ID); err != nil {
			return r, err
		}
		return r, sparkflow.Errorf(sparkflow.Conflict, "run %s changed since version %d", r.ID, old)
	}
	return r, nil
}

func (s *Store) ListRuns(ctx context.Context, f sparkflow.RunFilter) ([]sparkflow.Run, error) {
	var where []string
	var args []any
	if f.Transform != "" {
		where, args = append(where, "transform = ?"), append(args, f.Transform)
	}
	if f.Pool != "" {
		where, args = append(where, "pool = ?"), append(args, f.Pool)
	}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, string(f.Status))
	}
	if f.Active {
		where = append(where, "terminal = 0")
	}
	q := `SELECT data FROM runs`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created DESC, id DESC"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	return list[sparkflow.Run](ctx, s.db, q, args...)
}

// --- waiters ---

func (s *Store) Enqueue(ctx context.Context, w sparkflow.Waiter) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO waiters(pool, run_id, token, since, seq)
		VALUES(?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM waiters))
		ON CONFLICT(pool, run_id) DO UPDATE SET token = excluded.token`, w.Pool, w.RunID, w.Token, nanos(w.Since))
	return classify("enqueue", err)
}

func (s *Store) Waiters(ctx context.Context, pool string, limit int) ([]sparkflow.Waiter, error) {
	q := `SELECT pool, run_id, token, since FROM waiters WHERE pool = ? ORDER BY since, seq`
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := s.db.QueryContext(ctx, q, pool)
	if err != nil {
		return nil, classify("waiters", err)
	}
	defer rows.Close()
	out := []sparkflow.Waiter{}
	for rows.Next() {
		var w sparkflow.Waiter
		var since int64
		if err := rows.Scan(&w.Pool, &w.RunID, &w.Token, &since); err != nil {
			return nil, classify("waiters", err)
		}
		w.Since = time.Unix(0, since).UTC()
		out = append(out, w)
	}
	return out, classify("waiters", rows.Err())
}

func (s *Store) RemoveWaiter(ctx context.Context, pool, runID string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM waiters WHERE pool = ? AND run_id = ?`, pool, runID)
	if err != nil {
		return false, classify("remove waiter", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// --- rejected ---

func (s *Store) PutRejected(ctx context.Context, r sparkflow.Rejected) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO rejected(id, at, data) VALUES(?, ?, ?) ON CONFLICT(id) DO NOTHING`, r.ID, nanos(r.At), marshal(r))
	return classify("put rejected", err)
}

func (s *Store) ListRejected(ctx context.Context, limit int) ([]sparkflow.Rejected, error) {
	q := `SELECT data FROM rejected ORDER BY at DESC`
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	return list[sparkflow.Rejected](ctx, s.db, q)
}
