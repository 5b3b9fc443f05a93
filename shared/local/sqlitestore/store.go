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
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// Store implements sparkflow.Store on SQLite: one writer connection, owned by a goroutine that makes
// the writes in batches of one transaction each (group commit, writer.go; SQLite writes one at a time
// anyway, and every rule a write enforces is checked inside its batch, in order), and a small pool of
// reader connections beside it (WAL lets them read while it writes), each statement prepared once.
type Store struct {
	wr   writer
	r    *conn
	cp   *checkpointer
	runs runCache
	docs clusterDocs
}

// readers is the size of the reader pool.
const readers = 4

// conn is a database handle with its prepared statements.
type conn struct {
	db    *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func (c *conn) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	st := c.stmts[q]
	c.mu.Unlock()
	if st != nil {
		return st, nil
	}
	// Prepared without the lock: preparing waits for a connection, which a transaction that takes
	// the lock next (inTx) may hold.
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stmts == nil {
		st.Close()
		return nil, errors.New("the database is closed")
	}
	if had := c.stmts[q]; had != nil {
		st.Close()
		return had, nil
	}
	c.stmts[q] = st
	return st, nil
}

func (c *conn) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := c.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (c *conn) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := c.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (c *conn) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := c.stmt(ctx, q)
	if err != nil {
		return c.db.QueryRowContext(ctx, q, args...) // reports the same error
	}
	return st.QueryRowContext(ctx, args...)
}

func (c *conn) close() error {
	c.mu.Lock()
	for _, st := range c.stmts {
		st.Close()
	}
	c.stmts = nil
	c.mu.Unlock()
	return c.db.Close()
}

var _ sparkflow.Store = (*Store)(nil)

const schema = `
CREATE TABLE IF NOT EXISTS pools (name TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clusters (id TEXT PRIMARY KEY, pool TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS clusters_pool ON clusters(pool);
CREATE TABLE IF NOT EXISTS reservations (run_id TEXT PRIMARY KEY, cluster_id TEXT NOT NULL, at INTEGER NOT NULL, attempt INTEGER NOT NULL DEFAULT 0);
DROP INDEX IF EXISTS reservations_cluster;
CREATE INDEX IF NOT EXISTS reservations_cluster_at ON reservations(cluster_id, at, run_id);
CREATE TABLE IF NOT EXISTS freed (cluster_id TEXT PRIMARY KEY, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS transforms (name TEXT PRIMARY KEY, pool TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, transform TEXT NOT NULL, pool TEXT NOT NULL, status TEXT NOT NULL,
  terminal INTEGER NOT NULL, created INTEGER NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_created ON runs(created DESC, id DESC);
DROP INDEX IF EXISTS runs_transform;
CREATE INDEX IF NOT EXISTS runs_transform_created ON runs(transform, created DESC, id DESC);
CREATE INDEX IF NOT EXISTS runs_pool_created ON runs(pool, created DESC, id DESC);
CREATE INDEX IF NOT EXISTS runs_status_created ON runs(status, created DESC, id DESC);
CREATE INDEX IF NOT EXISTS runs_active ON runs(terminal, created);
CREATE TABLE IF NOT EXISTS waiters (pool TEXT NOT NULL, run_id TEXT NOT NULL, token TEXT NOT NULL, since INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (pool, run_id));
DROP INDEX IF EXISTS waiters_order;
CREATE INDEX IF NOT EXISTS waiters_seq ON waiters(seq);
CREATE TABLE IF NOT EXISTS places (transform TEXT NOT NULL, run_id TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (transform, run_id));
CREATE TABLE IF NOT EXISTS schedule_marks (transform TEXT PRIMARY KEY, last INTEGER NOT NULL, spec TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rejected (id TEXT PRIMARY KEY, at INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS health (id INTEGER PRIMARY KEY, at INTEGER NOT NULL);
`

// Ping proves the database writable: it writes one row (the health probe's time) through the writer,
// as every record's write goes.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.wr.exec(ctx, `INSERT INTO health(id, at) VALUES(1, ?) ON CONFLICT(id) DO UPDATE SET at = excluded.at`, time.Now().UnixNano())
	return err
}

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
	pragmas := "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	// The writer does not checkpoint the WAL into the database file as it commits (a commit that did
	// was a write's slowest by far: the p99 of a run's way to its step); the checkpointer does, in the
	// background (checkpoint.go). walBackstop bounds the WAL should it fall behind.
	db, err := sql.Open("sqlite", dsn+pragmas+fmt.Sprintf("&_pragma=wal_autocheckpoint(%d)", walBackstop)+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// One writer connection: SQLite writes one at a time anyway, and this makes every transaction
	// serial, which is what the capacity rule needs.
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create schema in %s: %w", path, err)
	}
	if err := migrateQueue(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate the queue in %s: %w", path, err)
	}
	if err := addColumn(db, "reservations", "attempt", "INTEGER NOT NULL DEFAULT 0"); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate the reservations in %s: %w", path, err)
	}
	if err := addColumn(db, "clusters", "held", "TEXT NOT NULL DEFAULT ''"); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate the clusters in %s: %w", path, err)
	}
	if err := rebuildHeld(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("read the reservations in %s: %w", path, err)
	}
	if path == ":memory:" {
		// A memory database is private to its connection: it reads and writes on that one.
		c := &conn{db: db, stmts: map[string]*sql.Stmt{}}
		return &Store{wr: directWriter{c}, r: c}, nil
	}
	wr, err := newGroupWriter(db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	rdb, err := sql.Open("sqlite", dsn+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		wr.close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(readers)
	rdb.SetMaxIdleConns(readers)
	cp, err := startCheckpointer(dsn + pragmas)
	if err != nil {
		rdb.Close()
		wr.close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s := &Store{wr: wr, r: &conn{db: rdb, stmts: map[string]*sql.Stmt{}}, cp: cp}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	if d, ok := s.wr.(directWriter); ok && d.c == s.r {
		return s.r.close()
	}
	return errors.Join(s.cp.close(), s.r.close(), s.wr.close())
}

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
	if err := s.r.queryRow(ctx, query, args...).Scan(&data); err != nil {
		return err
	}
	return json.Unmarshal([]byte(data), v)
}

// migrateQueue gives the waiters their queue position (pos: the accepted time moved by the run's
// priority, sparkflow.QueueKey) and priority, in a database made before priorities: its waiters keep
// their order (normal priority).
// addColumn adds a column to a table made by an older version, once.
func addColumn(db *sql.DB, table, column, decl string) error {
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?`, table, column).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	_, err := db.Exec(`ALTER TABLE ` + table + ` ADD COLUMN ` + column + ` ` + decl)
	return err
}

func migrateQueue(db *sql.DB) error {
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM pragma_table_info('waiters') WHERE name = 'pos'`).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		for _, q := range []string{
			`ALTER TABLE waiters ADD COLUMN pos INTEGER NOT NULL DEFAULT 0`,
			`ALTER TABLE waiters ADD COLUMN priority TEXT NOT NULL DEFAULT ''`,
			`UPDATE waiters SET pos = since`,
		} {
			if _, err := db.Exec(q); err != nil {
				return err
			}
		}
	}
	_, err := db.Exec(`CREATE INDEX IF NOT EXISTS waiters_pos ON waiters(pool, pos, seq)`)
	return err
}
