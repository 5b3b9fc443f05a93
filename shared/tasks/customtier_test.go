package tasks_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sparkflow/sparkflow/shared/local/sqlitestore"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tasks"
	"github.com/sparkflow/sparkflow/shared/tiers"
)

// launches records the launch specs of the clusters a service launches (and launches nothing).
type launches struct {
	sparkflow.Clusters
	mu    sync.Mutex
	specs []sparkflow.LaunchSpec
}

func (l *launches) Launch(ctx context.Context, spec sparkflow.LaunchSpec) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.specs = append(l.specs, spec)
	return fmt.Sprintf("j-%d", len(l.specs)), nil
}

// TestAPoolsOwnTierIsWhatItsClustersAreLaunchedWith: a pool that carries its own tier (an imported
// one) launches its clusters with that tier's instances and configurations; its own tier may not take
// a catalogue tier's name, must be the one the pool names, and is validated as a catalogue tier is.
func TestAPoolsOwnTierIsWhatItsClustersAreLaunchedWith(t *testing.T) {
	// A service of its own on a store of its own: no engine heals the pool meanwhile.
	db, err := sqlitestore.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	rec := &launches{}
	svc := tasks.New(tasks.Service{Store: db, Clusters: rec, Tiers: tiers.Default()})
	ctx := context.Background()
	own := sparkflow.Tier{Name: "imported-j-abc", Primary: sparkflow.InstanceFleet{InstanceTypes: []string{"m5.xlarge"}, OnDemandCapacity: 1},
		Core: sparkflow.InstanceFleet{InstanceTypes: []string{"r5.2xlarge"}, OnDemandCapacity: 3},
		Task: sparkflow.InstanceFleet{InstanceTypes: []string{"r5.2xlarge", "c5.4xlarge"}, SpotCapacity: 6}, SpotTimeoutMinutes: 10, StepConcurrency: 8}
	conf := []sparkflow.Configuration{{Classification: "spark-defaults", Properties: map[string]string{"spark.sql.shuffle.partitions": "400"}}}
	v, err := svc.CreatePool(ctx, sparkflow.Pool{Name: "cloned", Clusters: 2, CustomTier: &own, Configurations: conf})
	if err != nil {
		t.Fatal(err)
	}
	if v.Tier != own.Name || v.StepConcurrency != 8 {
		t.Fatalf("pool names tier %q with %d slots, want %q with the tier's 8", v.Tier, v.StepConcurrency, own.Name)
	}
	rec.mu.Lock()
	specs := append([]sparkflow.LaunchSpec(nil), rec.specs...)
	rec.mu.Unlock()
	if len(specs) != 2 {
		t.Fatalf("%d clusters launched, want 2 (pool %+v)", len(specs), v.Pool)
	}
	for _, s := range specs {
		if s.Tier.Name != own.Name || strings.Join(s.Tier.Task.InstanceTypes, ",") != "r5.2xlarge,c5.4xlarge" || s.Tier.Core.OnDemandCapacity != 3 {
			t.Errorf("launched with tier %+v, want the pool's own %+v", s.Tier, own)
		}
		if len(s.Pool.Configurations) != 1 || s.Pool.Configurations[0].Properties["spark.sql.shuffle.partitions"] != "400" {
			t.Errorf("launched without the pool's configurations: %+v", s.Pool.Configurations)
		}
	}
	got, err := svc.GetPool(ctx, "cloned")
	if err != nil || got.CustomTier == nil || got.CustomTier.Core.OnDemandCapacity != 3 || len(got.Configurations) != 1 {
		t.Fatalf("the pool's own tier or configurations were not kept: %+v %v", got.Pool, err)
	}

	for _, c := range []struct {
		name, want string
		pool       sparkflow.Pool
	}{
		{"a catalogue tier's name", "is a tier of the catalogue already", sparkflow.Pool{Name: "x1", Clusters: 1, CustomTier: &sparkflow.Tier{Name: "small", Primary: own.Primary, Core: own.Core, SpotTimeoutMinutes: 10, StepConcurrency: 2}}},
		{"another tier named", "carries its own tier", sparkflow.Pool{Name: "x2", Tier: "tiny", Clusters: 1, CustomTier: &own}},
		{"an invalid tier", "primary fleet is one on-demand node", sparkflow.Pool{Name: "x3", Clusters: 1, CustomTier: &sparkflow.Tier{Name: "two-primaries", Primary: sparkflow.InstanceFleet{InstanceTypes: []string{"m5.xlarge"}, OnDemandCapacity: 3}, Core: own.Core, SpotTimeoutMinutes: 10, StepConcurrency: 2}}},
		{"a configuration without classification", "needs a classification", sparkflow.Pool{Name: "x4", Clusters: 1, CustomTier: &sparkflow.Tier{Name: "fine", Primary: own.Primary, Core: own.Core, SpotTimeoutMinutes: 10, StepConcurrency: 2}, Configurations: []sparkflow.Configuration{{Properties: map[string]string{"a": "b"}}}}},
	} {
		_, err := svc.CreatePool(ctx, c.pool)
		if !sparkflow.IsCode(err, sparkflow.Invalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want Invalid saying %q", c.name, err, c.want)
		}
		if _, gerr := svc.GetPool(ctx, c.pool.Name); !sparkflow.IsCode(gerr, sparkflow.NotFound) {
			t.Errorf("%s: the refused pool was recorded (%v)", c.name, gerr)
		}
	}
}
