package sqlitestore_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
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
	recordRuns(t, s, "r1")
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

// A database made before clusters kept a copy of their reservations lists them from the table: the
// runs holding a cluster's slots, in the order they reserved, are there at once, and a full cluster
// stays full.
func TestHeldSlotsOfADatabaseBeforeTheirCopy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE clusters (id TEXT PRIMARY KEY, pool TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL)`,
		`CREATE TABLE reservations (run_id TEXT PRIMARY KEY, cluster_id TEXT NOT NULL, at INTEGER NOT NULL, attempt INTEGER NOT NULL DEFAULT 0)`,
		`INSERT INTO clusters VALUES('j-1', 'etl', 1, '{"id":"j-1","pool":"etl","state":"WAITING","capacity":2,"version":1}')`,
		`INSERT INTO clusters VALUES('j-2', 'etl', 1, '{"id":"j-2","pool":"etl","state":"WAITING","capacity":2,"version":1}')`,
		`INSERT INTO reservations VALUES('late', 'j-1', 2, 1)`,
		`INSERT INTO reservations VALUES('early', 'j-1', 1, 1)`,
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
	cs, err := s.ListClusters(ctx, "etl")
	if err != nil || len(cs) != 2 {
		t.Fatalf("ListClusters = %+v, %v", cs, err)
	}
	if got := cs[0].Reservations; len(got) != 2 || got[0] != "early" || got[1] != "late" || len(cs[1].Reservations) != 0 {
		t.Fatalf("held after the migration: %v and %v; want [early late] and []", got, cs[1].Reservations)
	}
	recordRuns(t, s, "third")
	if _, err := s.Reserve(ctx, "third", 1, "j-1"); !sparkflow.IsCode(err, sparkflow.Conflict) {
		t.Fatalf("Reserve on the full cluster = %v; want a conflict", err)
	}
}

// The clusters' copy of who holds their slots is the reservations table's, after any mix of
// reservations and releases and after a reopen.
func TestHeldSlotsMatchTheReservations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := sqlitestore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, id := range []string{"j-1", "j-2"} {
		if err := s.CreateCluster(ctx, sparkflow.Cluster{ID: id, Pool: "etl", State: sparkflow.ClusterWaiting, Capacity: 5}); err != nil {
			t.Fatal(err)
		}
	}
	held := map[string]string{} // run → cluster, as the test did it
	for i := 0; i < 13; i++ {
		recordRuns(t, s, fmt.Sprintf("r%d", i))
	}
	for i := 0; i < 200; i++ {
		run := fmt.Sprintf("r%d", i%13)
		cl := []string{"j-1", "j-2"}[i%2]
		if c, ok := held[run]; ok && i%3 != 0 {
			if err := s.Release(ctx, run, 0, c, time.Now()); err != nil {
				t.Fatal(err)
			}
			delete(held, run)
			continue
		}
		got, err := s.Reserve(ctx, run, 1, cl)
		if sparkflow.IsCode(err, sparkflow.Conflict) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		held[run] = got
	}
	check := func(when string) {
		t.Helper()
		cs, err := s.ListClusters(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range cs {
			if len(c.Reservations) > c.Capacity {
				t.Fatalf("%s: %s holds %v, over its %d slots", when, c.ID, c.Reservations, c.Capacity)
			}
			for _, r := range c.Reservations {
				if held[r] != c.ID {
					t.Fatalf("%s: %s lists %s, which holds %q", when, c.ID, r, held[r])
				}
				n++
			}
			one, err := s.GetCluster(ctx, c.ID)
			if err != nil || strings.Join(one.Reservations, ",") != strings.Join(c.Reservations, ",") {
				t.Fatalf("%s: GetCluster(%s) holds %v, ListClusters %v (%v)", when, c.ID, one.Reservations, c.Reservations, err)
			}
		}
		if n != len(held) {
			t.Fatalf("%s: the clusters list %d holders; %d runs hold a slot", when, n, len(held))
		}
	}
	check("after the changes")
	s.Close()
	if s, err = sqlitestore.Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check("after a reopen")
}

// A slot freed by an older SparkFlow (which knows only the reservations table) is free after the next
// open: the copy is written again from the table.
func TestHeldSlotsFreedByAnOlderVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := sqlitestore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.CreateCluster(ctx, sparkflow.Cluster{ID: "j-1", Pool: "etl", State: sparkflow.ClusterWaiting, Capacity: 1}); err != nil {
		t.Fatal(err)
	}
	recordRuns(t, s, "r1")
	if _, err := s.Reserve(ctx, "r1", 1, "j-1"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	old, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(`DELETE FROM reservations WHERE run_id = 'r1'`); err != nil {
		t.Fatal(err)
	}
	old.Close()
	if s, err = sqlitestore.Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if c, err := s.GetCluster(ctx, "j-1"); err != nil || len(c.Reservations) != 0 || c.Free() != 1 {
		t.Fatalf("after the older version's release: %+v, %v; want its slot free", c, err)
	}
}

// recordRuns creates minimal runs of these ids (a reservation is kept with its run's record).
func recordRuns(t *testing.T, s *sqlitestore.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		now := time.Now().UTC()
		r := sparkflow.Run{ID: id, Transform: "t", Pool: "etl", Attempt: 1, CreatedAt: now, UpdatedAt: now}
		r.SetStatus(sparkflow.RunQueued, now, "")
		if _, err := s.CreateRun(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}
