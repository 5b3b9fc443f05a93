package engine_test

import (
	"context"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/local/engine"
	"github.com/sparkflow/sparkflow/shared/local/localtest"
	"github.com/sparkflow/sparkflow/shared/local/sqlitestore"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// An engine stopped at 10:00 and started again at 13:20 missed the hourly firings of 11:00, 12:00 and
// 13:00: it submits all of them, the newest or none, as each transform's catch-up policy says, each
// run with the id of its firing and its day; and a paused schedule submits nothing.
func TestSchedulerCatchesUpAfterARestart(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	stopped := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	now := stopped.Add(3*time.Hour + 20*time.Minute)
	clock := func(at time.Time) func(*engine.Config) {
		return func(c *engine.Config) { c.ScheduleNow = func() time.Time { return at } }
	}
	e := localtest.Open(t, dir, clock(stopped))
	if _, err := e.CreatePool(ctx, sparkflow.Pool{Name: "p", Tier: "tiny", Clusters: 1, StepConcurrency: 4}); err != nil {
		t.Fatal(err)
	}
	policies := []string{core.CatchUpAll, core.CatchUpLatest, core.CatchUpNone, "paused"}
	for _, p := range policies {
		tr := sparkflow.Transform{Name: "hourly-" + p, Pool: "p", Command: []string{"true"}, Args: []string{"${day}"}, Params: map[string]string{"day": ""},
			Schedule: "rate(1 hour)", CatchUp: p}
		if p == "paused" {
			tr.CatchUp, tr.Paused = core.CatchUpAll, true
		}
		if _, err := e.CreateTransform(ctx, tr); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	e.Close()
	// The marks say 10:00 (the schedules were made then).
	db, err := sqlitestore.Open(filepath.Join(dir, "sparkflow.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range policies {
		last, _, ok, err := db.ScheduleMark(ctx, "hourly-"+p)
		if err != nil || !ok || !last.Equal(stopped) {
			t.Fatalf("%s: mark %v %v %v, want %v", p, last, ok, err, stopped)
		}
	}
	db.Close()

	e = localtest.Open(t, dir, clock(now))
	want := map[string][]int{core.CatchUpAll: {11, 12, 13}, core.CatchUpLatest: {13}, core.CatchUpNone: nil, "paused": nil}
	deadline := time.Now().Add(10 * time.Second)
	for {
		done := true
		for p, hours := range want {
			runs, err := e.ListRuns(ctx, sparkflow.RunFilter{Transform: "hourly-" + p})
			if err != nil {
				t.Fatal(err)
			}
			if len(runs) < len(hours) {
				done = false
				continue
			}
			if len(runs) > len(hours) {
				t.Fatalf("%s: %d runs, want %d", p, len(runs), len(hours))
			}
			sort.Slice(runs, func(i, j int) bool { return runs[i].ScheduledFor.Before(*runs[j].ScheduledFor) })
			for i, h := range hours {
				at := stopped.Truncate(24 * time.Hour).Add(time.Duration(h) * time.Hour)
				r := runs[i]
				if r.ScheduledFor == nil || !r.ScheduledFor.Equal(at) || r.ID != core.ScheduledRunID(r.Transform, at) || r.Values["day"] != "2026-03-01" {
					t.Fatalf("%s run %d: scheduled for %v, id %s, day %q; want %v, its firing's id, 2026-03-01", p, i, r.ScheduledFor, r.ID, r.Values["day"], at)
				}
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the missed firings were not submitted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Handled again (a second restart at the same instant), nothing new is submitted.
	e.Close()
	e = localtest.Open(t, dir, clock(now))
	defer e.Close()
	time.Sleep(300 * time.Millisecond)
	if runs, _ := e.ListRuns(ctx, sparkflow.RunFilter{Transform: "hourly-all"}); len(runs) != 3 {
		t.Fatalf("after another restart: %d runs, want the same 3", len(runs))
	}
}
