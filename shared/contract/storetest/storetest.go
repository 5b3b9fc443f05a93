// Package storetest is the contract every sparkflow.Store implementation passes: the embedded SQLite
// store here, the DynamoDB store in the AWS home. Call Run from a test of the implementation's package
// with a function that returns a fresh, empty store.
package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// Options declares what an implementation under test cannot be checked for, with the reason.
type Options struct {
	// NoConcurrency, when set, skips the concurrent-reservers check with this reason (an emulator
	// that does not isolate concurrent transactions cannot show the store's own guarantee).
	NoConcurrency string
}

// Run runs the contract suite; open must return a new empty store for each call.
func Run(t *testing.T, open func(t *testing.T) sparkflow.Store, opts ...Options) {
	var opt Options
	if len(opts) > 0 {
		opt = opts[0]
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s sparkflow.Store)
	}{
		{"Pools", testPools},
		{"Clusters", testClusters},
		{"Transforms", testTransforms},
		{"Runs", testRuns},
		{"ListRuns", testListRuns},
		{"ReserveRelease", testReserveRelease},
		{"ReserveConcurrent", testReserveConcurrent},
		{"FreedAt", testFreedAt},
		{"CreateRunOn", testCreateRunOn},
		{"UpdateRunSlot", testUpdateRunSlot},
		{"SlotsConcurrent", testSlotsConcurrent},
		{"Waiters", testWaiters},
		{"WaiterPriorities", testWaiterPriorities},
		{"Rejected", testRejected},
		{"Places", testPlaces},
		{"PlacesConcurrent", testPlacesConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if (tc.name == "ReserveConcurrent" || tc.name == "PlacesConcurrent" || tc.name == "SlotsConcurrent") && opt.NoConcurrency != "" {
				t.Skip(opt.NoConcurrency)
			}
			tc.fn(t, open(t))
		})
	}
}

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, code sparkflow.Code) {
	t.Helper()
	if !sparkflow.IsCode(err, code) {
		t.Fatalf("want a %s error, got %v", code, err)
	}
}

func testPools(t *testing.T, s sparkflow.Store) {
	ctx := context.Background()
	p := sparkflow.Pool{Name: "etl", Tier: "small", Clusters: 3, StepConcurrency: 4, Status: sparkflow.PoolCreating,
		Applications: []string{"Spark"}, Tags: map[string]string{"team": "data"}, CreatedAt: t0, UpdatedAt: t0}
	must(t, s.CreatePool(ctx, p))
	wantCode(t, s.CreatePool(ctx, p), sparkflow.Conflict)
	got, err := s.GetPool(ctx, "etl")
	must(t, err)
	if got.Tier != "small" || got.Clusters != 3 || got.Tags["team"] != "data" || !got.CreatedAt.Equal(t0) {
		t.Fatalf("pool read back as %+v", got)
	}
	_, err = s.GetPool(ctx, "nope")
	wantCode(t, err, sparkflow.NotFound)
	if got.Version != 1 {
		t.Fatalf("new pool version = %d, want 1", got.Version)
	}
	stale := got
	got.Status = sparkflow.PoolReady
	got, err = s.UpdatePool(ctx, got)
	must(t, err)
	if got.Version != 2 {
		t.Fatalf("version after UpdatePool = %d, want 2", got.Version)
	}
	stale.Status = sparkflow.PoolDeleting
	_, err = s.UpdatePool(ctx, stale)
	wantCode(t, err, sparkflow.Conflict)
	_, err = s.UpdatePool(ctx, sparkflow.Pool{Name: "nope", Version: 1})
	wantCode(t, err, sparkflow.NotFound)
	must(t, s.CreatePool(ctx, sparkflow.Pool{Name: "adhoc", Tier: "tiny", Clusters: 1}))
	ps, err := s.ListPools(ctx)
	must(t, err)
	if len(ps) != 2 || ps[0].Name != "adhoc" || ps[1].Status != sparkflow.PoolReady {
		t.Fatalf("ListPools = %+v", ps)
	}
	must(t, s.DeletePool(ctx, "adhoc"))
	wantCode(t, s.DeletePool(ctx, "adhoc"), sparkflow.NotFound)
}

