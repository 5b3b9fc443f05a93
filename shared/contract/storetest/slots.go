package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// holder is the cluster whose reservations list run ("" for none), and how many list it.
func holder(t *testing.T, s sparkflow.Store, pool, runID string) (string, int) {
	t.Helper()
	cs, err := s.ListClusters(context.Background(), pool)
	must(t, err)
	at, n := "", 0
	for _, c := range cs {
		if c.Holds(runID) {
			at, n = c.ID, n+1
		}
	}
	return at, n
}

// testCreateRunOn: a run created holding a slot has its record and its slot from one write; a full or
// starting cluster refuses it and nothing is written; a run of an id taken is not created again and
// takes nothing; and the slot is a reservation like Reserve's (Reserve finds it, Release frees it,
// UpdateRun keeps it).
func testCreateRunOn(t *testing.T, s sparkflow.Store) {
	ctx := context.Background()
	must(t, s.CreateCluster(ctx, cluster("j-1", "etl", sparkflow.ClusterWaiting, 1)))
	must(t, s.CreateCluster(ctx, cluster("j-2", "etl", sparkflow.ClusterWaiting, 2)))
	must(t, s.CreateCluster(ctx, cluster("j-s", "etl", sparkflow.ClusterStarting, 2)))
	created, err := s.CreateRunOn(ctx, run("a", "daily", t0), "j-1")
	must(t, err)
	if !created {
		t.Fatal("CreateRunOn reported created=false for a new run")
	}
	got, err := s.GetRun(ctx, "a")
	must(t, err)
	if got.Version != 1 || got.Transform != "daily" {
		t.Fatalf("run read back as %+v", got)
	}
	if at, n := holder(t, s, "etl", "a"); at != "j-1" || n != 1 {
		t.Fatalf("the run created on j-1 is held by %q (%d clusters)", at, n)
	}
	// The same id again: not created, and no second slot.
	created, err = s.CreateRunOn(ctx, run("a", "daily", t0), "j-2")
	must(t, err)
	if at, n := holder(t, s, "etl", "a"); created || at != "j-1" || n != 1 {
		t.Fatalf("a second CreateRunOn of run a: created %v, held by %q (%d clusters)", created, at, n)
	}
	// A full cluster and a starting one refuse; nothing is written.
	for _, cl := range []string{"j-1", "j-s"} {
		_, err = s.CreateRunOn(ctx, run("b", "daily", t0), cl)
		wantCode(t, err, sparkflow.Conflict)
		if !errors.Is(err, sparkflow.ErrNoSlot) {
			t.Fatalf("CreateRunOn on %s failed with %v, want ErrNoSlot", cl, err)
		}
		_, err = s.GetRun(ctx, "b")
		wantCode(t, err, sparkflow.NotFound)
	}
	// A plain update keeps the slot; Reserve finds it; Release frees it.
	got.Reason = "updated"
	_, err = s.UpdateRun(ctx, got)
	must(t, err)
	at, err := s.Reserve(ctx, "a", 1, "j-2")
	must(t, err)
	if at != "j-1" {
		t.Fatalf("after UpdateRun, Reserve of run a gave %s, want the slot it was created with on j-1", at)
	}
	must(t, s.Release(ctx, "a", 1, "j-1", t0))
	if at, _ := holder(t, s, "etl", "a"); at != "" {
		t.Fatalf("released, run a is still held by %s", at)
	}
}

