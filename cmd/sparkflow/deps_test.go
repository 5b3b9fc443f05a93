package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// Dependencies through the CLI: --upstream and --max-concurrent on a transform, --after on a run, run
// show saying what a run waits for and listing its upstream and downstream runs; an unknown upstream
// and a cycle refused with exit 2.
func TestDependenciesCLI(t *testing.T) {
	addr := freeAddr(t)
	startLocal(t, t.TempDir(), addr)
	for _, args := range [][]string{
		{"pool", "create", "etl", "--tier", "tiny", "--clusters", "1", "--step-concurrency", "4", "--wait"},
		{"transform", "create", "sales", "--pool", "etl", "--command", "echo ${day}", "--param", "day="},
		{"transform", "create", "report", "--pool", "etl", "--command", "echo ${day}", "--param", "day=", "--upstream", "sales", "--max-concurrent", "2"},
	} {
		if r := cli(t, addr, args...); r.code != 0 {
			t.Fatalf("%v: %+v", args, r)
		}
	}
	if r := cli(t, addr, "transform", "show", "report"); !strings.Contains(r.stdout, "Upstream:") || !strings.Contains(r.stdout, "sales") || !strings.Contains(r.stdout, "Max concurrent:") {
		t.Fatalf("transform show: %+v", r)
	}
	if r := cli(t, addr, "transform", "create", "x", "--pool", "etl", "--command", "true", "--upstream", "nosuch"); r.code != 2 || !strings.Contains(r.stderr, `transform "nosuch" does not exist`) {
		t.Fatalf("an unknown upstream: %+v", r)
	}
	if r := cli(t, addr, "transform", "edit", "sales", "--upstream", "report"); r.code != 2 || !strings.Contains(r.stderr, "cycle") {
		t.Fatalf("a cycle: %+v", r)
	}
	var rep struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	r := cli(t, addr, "run", "submit", "report", "--arg", "day=2026-01-01", "-o", "json")
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rep) != nil || rep.Status != "BLOCKED" {
		t.Fatalf("submit of a dependent: %+v", r)
	}
	if show := cli(t, addr, "run", "show", rep.ID); !strings.Contains(show.stdout, "Waits for:") || !strings.Contains(show.stdout, "sales (day=2026-01-01): no run yet") {
		t.Fatalf("run show of a blocked run: %+v", show)
	}
	up := cli(t, addr, "run", "submit", "sales", "--arg", "day=2026-01-01", "--wait", "-o", "json")
	var upRun struct {
		ID string `json:"id"`
	}
	if up.code != 0 || json.Unmarshal([]byte(up.stdout), &upRun) != nil {
		t.Fatalf("upstream run: %+v", up)
	}
	// --after, by a prefix of the id.
	after := cli(t, addr, "run", "submit", "sales", "--arg", "day=2026-01-02", "--after", rep.ID[:8], "--wait")
	if after.code != 0 {
		t.Fatalf("a run after the dependent: %+v", after)
	}
	show := cli(t, addr, "run", "show", rep.ID)
	if !strings.Contains(show.stdout, "SUCCEEDED") || !strings.Contains(show.stdout, "Upstream run:") || !strings.Contains(show.stdout, upRun.ID) || !strings.Contains(show.stdout, "Downstream run:") {
		t.Fatalf("run show of the released run: %+v", show)
	}
	if r := cli(t, addr, "run", "submit", "sales", "--after", "0000000000"); r.code != 3 {
		t.Fatalf("--after a run that does not exist: %+v", r)
	}
}