func cluster(id, pool string, state sparkflow.ClusterState, capacity int) sparkflow.Cluster {
	return sparkflow.Cluster{ID: id, Pool: pool, State: state, Capacity: capacity, CreatedAt: t0, StateTime: t0}
}

func testClusters(t *testing.T, s sparkflow.Store) {
	ctx := context.Background()
	must(t, s.CreateCluster(ctx, cluster("j-1", "etl", sparkflow.ClusterStarting, 2)))
	must(t, s.CreateCluster(ctx, cluster("j-2", "etl", sparkflow.ClusterWaiting, 2)))
	must(t, s.CreateCluster(ctx, cluster("j-3", "other", sparkflow.ClusterWaiting, 2)))
	wantCode(t, s.CreateCluster(ctx, cluster("j-3", "other", sparkflow.ClusterStarting, 2)), sparkflow.Conflict)
	c, err := s.GetCluster(ctx, "j-1")
	must(t, err)
	if c.State != sparkflow.ClusterStarting || c.Capacity != 2 || c.Pool != "etl" || c.Version != 1 {
		t.Fatalf("cluster read back as %+v", c)
	}
	_, err = s.GetCluster(ctx, "j-9")
	wantCode(t, err, sparkflow.NotFound)
	// UpdateCluster is optimistic and keeps reservations.
	recorded(t, s, "run-a")
	_, err = s.Reserve(ctx, "run-a", 1, "j-2")
	must(t, err)
	c2, err := s.GetCluster(ctx, "j-2")
	must(t, err)
	stale := c2
	c2.State = sparkflow.ClusterRunning
	c2.Reservations = nil
	c2, err = s.UpdateCluster(ctx, c2)
	must(t, err)
	if c2.Version != 2 {
		t.Fatalf("version after UpdateCluster = %d, want 2", c2.Version)
	}
	stale.State = sparkflow.ClusterTerminated
	_, err = s.UpdateCluster(ctx, stale)
	wantCode(t, err, sparkflow.Conflict)
	_, err = s.UpdateCluster(ctx, cluster("j-none", "etl", sparkflow.ClusterRunning, 1))
	wantCode(t, err, sparkflow.NotFound)
	c, err = s.GetCluster(ctx, "j-2")
	must(t, err)
	if c.State != sparkflow.ClusterRunning || len(c.Reservations) != 1 || c.Reservations[0] != "run-a" {
		t.Fatalf("after UpdateCluster: %+v", c)
	}
	cs, err := s.ListClusters(ctx, "etl")
	must(t, err)
	if len(cs) != 2 || cs[0].ID != "j-1" || cs[1].ID != "j-2" || len(cs[1].Reservations) != 1 {
		t.Fatalf("ListClusters(etl) = %+v", cs)
	}
	all, err := s.ListClusters(ctx, "")
	must(t, err)
	if len(all) != 3 {
		t.Fatalf("ListClusters() = %d clusters, want 3", len(all))
	}
	must(t, s.DeleteCluster(ctx, "j-2"))
	wantCode(t, s.DeleteCluster(ctx, "j-2"), sparkflow.NotFound)
	// Its reservations went with it: the run can reserve elsewhere.
	got, err := s.Reserve(ctx, "run-a", 1, "j-3")
	must(t, err)
	if got != "j-3" {
		t.Fatalf("reserve after the cluster was deleted gave %s", got)
	}
}

