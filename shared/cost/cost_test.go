package cost

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tiers"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// Every instance type of every built-in tier has a price, with the catalogue's date and source.
func TestTheBuiltInTiersArePriced(t *testing.T) {
	c := Default()
	if c.Date == "" || c.Source == "" || c.Currency != "USD" || c.SpotDiscount <= 0 {
		t.Fatalf("catalogue without date, source, currency or spot discount: %+v", c)
	}
	for _, tier := range tiers.Default().All() {
		for _, f := range []sparkflow.InstanceFleet{tier.Primary, tier.Core, tier.Task} {
			for _, it := range f.InstanceTypes {
				if p, ok := c.regions[DefaultRegion][it]; !ok || p.EC2 <= 0 || p.EMR <= 0 {
					t.Errorf("tier %s: %s has no price", tier.Name, it)
				}
			}
		}
		if r := c.ClusterRate(tier, ""); r.PerHour <= 0 || len(r.Missing) > 0 {
			t.Errorf("tier %s: rate %+v", tier.Name, r)
		}
	}
}

// A cluster's rate: on-demand nodes at EC2's and EMR's price, spot ones at EC2's less the discount
// plus EMR's, each fleet at its first priced type.
func TestClusterRateRunAndWindow(t *testing.T) {
	c := Default()
	small, _ := tiers.Default().Get("small")
	r := c.ClusterRate(small, "us-east-1")
	// primary 1 × m7g.xlarge (0.1632 + 0.0408), core 2 × m7g.2xlarge (0.3264 + 0.0816), task 2 spot
	// m7g.2xlarge (0.3264 × 0.4 + 0.0816).
	want := (0.1632 + 0.0408) + 2*(0.3264+0.0816) + 2*(0.3264*(1-0.6)+0.0816)
	if !near(r.PerHour, want) || r.Types["task"] != "m7g.2xlarge" || r.Region != "us-east-1" {
		t.Fatalf("small: %+v, want %.5f an hour", r, want)
	}
	if other := c.ClusterRate(small, "eu-west-3"); other.Region != DefaultRegion || !near(other.PerHour, want) {
		t.Fatalf("a region without prices: %+v", other)
	}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	start, end := t0, t0.Add(30*time.Minute)
	run := sparkflow.Run{StartedAt: &start, EndedAt: &end}
	if got := Run(run, r, 4, t0.Add(time.Hour)); !near(got, want*0.5/4) {
		t.Fatalf("a 30-minute run on one of 4 slots: %v, want %v", got, want*0.5/4)
	}
	if got := Run(sparkflow.Run{}, r, 4, t0); got != 0 {
		t.Fatalf("a run that never started costs %v", got)
	}
	ended := t0.Add(2 * time.Hour)
	cl := []sparkflow.Cluster{{CreatedAt: t0.Add(-time.Hour), EndedAt: &ended}, {CreatedAt: t0.Add(time.Hour)}}
	// Window [t0, t0+3h): the first from t0 to its end (2 h), the second from t0+1h to t0+3h (2 h).
	if got := Window(cl, Rates{Tier: r}, t0, t0.Add(3*time.Hour)); !near(got, 4*want) {
		t.Fatalf("window: %v, want %v", got, 4*want)
	}
	if got := Cluster(cl[0], r, t0.Add(10*time.Hour)); !near(got, 3*want) {
		t.Fatalf("an ended cluster: %v, want %v (launch to end)", got, 3*want)
	}
}

func TestAPriceFileOverridesTheBuiltIn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "prices.json")
	os.WriteFile(path, []byte(`{"date": "2027-01-01", "spotDiscount": 0.5, "regions": {"eu-west-1": {"m7g.xlarge": {"ec2": 0.2, "emr": 0.05}}, "us-east-1": {"m7g.xlarge": {"ec2": 1, "emr": 0}}}}`), 0o644)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Date != "2027-01-01" || c.SpotDiscount != 0.5 || c.Source != Default().Source {
		t.Fatalf("%+v", c)
	}
	if c.regions["us-east-1"]["m7g.xlarge"].EC2 != 1 || c.regions["us-east-1"]["m7g.2xlarge"].EC2 != 0.3264 || c.regions["eu-west-1"]["m7g.xlarge"].EMR != 0.05 {
		t.Fatalf("prices not laid over the built-in ones: %+v", c.regions)
	}
	for body, want := range map[string]string{
		`{"spotDiscount": 1, "regions": {}}`:                       "spotDiscount",
		`{"regions": {"us-east-1": {"x": {"ec2": -1, "emr": 0}}}}`: "prices of at least 0",
		`{"region": {}}`: "not a price file",
	} {
		os.WriteFile(path, []byte(body), 0o644)
		if _, err := Load(path); !sparkflow.IsCode(err, sparkflow.Invalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want Invalid saying %q", body, err, want)
		}
	}
}

