package sqlitestore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/contract/storetest"
	"github.com/sparkflow/sparkflow/shared/local/sqlitestore"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sparkflow.Store {
		s, err := sqlitestore.Open(filepath.Join(t.TempDir(), "sparkflow.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestDurableAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sparkflow.db")
	s, err := sqlitestore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.CreatePool(ctx, sparkflow.Pool{Name: "etl", Tier: "tiny", Clusters: 1}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlitestore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.GetPool(ctx, "etl"); err != nil {
		t.Fatalf("pool lost across reopen: %v", err)
	}
}

// A cluster read is the cluster's record however often it is read, whatever a caller did to the copy
// it was given (the decoded records are kept: the copies share nothing with them).
func TestClusterReadsShareNothing(t *testing.T) {
	s, err := sqlitestore.Open(filepath.Join(t.TempDir(), "sparkflow.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	ready := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	c := sparkflow.Cluster{ID: "j-1", Pool: "p", State: sparkflow.ClusterWaiting, Capacity: 2, ReadyAt: &ready,
		Instances: []sparkflow.InstanceCount{{Type: "m7g.xlarge", Count: 2}}, CreatedAt: ready, StateTime: ready}
	if err := s.CreateCluster(ctx, c); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		got, err := s.GetCluster(ctx, "j-1")
		if err != nil {
			t.Fatal(err)
		}
		if !got.ReadyAt.Equal(ready) || len(got.Instances) != 1 || got.Instances[0].Count != 2 {
			t.Fatalf("read %d: %+v", i, got)
		}
		*got.ReadyAt = ready.Add(time.Hour)
		got.Instances[0].Count = 99
		list, _ := s.ListClusters(ctx, "p")
		list[0].Instances[0].Count = 98
	}
}