func testTransforms(t *testing.T, s sparkflow.Store) {
	ctx := context.Background()
	tr := sparkflow.Transform{Name: "daily", Pool: "etl", Kind: sparkflow.KindSpark, MainResource: "s3://b/job.jar",
		SparkOptions: []string{"--conf", "a=1", "--conf", "b=2"}, MaxAttempts: 2, CreatedAt: t0}
	must(t, s.CreateTransform(ctx, tr))
	wantCode(t, s.CreateTransform(ctx, tr), sparkflow.Conflict)
	must(t, s.CreateTransform(ctx, sparkflow.Transform{Name: "adhoc", Pool: "other", Kind: sparkflow.KindCommand, Command: []string{"true"}}))
	got, err := s.GetTransform(ctx, "daily")
	must(t, err)
	if len(got.SparkOptions) != 4 || got.SparkOptions[3] != "b=2" || got.MaxAttempts != 2 {
		t.Fatalf("transform read back as %+v", got)
	}
	_, err = s.GetTransform(ctx, "nope")
	wantCode(t, err, sparkflow.NotFound)
	ts, err := s.ListTransforms(ctx, "etl")
	must(t, err)
	if len(ts) != 1 || ts[0].Name != "daily" {
		t.Fatalf("ListTransforms(etl) = %+v", ts)
	}
	ts, err = s.ListTransforms(ctx, "")
	must(t, err)
	if len(ts) != 2 || ts[0].Name != "adhoc" {
		t.Fatalf("ListTransforms() = %+v", ts)
	}
	tr.Pool = "other"
	must(t, s.UpdateTransform(ctx, tr))
	ts, err = s.ListTransforms(ctx, "other")
	must(t, err)
	if len(ts) != 2 {
		t.Fatalf("after moving daily to pool other, ListTransforms(other) = %d", len(ts))
	}
	wantCode(t, s.UpdateTransform(ctx, sparkflow.Transform{Name: "nope"}), sparkflow.NotFound)
	must(t, s.DeleteTransform(ctx, "daily"))
	wantCode(t, s.DeleteTransform(ctx, "daily"), sparkflow.NotFound)
}

func run(id, transform string, created time.Time) sparkflow.Run {
	r := sparkflow.Run{ID: id, Transform: transform, Pool: "etl", Attempt: 1, MaxAttempts: 1, CreatedAt: created, UpdatedAt: created}
	r.SetStatus(sparkflow.RunQueued, created, "")
	return r
}

func testRuns(t *testing.T, s sparkflow.Store) {
	ctx := context.Background()
	r := run("r1", "daily", t0)
	r.Params = map[string]string{"day": "2026-11-01"}
	created, err := s.CreateRun(ctx, r)
	must(t, err)
	if !created {
		t.Fatal("first CreateRun reported created=false")
	}
	created, err = s.CreateRun(ctx, r)
	must(t, err)
	if created {
		t.Fatal("second CreateRun of the same id reported created=true")
	}
	got, err := s.GetRun(ctx, "r1")
	must(t, err)
	if got.Version != 1 || got.Params["day"] != "2026-11-01" || len(got.History) != 1 {
		t.Fatalf("run read back as %+v", got)
	}
	got.SetStatus(sparkflow.RunWaiting, t0.Add(time.Second), "")
	upd, err := s.UpdateRun(ctx, got)
	must(t, err)
	if upd.Version != 2 {
		t.Fatalf("version after update = %d, want 2", upd.Version)
	}
	// A writer holding the old version loses.
	got.Reason = "stale"
	_, err = s.UpdateRun(ctx, got)
	wantCode(t, err, sparkflow.Conflict)
	again, err := s.GetRun(ctx, "r1")
	must(t, err)
	if again.Status != sparkflow.RunWaiting || again.Reason != "" || again.Version != 2 {
		t.Fatalf("stale write changed the run: %+v", again)
	}
	_, err = s.UpdateRun(ctx, sparkflow.Run{ID: "nope", Version: 1})
	wantCode(t, err, sparkflow.NotFound)
	_, err = s.GetRun(ctx, "nope")
	wantCode(t, err, sparkflow.NotFound)
}

