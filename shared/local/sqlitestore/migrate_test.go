package sqlitestore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/sparkflow/sparkflow/shared/local/sqlitestore"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// A database made before priorities keeps its queue: its waiters are served in their order, as
// normal runs, and new ones take their place by priority among them.
func TestQueueOfADatabaseBeforePriorities(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, q := range []string{
		`CREATE TABLE waiters (pool TEXT NOT NULL, run_id TEXT NOT NULL, token TEXT NOT NULL, since INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (pool, run_id))`,
		`CREATE INDEX waiters_order ON waiters(pool, since, seq)`,
	} {
		if _, err := old.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for i, id := range []string{"first", "second"} {
		if _, err := old.Exec(`INSERT INTO waiters VALUES('etl', ?, '', ?, ?)`, id, t0.Add(time.Duration(i)*time.Minute).UnixNano(), i+1); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()
	s, err := sqlitestore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Enqueue(ctx, sparkflow.Waiter{Pool: "etl", RunID: "urgent", Since: t0.Add(10 * time.Minute), Priority: sparkflow.PriorityHigh}); err != nil {
		t.Fatal(err)
	}
	ws, err := s.Waiters(ctx, "etl", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 3 || ws[0].RunID != "urgent" || ws[1].RunID != "first" || ws[2].RunID != "second" || !ws[1].Since.Equal(t0) {
		t.Fatalf("queue after the migration: %+v", ws)
	}
}

// A database made before reservations knew their attempt keeps its slots: each counts as an earlier
// attempt's, so the run's next Reserve takes it over, and a release for any attempt frees it.
func TestReservationsOfADatabaseBeforeAttempts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE clusters (id TEXT PRIMARY KEY, pool TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL)`,
		`CREATE TABLE reservations (run_id TEXT PRIMARY KEY, cluster_id TEXT NOT NULL, at INTEGER NOT NULL)`,
		`INSERT INTO clusters VALUES('j-1', 'etl', 1, '{"id":"j-1","pool":"etl","state":"WAITING","capacity":1,"version":1}')`,
		`INSERT INTO reservations VALUES('r1', 'j-1', 1)`,
	} {
		if _, err := old.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()
	s, err := sqlitestore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if got, err := s.Reserve(ctx, "r1", 1, "j-1"); err != nil || got != "j-1" {
		t.Fatalf("Reserve of the run holding the old slot = %s, %v", got, err)
	}
	if err := s.Release(ctx, "r1", 0, "j-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if c, err := s.GetCluster(ctx, "j-1"); err != nil || len(c.Reservations) != 0 {
		t.Fatalf("after the release: %+v %v", c, err)
	}
}
