package webui_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// TestElasticPoolFromTheForm: the new-pool form makes an elastic pool (a minimum, the clusters as
// its maximum, an idle timeout), the Clusters page shows its range, and a clone keeps it.
func TestElasticPoolFromTheForm(t *testing.T) {
	f := setup(t)
	status, loc, body := f.post(t, "/clusters", url.Values{"name": {"flex"}, "tier": {"tiny"}, "clusters": {"3"}, "minClusters": {"0"}, "idleTimeout": {"10m"}})
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/clusters?msg=") {
		t.Fatalf("create an elastic pool: %d %s %s", status, loc, body)
	}
	p, err := f.e.GetPool(context.Background(), "flex")
	if err != nil || p.MinClusters == nil || *p.MinClusters != 0 || p.Clusters != 3 || p.IdleTimeoutSeconds != 600 {
		t.Fatalf("pool %+v (%v), want elastic 0..3 with a 10m idle timeout", p.Pool, err)
	}
	if _, page := f.get(t, "/clusters"); !strings.Contains(page, "(elastic 0..3)") {
		t.Fatal("the Clusters page does not show the pool's range")
	}
	if _, form := f.get(t, "/clusters/new?from=flex"); !strings.Contains(form, `name="minClusters" type="number" min="0" max="100" value="0"`) {
		t.Fatal("a clone of an elastic pool does not keep its minimum")
	}
}

// TestCloneOfAnImportedPoolKeepsItsOwnTier: the form offers an imported pool's own tier, and the
// clone it makes carries that tier and the source's EMR configurations.
func TestCloneOfAnImportedPoolKeepsItsOwnTier(t *testing.T) {
	f := setup(t)
	own := sparkflow.Tier{Name: "imported-j-x", Description: "instances of j-X", Primary: sparkflow.InstanceFleet{InstanceTypes: []string{"m5.xlarge"}, OnDemandCapacity: 1},
		Core: sparkflow.InstanceFleet{InstanceTypes: []string{"r5.xlarge"}, OnDemandCapacity: 2}, SpotTimeoutMinutes: 10, StepConcurrency: 3}
	conf := []sparkflow.Configuration{{Classification: "spark-defaults", Properties: map[string]string{"spark.executor.memory": "8g"}}}
	if _, err := f.e.CreatePool(context.Background(), sparkflow.Pool{Name: "src", Clusters: 1, CustomTier: &own, Configurations: conf}); err != nil {
		t.Fatal(err)
	}
	if _, form := f.get(t, "/clusters/new?from=src"); !strings.Contains(form, `<option value="imported-j-x" selected>`) || !strings.Contains(form, `name="clone" value="src"`) {
		t.Fatal("the clone form does not offer the pool's own tier")
	}
	status, loc, body := f.post(t, "/clusters", url.Values{"name": {"copy"}, "tier": {"imported-j-x"}, "clusters": {"1"}, "clone": {"src"}})
	if status != http.StatusSeeOther {
		t.Fatalf("clone: %d %s %s", status, loc, body)
	}
	p, err := f.e.GetPool(context.Background(), "copy")
	if err != nil || p.CustomTier == nil || p.CustomTier.Core.InstanceTypes[0] != "r5.xlarge" || len(p.Configurations) != 1 {
		t.Fatalf("clone %+v (%v), want the source's own tier and configurations", p.Pool, err)
	}
}