// testUpdateRunSlot: the run's write and its slot's change land together or not at all.
func testUpdateRunSlot(t *testing.T, s sparkflow.Store) {
	ctx := context.Background()
	must(t, s.CreateCluster(ctx, cluster("j-1", "etl", sparkflow.ClusterWaiting, 1)))
	must(t, s.CreateCluster(ctx, cluster("j-2", "etl", sparkflow.ClusterWaiting, 2)))
	recorded(t, s, "a", "b", "c")
	a, err := s.GetRun(ctx, "a")
	must(t, err)

	// Take: the grant written with the slot.
	a.Reason = "granted"
	a, err = s.UpdateRunSlot(ctx, a, sparkflow.SlotChange{Take: "j-1"})
	must(t, err)
	if got, err := s.GetRun(ctx, "a"); err != nil || got.Reason != "granted" || got.Version != 2 || a.Version != 2 {
		t.Fatalf("after a take: %+v (returned version %d) %v", got, a.Version, err)
	}
	if at, n := holder(t, s, "etl", "a"); at != "j-1" || n != 1 {
		t.Fatalf("taken on j-1, run a is held by %q (%d clusters)", at, n)
	}
	// Taking the slot it holds for this attempt is no change; the run is written.
	stale := a
	a.Reason = "again"
	a, err = s.UpdateRunSlot(ctx, a, sparkflow.SlotChange{Take: "j-1"})
	must(t, err)
	if at, n := holder(t, s, "etl", "a"); at != "j-1" || n != 1 || a.Version != 3 {
		t.Fatalf("a second take of j-1: held by %q (%d clusters), version %d", at, n, a.Version)
	}
	// A run holding a slot elsewhere: ErrHeld, nothing written.
	a.Reason = "elsewhere"
	_, err = s.UpdateRunSlot(ctx, a, sparkflow.SlotChange{Take: "j-2"})
	if !errors.Is(err, sparkflow.ErrHeld) {
		t.Fatalf("a take on j-2 of a run holding j-1 gave %v, want ErrHeld", err)
	}
	if got, _ := s.GetRun(ctx, "a"); got.Reason != "again" || got.Version != 3 {
		t.Fatalf("a refused take wrote the run: %+v", got)
	}
	// A full cluster: ErrNoSlot, nothing written.
	b, err := s.GetRun(ctx, "b")
	must(t, err)
	b.Reason = "full"
	_, err = s.UpdateRunSlot(ctx, b, sparkflow.SlotChange{Take: "j-1"})
	if !errors.Is(err, sparkflow.ErrNoSlot) {
		t.Fatalf("a take on the full j-1 gave %v, want ErrNoSlot", err)
	}
	if got, _ := s.GetRun(ctx, "b"); got.Reason != "" || got.Version != 1 {
		t.Fatalf("a refused take wrote the run: %+v", got)
	}
	// A stale version: Conflict, and the slot is not taken.
	c, err := s.GetRun(ctx, "c")
	must(t, err)
	c2 := c
	c2.Reason = "first"
	_, err = s.UpdateRun(ctx, c2)
	must(t, err)
	c.Reason = "stale"
	_, err = s.UpdateRunSlot(ctx, c, sparkflow.SlotChange{Take: "j-2"})
	wantCode(t, err, sparkflow.Conflict)
	if errors.Is(err, sparkflow.ErrNoSlot) || errors.Is(err, sparkflow.ErrHeld) {
		t.Fatalf("a stale take failed with %v, want a version conflict", err)
	}
	if at, _ := holder(t, s, "etl", "c"); at != "" {
		t.Fatalf("a stale take took a slot on %s", at)
	}

	// Free: a stale version frees nothing.
	_, err = s.UpdateRunSlot(ctx, stale, sparkflow.SlotChange{Free: "j-1", At: t0})
	wantCode(t, err, sparkflow.Conflict)
	if at, _ := holder(t, s, "etl", "a"); at != "j-1" {
		t.Fatalf("a stale free freed the slot (held by %q)", at)
	}
	// A free for an earlier attempt than the one holding it frees nothing; the run is written.
	_, err = s.Reserve(ctx, "a", 2, "j-1") // attempt 2 takes the slot over
	must(t, err)
	a, err = s.GetRun(ctx, "a")
	must(t, err)
	a.Reason = "late free"
	a, err = s.UpdateRunSlot(ctx, a, sparkflow.SlotChange{Free: "j-1", FreeAttempt: 1, At: t0})
	must(t, err)
	if at, _ := holder(t, s, "etl", "a"); at != "j-1" {
		t.Fatalf("the late free of attempt 1 freed attempt 2's slot")
	}
	if got, _ := s.GetRun(ctx, "a"); got.Reason != "late free" {
		t.Fatalf("a free that freed nothing did not write the run: %+v", got)
	}
	// The end written with the slot freed, and the cluster's freed time.
	freed := t0.Add(3*time.Hour + 987654321)
	a.Reason = "ended"
	a, err = s.UpdateRunSlot(ctx, a, sparkflow.SlotChange{Free: "j-1", At: freed})
	must(t, err)
	if at, _ := holder(t, s, "etl", "a"); at != "" {
		t.Fatalf("freed, run a is still held by %s", at)
	}
	cl, err := s.GetCluster(ctx, "j-1")
	must(t, err)
	if cl.FreedAt == nil || !cl.FreedAt.Equal(freed) {
		t.Fatalf("the cluster's freed time is %v, want %v", cl.FreedAt, freed)
	}
	if got, _ := s.GetRun(ctx, "a"); got.Reason != "ended" || got.Version != a.Version {
		t.Fatalf("after a free: %+v", got)
	}
	// Freeing what is not held writes the run and moves no freed time.
	a.Reason = "twice"
	a, err = s.UpdateRunSlot(ctx, a, sparkflow.SlotChange{Free: "j-1", At: freed.Add(time.Hour)})
	must(t, err)
	if cl, _ := s.GetCluster(ctx, "j-1"); !cl.FreedAt.Equal(freed) {
		t.Fatalf("a free of nothing moved the freed time to %v", cl.FreedAt)
	}
	// A slot on a cluster deleted since: the run is written, and can take a slot elsewhere.
	b, err = s.GetRun(ctx, "b")
	must(t, err)
	b, err = s.UpdateRunSlot(ctx, b, sparkflow.SlotChange{Take: "j-2"})
	must(t, err)
	must(t, s.DeleteCluster(ctx, "j-2"))
	b.Reason = "cluster gone"
	b, err = s.UpdateRunSlot(ctx, b, sparkflow.SlotChange{Free: "j-2", At: freed})
	must(t, err)
	b, err = s.UpdateRunSlot(ctx, b, sparkflow.SlotChange{Take: "j-1"})
	must(t, err)
	if at, _ := holder(t, s, "etl", "b"); at != "j-1" {
		t.Fatalf("after its cluster was deleted, run b could not take a slot elsewhere (held by %q)", at)
	}
}

