package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *Store) CreateRun(ctx context.Context, r sparkflow.Run) (bool, error) {
	r.Version = 1
	res, err := s.wr.exec(ctx, `INSERT INTO runs(id, transform, pool, status, terminal, created, version, data)
		VALUES(?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT(id) DO NOTHING`,
		r.ID, r.Transform, r.Pool, string(r.Status), boolInt(r.Status.Terminal()), nanos(r.CreatedAt), marshal(r))
	if err != nil {
		return false, classify("create run", err)
	}
	n, _ := res.RowsAffected()
	if n == 1 {
		s.runs.put(r, 1)
	}
	return n == 1, nil
}

// GetRun reads the run's row version, and its document only when the run kept (runCache) is not of
// that version.
func (s *Store) GetRun(ctx context.Context, id string) (sparkflow.Run, error) {
	kept, want := s.runs.get(id)
	var version int64
	var data string
	err := s.r.queryRow(ctx, `SELECT version, CASE version WHEN ? THEN '' ELSE data END FROM runs WHERE id = ?`, want, id).Scan(&version, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return sparkflow.Run{}, notFound("run", id)
	}
	if err != nil {
		return sparkflow.Run{}, classify("get run", err)
	}
	if version == want {
		return kept.Clone(), nil
	}
	var r sparkflow.Run
	if err := json.Unmarshal([]byte(data), &r); err != nil {
		return r, classify("get run", err)
	}
	s.runs.put(r, version)
	return r, nil
}

// GetRunCached is the run as this store last read or wrote it, without asking the database (GetRun
// when it keeps none): it may be stale (another writer's change since), so it is for a read whose
// write is made on the version read (tasks: mutate), which catches that.
func (s *Store) GetRunCached(ctx context.Context, id string) (sparkflow.Run, error) {
	if kept, v := s.runs.get(id); v >= 0 {
		return kept.Clone(), nil
	}
	return s.GetRun(ctx, id)
}

func (s *Store) UpdateRun(ctx context.Context, r sparkflow.Run) (sparkflow.Run, error) {
	old := r.Version
	r.Version++
	// (A run's pool, transform and creation time never change: their indexes are not touched.)
	res, err := s.wr.exec(ctx, `UPDATE runs SET status = ?, terminal = ?, version = ?, data = ? WHERE id = ? AND version = ?`,
		string(r.Status), boolInt(r.Status.Terminal()), r.Version, marshal(r), r.ID, old)
	if err != nil {
		return r, classify("update run", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.GetRun(ctx, r.ID); err != nil {
			return r, err
		}
		return r, sparkflow.Errorf(sparkflow.Conflict, "run %s changed since version %d", r.ID, old)
	}
	s.runs.put(r, r.Version)
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
	return list[sparkflow.Run](ctx, s.r, q, args...)
}

func (s *Store) Enqueue(ctx context.Context, w sparkflow.Waiter) error {
	// A run already in its place (taken when it was accepted) is most calls: a read answers them.
	var token string
	err := s.r.queryRow(ctx, `SELECT token FROM waiters WHERE pool = ? AND run_id = ?`, w.Pool, w.RunID).Scan(&token)
	if err == nil && (w.Token == "" || w.Token == token) {
		return nil
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return classify("enqueue", err)
	}
	_, err = s.wr.exec(ctx, `INSERT INTO waiters(pool, run_id, token, since, seq, pos, priority)
		VALUES(?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM waiters), ?, ?)
		ON CONFLICT(pool, run_id) DO UPDATE SET token = CASE excluded.token WHEN '' THEN token ELSE excluded.token END`, w.Pool, w.RunID, w.Token, nanos(w.Since),
		nanos(sparkflow.QueueKey(w.Since, w.Priority)), string(w.Priority))
	return classify("enqueue", err)
}

func (s *Store) Waiters(ctx context.Context, pool string, limit int) ([]sparkflow.Waiter, error) {
	q := `SELECT pool, run_id, token, since, priority FROM waiters WHERE pool = ? ORDER BY pos, seq`
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := s.r.query(ctx, q, pool)
	if err != nil {
		return nil, classify("waiters", err)
	}
	defer rows.Close()
	out := []sparkflow.Waiter{}
	for rows.Next() {
		var w sparkflow.Waiter
		var since int64
		if err := rows.Scan(&w.Pool, &w.RunID, &w.Token, &since, &w.Priority); err != nil {
			return nil, classify("waiters", err)
		}
		w.Since = time.Unix(0, since).UTC()
		out = append(out, w)
	}
	return out, classify("waiters", rows.Err())
}

func (s *Store) RemoveWaiter(ctx context.Context, pool, runID string) (bool, error) {
	// Most calls find no place (a run granted a slot at once, an ended run): a read answers them
	// without a turn of the writer.
	var one int
	err := s.r.queryRow(ctx, `SELECT 1 FROM waiters WHERE pool = ? AND run_id = ?`, pool, runID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, classify("remove waiter", err)
	}
	res, err := s.wr.exec(ctx, `DELETE FROM waiters WHERE pool = ? AND run_id = ?`, pool, runID)
	if err != nil {
		return false, classify("remove waiter", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (s *Store) PutRejected(ctx context.Context, r sparkflow.Rejected) error {
	_, err := s.wr.exec(ctx, `INSERT INTO rejected(id, at, data) VALUES(?, ?, ?) ON CONFLICT(id) DO NOTHING`, r.ID, nanos(r.At), marshal(r))
	return classify("put rejected", err)
}

func (s *Store) ListRejected(ctx context.Context, limit int) ([]sparkflow.Rejected, error) {
	q := `SELECT data FROM rejected ORDER BY at DESC`
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	return list[sparkflow.Rejected](ctx, s.r, q)
}
