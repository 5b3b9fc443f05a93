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