// testSlotsConcurrent: runs created holding a slot, and grants written with theirs, never take more
// slots than there are, nor two for one run.
func testSlotsConcurrent(t *testing.T, s sparkflow.Store) {
	ctx := context.Background()
	const capacity = 3
	must(t, s.CreateCluster(ctx, cluster("j-1", "etl", sparkflow.ClusterRunning, capacity)))
	must(t, s.CreateCluster(ctx, cluster("j-2", "etl", sparkflow.ClusterRunning, capacity)))
	for i := 0; i < 5; i++ {
		recorded(t, s, fmt.Sprintf("w-%d", i))
	}
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(2)
		go func(i int) { // new runs on j-1
			defer wg.Done()
			for try := 0; try < 50; try++ {
				_, err := s.CreateRunOn(ctx, run(fmt.Sprintf("n-%d", i), "daily", t0), "j-1")
				if !sparkflow.IsCode(err, sparkflow.Transient) {
					return
				}
				time.Sleep(time.Millisecond)
			}
		}(i)
		go func(i int) { // five waiters granted on j-2, each by two grants at once
			defer wg.Done()
			id, target := fmt.Sprintf("w-%d", i/2), "j-2"
			for try := 0; try < 50; try++ {
				r, err := s.GetRun(ctx, id)
				if err == nil {
					_, err = s.UpdateRunSlot(ctx, r, sparkflow.SlotChange{Take: target})
				}
				if err == nil || !(sparkflow.IsCode(err, sparkflow.Transient) || (sparkflow.IsCode(err, sparkflow.Conflict) && !errors.Is(err, sparkflow.ErrNoSlot) && !errors.Is(err, sparkflow.ErrHeld))) {
					return
				}
				time.Sleep(time.Millisecond)
			}
		}(i)
	}
	wg.Wait()
	cs, err := s.ListClusters(ctx, "etl")
	must(t, err)
	seen := map[string]string{}
	for _, c := range cs {
		if len(c.Reservations) > capacity {
			t.Fatalf("%s holds %d reservations, capacity %d", c.ID, len(c.Reservations), capacity)
		}
		for _, id := range c.Reservations {
			if other, ok := seen[id]; ok {
				t.Fatalf("run %s holds slots on %s and %s", id, other, c.ID)
			}
			seen[id] = c.ID
		}
	}
	// Every slot held is a run's, and every created run holds one.
	for id := range seen {
		if _, err := s.GetRun(ctx, id); err != nil {
			t.Fatalf("slot held by %s, which has no record: %v", id, err)
		}
	}
	for i := 0; i < 10; i++ {
		id := fmt.Sprintf("n-%d", i)
		if _, err := s.GetRun(ctx, id); err == nil && seen[id] == "" {
			t.Fatalf("run %s was created without its slot", id)
		}
	}
	if len(seen) != 2*capacity {
		t.Fatalf("%d slots held of %d (every slot was asked for)", len(seen), 2*capacity)
	}
}
