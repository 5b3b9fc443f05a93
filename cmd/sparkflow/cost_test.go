package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sparkflow/sparkflow/shared/cost"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tiers"
)

// TestCostOfRunsAndPools: `sparkflow cost` prices the runs of the window and the pools' clusters
// from the catalogue; `run show` and `pool show` say what a run and a pool cost; a price file
// replaces the built-in prices; bad flags get clear errors.
func TestCostOfRunsAndPools(t *testing.T) {
	addr := freeAddr(t)
	startLocal(t, t.TempDir(), addr)
	for _, args := range [][]string{
		{"pool", "create", "etl", "--tier", "tiny", "--clusters", "1", "--wait"},
		{"transform", "create", "nap", "--pool", "etl", "--command", "sleep 1"},
	} {
		if r := cli(t, addr, args...); r.code != 0 {
			t.Fatalf("%v: %+v", args, r)
		}
	}
	r := cli(t, addr, "run", "submit", "nap", "--wait", "-o", "json")
	var run sparkflow.Run
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &run) != nil {
		t.Fatalf("run: %+v", r)
	}
	tiny, _ := tiers.Default().Get("tiny")
	rate := cost.Default().ClusterRate(tiny, "")
	want := cost.Run(run, rate, 2, *run.EndedAt) // tiny: 2 slots

	rep := cli(t, addr, "cost", "--since", "1d", "-o", "json")
	var got cost.Report
	if rep.code != 0 || json.Unmarshal([]byte(rep.stdout), &got) != nil {
		t.Fatalf("cost: %+v", rep)
	}
	if len(got.Lines) != 1 || got.Lines[0].Key != "etl" || got.Lines[0].Runs != 1 || math.Abs(got.Lines[0].RunCost-want) > 1e-9 || got.Lines[0].ClusterCost <= got.Lines[0].RunCost {
		t.Fatalf("cost by pool: %+v, want 1 run costing %v and the cluster more", got.Lines, want)
	}
	if !strings.Contains(rep.stderr, "estimates from the price catalogue of "+cost.Default().Date) {
		t.Errorf("the report does not say what it rests on: %q", rep.stderr)
	}
	if tr := cli(t, addr, "cost", "--by", "transform"); tr.code != 0 || !regexp.MustCompile(`(?m)^nap\s+1\s`).MatchString(tr.stdout) {
		t.Errorf("cost by transform: %+v", tr)
	}
	show := cli(t, addr, "run", "show", run.ID)
	if m := regexp.MustCompile(`Cost:\s+\$([0-9.]+) \(1 of 2 slots of a \$[0-9.]+/h tiny cluster in us-east-1 \(estimate from the tier\)`).FindStringSubmatch(show.stdout); m == nil {
		t.Errorf("run show has no cost: %s", show.stdout)
	} else if v, _ := strconv.ParseFloat(m[1], 64); math.Abs(v-want) > 0.005 {
		t.Errorf("run show says %s, want %.2f", m[1], want)
	}
	if p := cli(t, addr, "pool", "show", "etl"); !strings.Contains(p.stdout, "/h now (1 clusters, at $") {
		t.Errorf("pool show has no cost: %s", p.stdout)
	} else if !regexp.MustCompile(`(?m)^j-\S+\s+WAITING\s.*\$[0-9]+\.[0-9]{2}\s*$`).MatchString(p.stdout) {
		t.Errorf("pool show's cluster has no cost of its own: %s", p.stdout)
	}

	// A price file doubling the tiny tier's types' prices doubles the run's cost.
	file := filepath.Join(t.TempDir(), "prices.json")
	prices := map[string]cost.Price{}
	for _, it := range append(tiny.Primary.InstanceTypes[:1:1], tiny.Core.InstanceTypes[0]) {
		prices[it] = cost.Price{EC2: 2, EMR: 0}
	}
	body, _ := json.Marshal(cost.File{Regions: map[string]map[string]cost.Price{"us-east-1": prices}})
	os.WriteFile(file, body, 0o644)
	rep = cli(t, addr, "cost", "--prices", file, "-o", "json")
	if rep.code != 0 || json.Unmarshal([]byte(rep.stdout), &got) != nil || len(got.Lines) != 1 {
		t.Fatalf("cost with a price file: %+v", rep)
	}
	hours := run.EndedAt.Sub(*run.StartedAt).Hours()
	if w := hours * (2 + 2) / 2; math.Abs(got.Lines[0].RunCost-w) > 1e-9 {
		t.Errorf("with the price file a run costs %v, want %v", got.Lines[0].RunCost, w)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"cost", "--since", "soon"}, "not a duration"},
		{[]string{"cost", "--by", "team"}, "pool or transform"},
		{[]string{"cost", "--prices", "/nonexistent.json"}, "read price file"},
	} {
		if r := cli(t, addr, c.args...); r.code != exitInvalid || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d saying %q", c.args, r.code, r.stderr, exitInvalid, c.want)
		}
	}
}
