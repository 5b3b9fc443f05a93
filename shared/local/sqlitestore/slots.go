package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// A run's slot is its row in the reservations table (one a run: the one-slot-per-run rule), and its
// cluster's capacity is checked by counting that cluster's rows, all inside the write that takes it.
// Reserve and Release are such writes on their own; CreateRunOn and UpdateRunSlot make them in the
// same transaction as the run's own row.

// Reserve checks and takes the slot in one atomic write (its reads are inside it, on the writer). A
// slot held for this attempt already (a grant a Reserve confirms) is read, without the writer.
func (s *Store) Reserve(ctx context.Context, runID string, attempt int, clusterID string) (string, error) {
	var held string
	var heldFor int
	if err := s.r.queryRow(ctx, `SELECT cluster_id, attempt FROM reservations WHERE run_id = ?`, runID).Scan(&held, &heldFor); err == nil && heldFor >= attempt {
		return held, nil
	}
	var got string
	err := s.wr.do(ctx, func(x execer) error {
		var one int
		if err := x.queryRow(ctx, `SELECT 1 FROM runs WHERE id = ?`, runID).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return notFound("run", runID)
			}
			return err
		}
		var err error
		got, err = reserveIn(ctx, x, &s.docs, runID, attempt, clusterID)
		return err
	})
	if err != nil {
		return "", domainErr("reserve", err)
	}
	return got, nil
}

// domainErr classifies err unless it is a domain error already.
func domainErr(op string, err error) error {
	var se *sparkflow.Error
	if errors.As(err, &se) {
		return err
	}
	return classify(op, err)
}

// Held reads the run's reservation.
func (s *Store) Held(ctx context.Context, runID string) (string, int, error) {
	var held string
	var heldFor int
	err := s.r.queryRow(ctx, `SELECT cluster_id, attempt FROM reservations WHERE run_id = ?`, runID).Scan(&held, &heldFor)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, classify("held", err)
	}
	return held, heldFor, nil
}

// reserveIn is Reserve inside a write: the cluster the run holds a slot on (made this attempt's when
// it was held for an earlier one), or a slot of clusterID taken for it.
func reserveIn(ctx context.Context, x execer, docs *clusterDocs, runID string, attempt int, clusterID string) (string, error) {
	var held string
	var heldFor int
	err := x.queryRow(ctx, `SELECT cluster_id, attempt FROM reservations WHERE run_id = ?`, runID).Scan(&held, &heldFor)
	if err == nil {
		if heldFor < attempt {
			if _, err := x.exec(ctx, `UPDATE reservations SET attempt = ? WHERE run_id = ?`, attempt, runID); err != nil {
				return "", err
			}
		}
		return held, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	if err := takeIn(ctx, x, docs, runID, attempt, clusterID); err != nil {
		return "", err
	}
	return clusterID, nil
}

// takeIn takes a slot of clusterID for a run that holds none: ErrNoSlot when the cluster is not ready
// or full.
func takeIn(ctx context.Context, x execer, docs *clusterDocs, runID string, attempt int, clusterID string) error {
	// The cluster's row keeps who holds its slots (held), written in the same writes as the
	// reservations: counted there.
	var data, held string
	if err := x.queryRow(ctx, `SELECT data, held FROM clusters WHERE id = ?`, clusterID).Scan(&data, &held); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("cluster", clusterID)
		}
		return err
	}
	c, err := docs.cluster(data)
	if err != nil {
		return err
	}
	if !c.State.Ready() {
		return sparkflow.Wrap(sparkflow.Conflict, sparkflow.ErrNoSlot, "cluster %s is %s, not ready", clusterID, c.State)
	}
	if used := len(splitHeld(held)); used >= c.Capacity {
		return sparkflow.Wrap(sparkflow.Conflict, sparkflow.ErrNoSlot, "cluster %s is full (%d of %d slots held)", clusterID, used, c.Capacity)
	}
	if _, err := x.exec(ctx, `INSERT INTO reservations(run_id, cluster_id, at, attempt) VALUES(?, ?, ?, ?)`, runID, clusterID, time.Now().UnixNano(), attempt); err != nil {
		return err
	}
	return hold(ctx, x, clusterID, runID)
}

