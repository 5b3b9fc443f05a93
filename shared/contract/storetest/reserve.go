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

func testReserveRelease(t *testing.T, s sparkflow.Store) {
	ctx := context.Background()
	must(t, s.CreateCluster(ctx, cluster("j-1", "etl", sparkflow.ClusterWaiting, 2)))
	must(t, s.CreateCluster(ctx, cluster("j-2", "etl", sparkflow.ClusterWaiting, 2)))
	must(t, s.CreateCluster(ctx, cluster("j-s", "etl", sparkflow.ClusterStarting, 2)))
	recorded(t, s, "a", "b", "c")
	_, err := s.Reserve(ctx, "unrecorded", 1, "j-1")
	wantCode(t, err, sparkflow.NotFound)
	if c, a, err := s.Held(ctx, "a"); err != nil || c != "" || a != 0 {
		t.Fatalf("Held before any reserve = %q, %d, %v", c, a, err)
	}
	got, err := s.Reserve(ctx, "a", 1, "j-1")
	must(t, err)
	if got != "j-1" {
		t.Fatalf("Reserve = %s", got)
	}
	if c, a, err := s.Held(ctx, "a"); err != nil || c != "j-1" || a != 1 {
		t.Fatalf("Held after reserving j-1 for attempt 1 = %q, %d, %v", c, a, err)
	}
	// Idempotent: the same run asking again, even for another cluster, keeps its one slot.
	got, err = s.Reserve(ctx, "a", 1, "j-2")
	must(t, err)
	if got != "j-1" {
		t.Fatalf("second Reserve of run a gave %s, want j-1", got)
	}
	_, err = s.Reserve(ctx, "b", 1, "j-1")
	must(t, err)
	_, err = s.Reserve(ctx, "c", 1, "j-1")
	wantCode(t, err, sparkflow.Conflict)
	if !errors.Is(err, sparkflow.ErrNoSlot) {
		t.Fatalf("a full cluster's Reserve failed with %v, want ErrNoSlot", err)
	}
	_, err = s.Reserve(ctx, "c", 1, "j-s")
	wantCode(t, err, sparkflow.Conflict)
	_, err = s.Reserve(ctx, "c", 1, "j-none")
	wantCode(t, err, sparkflow.NotFound)
	c, err := s.GetCluster(ctx, "j-1")
	must(t, err)
	if len(c.Reservations) != 2 || c.Free() != 0 || !c.Holds("a") || !c.Holds("b") {
		t.Fatalf("j-1 = %+v", c)
	}
	must(t, s.Release(ctx, "a", 1, "j-1", t0))
	must(t, s.Release(ctx, "a", 1, "j-1", t0)) // twice frees one
	must(t, s.Release(ctx, "zzz", 1, "j-1", t0))
	c, err = s.GetCluster(ctx, "j-1")
	must(t, err)
	if len(c.Reservations) != 1 || !c.Holds("b") {
		t.Fatalf("after release j-1 = %+v", c)
	}
	_, err = s.Reserve(ctx, "c", 1, "j-1")
	must(t, err)
	// Attempts: a retry takes over the slot its ended attempt left, and the ended attempt's late
	// release then leaves it alone; a release for the attempt holding it, or for any (0), frees it.
	got, err = s.Reserve(ctx, "c", 2, "j-2")
	must(t, err)
	if got != "j-1" {
		t.Fatalf("the retry of run c got %s, want the slot its first attempt left on j-1", got)
	}
	if c, a, err := s.Held(ctx, "c"); err != nil || c != "j-1" || a != 2 {
		t.Fatalf("Held of the slot taken over by attempt 2 = %q, %d, %v", c, a, err)
	}
	must(t, s.Release(ctx, "c", 1, "j-1", t0))
	if c, err = s.GetCluster(ctx, "j-1"); err != nil || !c.Holds("c") {
		t.Fatalf("the late release of attempt 1 freed the slot attempt 2 took over: %+v %v", c, err)
	}
	// An older attempt asking again does not take the slot back.
	got, err = s.Reserve(ctx, "c", 1, "j-2")
	must(t, err)
	must(t, s.Release(ctx, "c", 1, "j-1", t0))
	if c, err = s.GetCluster(ctx, "j-1"); err != nil || !c.Holds("c") || got != "j-1" {
		t.Fatalf("a late Reserve of attempt 1 took the slot back from attempt 2: got %s, %+v %v", got, c, err)
	}
	must(t, s.Release(ctx, "c", 2, "j-1", t0))
	if c, err = s.GetCluster(ctx, "j-1"); err != nil || c.Holds("c") {
		t.Fatalf("release of attempt 2 kept its slot: %+v %v", c, err)
	}
	_, err = s.Reserve(ctx, "c", 3, "j-1")
	must(t, err)
	must(t, s.Release(ctx, "c", 0, "j-1", t0))
	if c, err = s.GetCluster(ctx, "j-1"); err != nil || c.Holds("c") {
		t.Fatalf("release for any attempt kept the slot: %+v %v", c, err)
	}
	if c, _, err := s.Held(ctx, "c"); err != nil || c != "" {
		t.Fatalf("Held after the release = %q, %v", c, err)
	}
}

func testReserveConcurrent(t *testing.T, s sparkflow.Store) {
	ctx := context.Background()
	const capacity = 3
	for _, id := range []string{"j-1", "j-2"} {
		must(t, s.CreateCluster(ctx, cluster(id, "etl", sparkflow.ClusterRunning, capacity)))
	}
	for i := 0; i < 20; i++ {
		recorded(t, s, fmt.Sprintf("run-%d", i))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	held := map[string]string{}
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			runID := fmt.Sprintf("run-%d", i%20) // every run reserves twice, on both clusters
			target := []string{"j-1", "j-2"}[i/20]
			for try := 0; try < 50; try++ {
				got, err := s.Reserve(ctx, runID, 1, target)
				if err == nil {
					mu.Lock()
					if prev, ok := held[runID]; ok && prev != got {
						t.Errorf("run %s holds %s and %s", runID, prev, got)
					}
					held[runID] = got
					mu.Unlock()
					return
				}
				if !sparkflow.IsCode(err, sparkflow.Transient) {
					return // Conflict: full
				}
				time.Sleep(time.Millisecond)
			}
		}(i)
	}
	wg.Wait()
	total := 0
	for _, id := range []string{"j-1", "j-2"} {
		c, err := s.GetCluster(ctx, id)
		must(t, err)
		if len(c.Reservations) > capacity {
			t.Fatalf("%s holds %d reservations, capacity %d", id, len(c.Reservations), capacity)
		}
		total += len(c.Reservations)
	}
	if total != 2*capacity || len(held) != 2*capacity {
		t.Fatalf("%d reservations for %d runs; want %d of each", total, len(held), 2*capacity)
	}
}

// recorded creates minimal runs of these ids: a reservation is kept with its run's record.
func recorded(t *testing.T, s sparkflow.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		_, err := s.CreateRun(context.Background(), run(id, "daily", t0))
		must(t, err)
	}
}
