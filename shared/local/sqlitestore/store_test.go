package sqlitestore_test

import (
	"context"
	"path/filepath"
	"testing"

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