// Release frees the slot and notes when (the cluster's FreedAt: its idle time starts again).
func (s *Store) Release(ctx context.Context, runID string, attempt int, clusterID string, at time.Time) error {
	return classify("release", s.wr.do(ctx, func(x execer) error { return releaseIn(ctx, x, runID, attempt, clusterID, at) }))
}

// releaseIn is Release inside a write.
func releaseIn(ctx context.Context, x execer, runID string, attempt int, clusterID string, at time.Time) error {
	res, err := x.exec(ctx, `DELETE FROM reservations WHERE run_id = ? AND cluster_id = ? AND (? = 0 OR attempt <= ?)`, runID, clusterID, attempt, attempt)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	if err := unhold(ctx, x, clusterID, runID); err != nil {
		return err
	}
	_, err = x.exec(ctx, `INSERT INTO freed(cluster_id, at) VALUES(?, ?) ON CONFLICT(cluster_id) DO UPDATE SET at = excluded.at`, clusterID, at.UnixNano())
	return err
}

// CreateRunOn creates the run and takes its slot in one transaction.
func (s *Store) CreateRunOn(ctx context.Context, r sparkflow.Run, clusterID string) (bool, error) {
	r.Version = 1
	created := false
	err := s.wr.do(ctx, func(x execer) error {
		created = false
		res, err := x.exec(ctx, `INSERT INTO runs(id, transform, pool, status, terminal, created, version, data)
			VALUES(?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT(id) DO NOTHING`,
			r.ID, r.Transform, r.Pool, string(r.Status), boolInt(r.Status.Terminal()), nanos(r.CreatedAt), marshal(r))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // a run of that id exists: nothing taken
		}
		var stale int
		if err := x.queryRow(ctx, `SELECT COUNT(*) FROM reservations WHERE run_id = ?`, r.ID).Scan(&stale); err != nil {
			return err
		}
		if stale > 0 {
			return sparkflow.Wrap(sparkflow.Conflict, sparkflow.ErrHeld, "run %s holds a slot already", r.ID)
		}
		if err := takeIn(ctx, x, &s.docs, r.ID, r.Attempt, clusterID); err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return false, domainErr("create run", err)
	}
	if created {
		s.runs.put(r, 1)
	}
	return created, nil
}

// UpdateRunSlot writes the run and changes its slot in one transaction.
func (s *Store) UpdateRunSlot(ctx context.Context, r sparkflow.Run, ch sparkflow.SlotChange) (sparkflow.Run, error) {
	old := r.Version
	r.Version++
	err := s.wr.do(ctx, func(x execer) error {
		if ch.Take != "" {
			var held string
			var heldFor int
			err := x.queryRow(ctx, `SELECT cluster_id, attempt FROM reservations WHERE run_id = ?`, r.ID).Scan(&held, &heldFor)
			switch {
			case err == nil && (held != ch.Take || heldFor < r.Attempt):
				return sparkflow.Wrap(sparkflow.Conflict, sparkflow.ErrHeld, "run %s holds a slot on %s for attempt %d", r.ID, held, heldFor)
			case errors.Is(err, sql.ErrNoRows):
				if err := takeIn(ctx, x, &s.docs, r.ID, r.Attempt, ch.Take); err != nil {
					return err
				}
			case err != nil:
				return err
			}
		}
		if ch.Free != "" {
			if err := releaseIn(ctx, x, r.ID, ch.FreeAttempt, ch.Free, ch.At); err != nil {
				return err
			}
		}
		res, err := x.exec(ctx, `UPDATE runs SET status = ?, terminal = ?, version = ?, data = ? WHERE id = ? AND version = ?`,
			string(r.Status), boolInt(r.Status.Terminal()), r.Version, marshal(r), r.ID, old)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var one int
			if err := x.queryRow(ctx, `SELECT 1 FROM runs WHERE id = ?`, r.ID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
				return notFound("run", r.ID)
			}
			return sparkflow.Errorf(sparkflow.Conflict, "run %s changed since version %d", r.ID, old)
		}
		return nil
	})
	if err != nil {
		return r, domainErr("update run", err)
	}
	s.runs.put(r, r.Version)
	return r, nil
}