func testListRuns(t *testing.T, s sparkflow.Store) {
	ctx := context.Background()
	for i := 0; i < 6; i++ {
		tr := "a"
		if i%2 == 1 {
			tr = "b"
		}
		r := run(fmt.Sprintf("r%d", i), tr, t0.Add(time.Duration(i)*time.Minute))
		if i < 2 {
			r.SetStatus(sparkflow.RunSucceeded, t0, "")
		}
		_, err := s.CreateRun(ctx, r)
		must(t, err)
	}
	check := func(f sparkflow.RunFilter, want ...string) {
		t.Helper()
		rs, err := s.ListRuns(ctx, f)
		must(t, err)
		var ids []string
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(want) {
			t.Fatalf("ListRuns(%+v) = %v, want %v", f, ids, want)
		}
	}
	check(sparkflow.RunFilter{}, "r5", "r4", "r3", "r2", "r1", "r0")
	check(sparkflow.RunFilter{Limit: 2}, "r5", "r4")
	check(sparkflow.RunFilter{Transform: "a"}, "r4", "r2", "r0")
	check(sparkflow.RunFilter{Status: sparkflow.RunSucceeded}, "r1", "r0")
	check(sparkflow.RunFilter{Active: true, Transform: "b"}, "r5", "r3")
	check(sparkflow.RunFilter{Pool: "nope"})
	// An update that ends a run moves it out of the active set.
	r, err := s.GetRun(ctx, "r5")
	must(t, err)
	r.SetStatus(sparkflow.RunFailed, t0, "boom")
	_, err = s.UpdateRun(ctx, r)
	must(t, err)
	check(sparkflow.RunFilter{Active: true}, "r4", "r3", "r2")
}

// waitingRun records w's run (accepted at w.Since, with w's priority), as every waiter's run is
// recorded before it takes its place, then enqueues it.
func waitingRun(t *testing.T, s sparkflow.Store, w sparkflow.Waiter) {
	t.Helper()
	r := run(w.RunID, "daily", w.Since)
	r.Pool, r.Priority = w.Pool, w.Priority
	_, err := s.CreateRun(context.Background(), r)
	must(t, err)
	must(t, s.Enqueue(context.Background(), w))
}

func testWaiters(t *testing.T, s sparkflow.Store) {
	ctx := context.Background()
	waitingRun(t, s, sparkflow.Waiter{Pool: "etl", RunID: "a", Token: "ta", Since: t0})
	waitingRun(t, s, sparkflow.Waiter{Pool: "etl", RunID: "b", Token: "tb", Since: t0.Add(time.Second)})
	waitingRun(t, s, sparkflow.Waiter{Pool: "etl", RunID: "c", Token: "tc", Since: t0.Add(time.Second)})
	waitingRun(t, s, sparkflow.Waiter{Pool: "other", RunID: "x", Token: "tx", Since: t0})
	// Re-enqueueing a waiter updates its token and keeps its place.
	must(t, s.Enqueue(ctx, sparkflow.Waiter{Pool: "etl", RunID: "a", Token: "ta2", Since: t0.Add(time.Hour)}))
	ws, err := s.Waiters(ctx, "etl", 0)
	must(t, err)
	if len(ws) != 3 || ws[0].RunID != "a" || ws[0].Token != "ta2" || ws[1].RunID != "b" || ws[2].RunID != "c" {
		t.Fatalf("Waiters = %+v", ws)
	}
	// Without a token, it keeps the one there (and its place).
	must(t, s.Enqueue(ctx, sparkflow.Waiter{Pool: "etl", RunID: "a", Since: t0}))
	if ws, err := s.Waiters(ctx, "etl", 1); err != nil || len(ws) != 1 || ws[0].RunID != "a" || ws[0].Token != "ta2" {
		t.Fatalf("after an enqueue without a token: %+v %v", ws, err)
	}
	if !ws[0].Since.Equal(t0) {
		t.Fatalf("re-enqueue moved the waiter: since %v", ws[0].Since)
	}
	ws, err = s.Waiters(ctx, "etl", 1)
	must(t, err)
	if len(ws) != 1 || ws[0].RunID != "a" {
		t.Fatalf("Waiters(limit 1) = %+v", ws)
	}
	removed, err := s.RemoveWaiter(ctx, "etl", "a")
	must(t, err)
	again, err := s.RemoveWaiter(ctx, "etl", "a")
	must(t, err)
	if !removed || again {
		t.Fatalf("RemoveWaiter twice reported %v then %v; want true then false", removed, again)
	}
	ws, err = s.Waiters(ctx, "etl", 0)
	must(t, err)
	if len(ws) != 2 || ws[0].RunID != "b" {
		t.Fatalf("after remove Waiters = %+v", ws)
	}
	// A run that goes on to another attempt takes its place again: in acceptance order, ahead of
	// the runs accepted after it, with the new token.
	must(t, s.Enqueue(ctx, sparkflow.Waiter{Pool: "etl", RunID: "a", Token: "ta3", Since: t0}))
	ws, err = s.Waiters(ctx, "etl", 0)
	must(t, err)
	if len(ws) != 3 || ws[0].RunID != "a" || ws[0].Token != "ta3" || ws[1].RunID != "b" {
		t.Fatalf("after re-enqueueing a removed waiter Waiters = %+v", ws)
	}
	// A waiter whose run has no record (one that expired, say) is listed and removed all the same.
	must(t, s.Enqueue(ctx, sparkflow.Waiter{Pool: "etl", RunID: "ghost", Token: "tg", Since: t0.Add(2 * time.Second)}))
	ws, err = s.Waiters(ctx, "etl", 0)
	must(t, err)
	if len(ws) != 4 || ws[3].RunID != "ghost" {
		t.Fatalf("with a waiter of no recorded run Waiters = %+v", ws)
	}
	removed, err = s.RemoveWaiter(ctx, "etl", "ghost")
	must(t, err)
	if !removed {
		t.Fatal("RemoveWaiter of a waiter whose run has no record reported false")
	}
	ws, err = s.Waiters(ctx, "etl", 0)
	must(t, err)
	if len(ws) != 3 {
		t.Fatalf("after removing the waiter of no recorded run Waiters = %+v", ws)
	}
}

