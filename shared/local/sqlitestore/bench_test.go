package sqlitestore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/local/sqlitestore"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func benchStore(b *testing.B, history int) *sqlitestore.Store {
	b.Helper()
	s, err := sqlitestore.Open(filepath.Join(b.TempDir(), "sparkflow.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	ctx := context.Background()
	t0 := time.Now().Add(-time.Duration(history) * time.Second)
	// Written by 32 writers at once, so that the group commit makes it quick.
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < history; i = int(next.Add(1) - 1) {
				status := sparkflow.RunSucceeded
				if i%50 == 0 {
					status = sparkflow.RunFailed
				}
				r := sparkflow.Run{ID: fmt.Sprintf("h-%07d", i), Transform: "t", Pool: "p", Status: status, Attempt: 1, CreatedAt: t0.Add(time.Duration(i) * time.Second)}
				if _, err := s.CreateRun(ctx, r); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkRunLifecycleWrites is one run's store writes on the way through (create, five updates),
// made by 32 callers at once as under a burst (group commit shares the commits), on 10,000 runs of history.
func BenchmarkRunLifecycleWrites(b *testing.B) {
	s := benchStore(b, 10000)
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := sparkflow.Run{ID: fmt.Sprintf("r-%d", n.Add(1)), Transform: "t", Pool: "p", Status: sparkflow.RunQueued, Attempt: 1, CreatedAt: time.Now()}
			if _, err := s.CreateRun(ctx, r); err != nil {
				b.Fatal(err)
			}
			r.Version = 1
			for _, st := range []sparkflow.RunStatus{sparkflow.RunWaiting, sparkflow.RunWaiting, sparkflow.RunSubmitted, sparkflow.RunRunning, sparkflow.RunSucceeded} {
				r.SetStatus(st, time.Now(), "")
				var err error
				if r, err = s.UpdateRun(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkListRunsByStatus is the newest 100 failed runs among 100,000.
func BenchmarkListRunsByStatus(b *testing.B) {
	s := benchStore(b, 100000)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runs, err := s.ListRuns(ctx, sparkflow.RunFilter{Status: sparkflow.RunFailed, Limit: 100})
		if err != nil || len(runs) != 100 {
			b.Fatalf("%d runs, %v", len(runs), err)
		}
	}
}

// BenchmarkReserveRelease takes and frees a slot (the capacity check inside one write).
func BenchmarkReserveRelease(b *testing.B) {
	s := benchStore(b, 0)
	ctx := context.Background()
	if err := s.CreateCluster(ctx, sparkflow.Cluster{ID: "j-1", Pool: "p", State: sparkflow.ClusterWaiting, Capacity: 64}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("r-%d", i)
		if _, err := s.Reserve(ctx, id, 1, "j-1"); err != nil {
			b.Fatal(err)
		}
		if err := s.Release(ctx, id, 1, "j-1", time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWaitersHead reads the head of a FIFO of 10,000 waiters (what a grant reads).
func BenchmarkWaitersHead(b *testing.B) {
	s := benchStore(b, 0)
	ctx := context.Background()
	t0 := time.Now()
	for i := 0; i < 10000; i++ {
		if err := s.Enqueue(ctx, sparkflow.Waiter{Pool: "p", RunID: fmt.Sprintf("w-%05d", i), Since: t0.Add(time.Duration(i))}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ws, err := s.Waiters(ctx, "p", 64)
		if err != nil || len(ws) != 64 {
			b.Fatalf("%d waiters, %v", len(ws), err)
		}
	}
}
