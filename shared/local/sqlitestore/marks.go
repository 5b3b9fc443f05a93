package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// A schedule's mark is the local scheduler's memory of a transform's schedule: the last firing it
// handled and the schedule it handled it for (expression, zone, paused), so that a restarted engine
// knows what it missed.

// ScheduleMark returns the transform's mark (ok false when there is none).
func (s *Store) ScheduleMark(ctx context.Context, transform string) (last time.Time, spec string, ok bool, err error) {
	var at int64
	err = s.r.queryRow(ctx, `SELECT last, spec FROM schedule_marks WHERE transform = ?`, transform).Scan(&at, &spec)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, "", false, nil
	}
	if err != nil {
		return time.Time{}, "", false, classify("schedule mark", err)
	}
	return time.Unix(0, at).UTC(), spec, true, nil
}

// SetScheduleMark records the transform's mark.
func (s *Store) SetScheduleMark(ctx context.Context, transform string, last time.Time, spec string) error {
	_, err := s.wr.exec(ctx, `INSERT INTO schedule_marks(transform, last, spec) VALUES(?, ?, ?) ON CONFLICT(transform) DO UPDATE SET last = excluded.last, spec = excluded.spec`, transform, last.UnixNano(), spec)
	return classify("set schedule mark", err)
}

// DeleteScheduleMark forgets the transform's mark.
func (s *Store) DeleteScheduleMark(ctx context.Context, transform string) error {
	_, err := s.wr.exec(ctx, `DELETE FROM schedule_marks WHERE transform = ?`, transform)
	return classify("delete schedule mark", err)
}