// The queue serves higher priority first, in acceptance order within a priority, and ages: a run is
// passed by a higher one accepted up to sparkflow.PriorityAging (twice that for high over low) after
// it, not later. Each waiter keeps its own acceptance time and priority.
func testWaiterPriorities(t *testing.T, s sparkflow.Store) {
	ctx := context.Background()
	age := sparkflow.PriorityAging
	for _, w := range []sparkflow.Waiter{
		{RunID: "low-old", Since: t0, Priority: sparkflow.PriorityLow},
		{RunID: "normal", Since: t0.Add(time.Minute)},
		{RunID: "low", Since: t0.Add(2 * time.Minute), Priority: sparkflow.PriorityLow},
		{RunID: "high", Since: t0.Add(3 * time.Minute), Priority: sparkflow.PriorityHigh},
		{RunID: "normal-late", Since: t0.Add(age + time.Minute), Priority: sparkflow.PriorityNormal},
		{RunID: "high-too-late", Since: t0.Add(2*age + time.Minute), Priority: sparkflow.PriorityHigh},
	} {
		w.Pool, w.Token = "prio", "t-"+w.RunID
		waitingRun(t, s, w)
	}
	ws, err := s.Waiters(ctx, "prio", 0)
	must(t, err)
	var order []string
	for _, w := range ws {
		order = append(order, w.RunID)
	}
	// keys: high t0+3m-30m, normal t0+1m, low-old t0+30m, low t0+32m, normal-late t0+31m, high-too-late t0+31m
	want := "[high normal low-old normal-late high-too-late low]"
	if fmt.Sprint(order) != want {
		t.Fatalf("queue order %v, want %s", order, want)
	}
	for _, w := range ws {
		if w.RunID == "low-old" && (!w.Since.Equal(t0) || w.Priority != sparkflow.PriorityLow) {
			t.Fatalf("a waiter's acceptance time or priority changed: %+v", w)
		}
	}
}

func testRejected(t *testing.T, s sparkflow.Store) {
	ctx := context.Background()
	must(t, s.PutRejected(ctx, sparkflow.Rejected{ID: "m1", Body: "{", Reason: "bad json", At: t0}))
	must(t, s.PutRejected(ctx, sparkflow.Rejected{ID: "m2", Body: "{}", Reason: "no transform", At: t0.Add(time.Second)}))
	must(t, s.PutRejected(ctx, sparkflow.Rejected{ID: "m1", Body: "{", Reason: "bad json", At: t0}))
	rs, err := s.ListRejected(ctx, 0)
	must(t, err)
	if len(rs) != 2 || rs[0].ID != "m2" || rs[1].Reason != "bad json" {
		t.Fatalf("ListRejected = %+v", rs)
	}
}
