package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// testFreedAt: a release notes when the cluster's slot was freed (its idle time starts again, as
// core.Draining reads it): on the cluster got and listed, kept across UpdateCluster, and not moved
// by a release that freed nothing.
func testFreedAt(t *testing.T, s sparkflow.Store) {
	ctx := context.Background()
	c := cluster("j-f", "etl", sparkflow.ClusterWaiting, 2)
	c.IdleTimeoutSeconds = 600
	must(t, s.CreateCluster(ctx, c))
	got, err := s.GetCluster(ctx, "j-f")
	must(t, err)
	if got.FreedAt != nil || got.IdleTimeoutSeconds != 600 {
		t.Fatalf("a new cluster: freed %v, idle timeout %d; want none and 600", got.FreedAt, got.IdleTimeoutSeconds)
	}
	recorded(t, s, "a")
	_, err = s.Reserve(ctx, "a", 1, "j-f")
	must(t, err)
	freed := t0.Add(90*time.Minute + 123456789) // nanoseconds kept
	must(t, s.Release(ctx, "a", 1, "j-f", freed))
	got, err = s.GetCluster(ctx, "j-f")
	must(t, err)
	if got.FreedAt == nil || !got.FreedAt.Equal(freed) {
		t.Fatalf("after a release the cluster's freedAt is %v, want %v", got.FreedAt, freed)
	}
	list, err := s.ListClusters(ctx, "etl")
	must(t, err)
	found := false
	for _, l := range list {
		if l.ID == "j-f" {
			found = true
			if l.FreedAt == nil || !l.FreedAt.Equal(freed) {
				t.Fatalf("listed, the cluster's freedAt is %v, want %v", l.FreedAt, freed)
			}
		}
	}
	if !found {
		t.Fatal("the cluster is not listed")
	}
	// A record update (an EMR event) keeps it, even from a copy read before the release.
	stale := c
	stale.Version = got.Version
	stale.State = sparkflow.ClusterRunning
	_, err = s.UpdateCluster(ctx, stale)
	must(t, err)
	if got, err = s.GetCluster(ctx, "j-f"); err != nil || got.FreedAt == nil || !got.FreedAt.Equal(freed) || got.State != sparkflow.ClusterRunning {
		t.Fatalf("after an update: %+v %v; want freedAt %v kept", got, err, freed)
	}
	// Releasing what is not held frees nothing and moves nothing.
	must(t, s.Release(ctx, "nobody", 1, "j-f", freed.Add(time.Hour)))
	if got, err = s.GetCluster(ctx, "j-f"); err != nil || !got.FreedAt.Equal(freed) {
		t.Fatalf("a release that freed nothing moved freedAt: %v → %v (%v)", freed, got.FreedAt, err)
	}
}
