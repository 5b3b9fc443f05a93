package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Admit gives run one of transform's places if it holds none and fewer than limit are held: one
// transaction on the single writer, so two admissions never both take the last place.
func (s *Store) Admit(ctx context.Context, transform, runID string, limit int) (bool, error) {
	ok := false
	err := s.wr.do(ctx, func(x execer) error {
		var one int
		err := x.queryRow(ctx, `SELECT 1 FROM places WHERE transform = ? AND run_id = ?`, transform, runID).Scan(&one)
		if err == nil {
			ok = true
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return classify("admit", err)
		}
		var held int
		if err := x.queryRow(ctx, `SELECT COUNT(*) FROM places WHERE transform = ?`, transform).Scan(&held); err != nil {
			return classify("admit", err)
		}
		if held >= limit {
			return nil
		}
		if _, err := x.exec(ctx, `INSERT INTO places(transform, run_id, at) VALUES(?, ?, ?)`, transform, runID, time.Now().UnixNano()); err != nil {
			return classify("admit", err)
		}
		ok = true
		return nil
	})
	return ok, err
}

// Leave gives run's place of transform back.
func (s *Store) Leave(ctx context.Context, transform, runID string) error {
	_, err := s.wr.exec(ctx, `DELETE FROM places WHERE transform = ? AND run_id = ?`, transform, runID)
	return classify("leave", err)
}

// Places lists the runs holding a place of transform, in the order they took them.
func (s *Store) Places(ctx context.Context, transform string) ([]string, error) {
	rows, err := s.r.query(ctx, `SELECT run_id FROM places WHERE transform = ? ORDER BY at, run_id`, transform)
	if err != nil {
		return nil, classify("places", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, classify("places", err)
		}
		out = append(out, id)
	}
	return out, classify("places", rows.Err())
}