func TestReportByPoolAndTransform(t *testing.T) {
	c := Default()
	tiny, _ := tiers.Default().Get("tiny")
	r := c.ClusterRate(tiny, "")
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	now := t0.Add(10 * time.Hour)
	at := func(h float64) *time.Time { v := t0.Add(time.Duration(h * float64(time.Hour))); return &v }
	pools := []sparkflow.PoolView{{Pool: sparkflow.Pool{Name: "etl", Tier: "tiny", StepConcurrency: 2}, ClusterRecords: []sparkflow.Cluster{{CreatedAt: t0}}},
		{Pool: sparkflow.Pool{Name: "ghost", Tier: "gone", StepConcurrency: 2}}}
	runs := []sparkflow.Run{
		{Pool: "etl", Transform: "a", StartedAt: at(1), EndedAt: at(2)},
		{Pool: "etl", Transform: "b", StartedAt: at(3), EndedAt: at(5)},
		{Pool: "etl", Transform: "b", StartedAt: at(-1), EndedAt: at(0.5)}, // started before the window
		{Pool: "etl", Transform: "b"},                                      // never started
	}
	tierOf := func(p sparkflow.PoolView) (sparkflow.Tier, bool) {
		t, err := tiers.Default().Get(p.Tier)
		return t, err == nil
	}
	rep, err := c.Build(pools, tierOf, runs, "", "pool", t0, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Lines) != 1 || rep.Lines[0].Key != "etl" || rep.Lines[0].Runs != 2 || !near(rep.Lines[0].RunHours, 3) ||
		!near(rep.Lines[0].RunCost, 3*r.PerHour/2) || !near(rep.Lines[0].ClusterCost, 10*r.PerHour) {
		t.Fatalf("by pool: %+v", rep.Lines)
	}
	if !strings.Contains(strings.Join(rep.Notes, "\n"), "pool ghost: tier gone is unknown") {
		t.Errorf("notes %q", rep.Notes)
	}
	rep, _ = c.Build(pools, tierOf, runs, "", "transform", t0, now)
	if len(rep.Lines) != 2 || rep.Lines[0].Key != "b" || !near(rep.Lines[0].RunCost, 2*r.PerHour/2) || rep.Lines[1].Key != "a" || rep.Lines[0].ClusterCost != 0 {
		t.Fatalf("by transform: %+v", rep.Lines)
	}
	if _, err := c.Build(pools, tierOf, runs, "", "team", t0, now); !sparkflow.IsCode(err, sparkflow.Invalid) {
		t.Fatalf("by team: %v", err)
	}
}

// TestClustersArePricedFromTheInstancesEMRRuns: a cluster whose instances EMR listed is priced from
// them (spot at the discount, a type without a price counted 0 and named), in the window, per run
// and in the report's notes; the others of the pool at its tier.
func TestClustersArePricedFromTheInstancesEMRRuns(t *testing.T) {
	c := Default()
	tiny, _ := tiers.Default().Get("tiny")
	in := []sparkflow.InstanceCount{{Type: "m7g.xlarge", Count: 1}, {Type: "m7g.2xlarge", Count: 3, Spot: true}, {Type: "x9.huge", Count: 2}}
	r := c.InstancesRate(in, "us-east-1")
	want := (0.1632 + 0.0408) + 3*(0.3264*(1-0.6)+0.0816)
	if !near(r.PerHour, want) || !r.FromEMR || len(r.Missing) != 1 || r.Missing[0] != "x9.huge" || r.Types["m7g.2xlarge (spot)"] != "3 spot" {
		t.Fatalf("rate of EMR's instances: %+v, want %.5f an hour and x9.huge missing", r, want)
	}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	listed := sparkflow.Cluster{ID: "j-emr", CreatedAt: t0, Instances: in, InstancesListed: true}
	other := sparkflow.Cluster{ID: "j-tier", CreatedAt: t0}
	rs := c.PoolRates(tiny, []sparkflow.Cluster{listed, other}, "")
	tierRate := c.ClusterRate(tiny, "")
	if !near(rs.Of("j-emr").PerHour, want) || !near(rs.Of("j-tier").PerHour, tierRate.PerHour) || !near(rs.Of("j-unknown").PerHour, tierRate.PerHour) {
		t.Fatalf("rates: emr %v, tier %v, unknown %v", rs.Of("j-emr"), rs.Of("j-tier"), rs.Of("j-unknown"))
	}
	if got := Window([]sparkflow.Cluster{listed, other}, rs, t0, t0.Add(2*time.Hour)); !near(got, 2*want+2*tierRate.PerHour) {
		t.Fatalf("window: %v, want %v", got, 2*want+2*tierRate.PerHour)
	}
	now := t0.Add(4 * time.Hour)
	at := func(h float64) *time.Time { v := t0.Add(time.Duration(h * float64(time.Hour))); return &v }
	pools := []sparkflow.PoolView{{Pool: sparkflow.Pool{Name: "etl", Tier: "tiny", StepConcurrency: 2}, ClusterRecords: []sparkflow.Cluster{listed, other}}}
	runs := []sparkflow.Run{{Pool: "etl", Transform: "a", ClusterID: "j-emr", StartedAt: at(1), EndedAt: at(2)}, {Pool: "etl", Transform: "a", ClusterID: "j-tier", StartedAt: at(1), EndedAt: at(2)}}
	tierOf := func(p sparkflow.PoolView) (sparkflow.Tier, bool) { return tiny, true }
	rep, err := c.Build(pools, tierOf, runs, "", "pool", t0, now)
	if err != nil {
		t.Fatal(err)
	}
	if l := rep.Lines[0]; !near(l.RunCost, want/2+tierRate.PerHour/2) || !near(l.ClusterCost, 4*want+4*tierRate.PerHour) {
		t.Fatalf("report: %+v", rep.Lines)
	}
	notes := strings.Join(rep.Notes, "\n")
	if !strings.Contains(notes, "clusters priced from the instances EMR runs for them: 1; from their pool's tier: 1") || !strings.Contains(notes, "cluster j-emr: no price for its x9.huge instances") {
		t.Fatalf("notes: %q", rep.Notes)
	}
}
