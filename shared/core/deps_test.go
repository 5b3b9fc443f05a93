package core

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func TestSharedValuesAndMatches(t *testing.T) {
	up := sparkflow.Transform{Name: "sales", Params: map[string]string{"day": "", "region": "eu"}}
	r := sparkflow.Run{Values: map[string]string{"day": "2026-01-02", "out": "s3://x"}}
	shared := SharedValues(up, r)
	if !reflect.DeepEqual(shared, map[string]string{"day": "2026-01-02"}) {
		t.Fatalf("shared = %v, want only day (region is the upstream's alone, out the dependent's)", shared)
	}
	for _, tc := range []struct {
		values map[string]string
		want   bool
	}{
		{map[string]string{"day": "2026-01-02", "region": "us"}, true}, // a value not shared does not matter
		{map[string]string{"day": "2026-01-03"}, false},
		{map[string]string{}, false},
	} {
		if got := Matches(sparkflow.Run{Values: tc.values}, shared); got != tc.want {
			t.Errorf("Matches(%v) = %v, want %v", tc.values, got, tc.want)
		}
	}
	if got := Describe("sales", map[string]string{"region": "eu", "day": "d"}); got != "sales (day=d, region=eu)" {
		t.Errorf("Describe = %q", got)
	}
}

func TestGate(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { v := t0.Add(d); return &v }
	run := func(id string, st sparkflow.RunStatus, ended *time.Time) sparkflow.Run {
		return sparkflow.Run{ID: id, Status: st, EndedAt: ended, Reason: "boom " + id}
	}
	cases := []struct {
		name     string
		ups      []Upstream
		open     bool
		failed   string // a substring of the reason, "" for none
		waitsFor []string
	}{
		{"no upstream", nil, true, "", nil},
		{"succeeded", []Upstream{{What: "a", Runs: []sparkflow.Run{run("1", sparkflow.RunSucceeded, at(1))}}}, true, "", nil},
		{"a success beside a failure", []Upstream{{What: "a", Runs: []sparkflow.Run{run("1", sparkflow.RunFailed, at(2)), run("2", sparkflow.RunSucceeded, at(1))}}}, true, "", nil},
		{"still running", []Upstream{{What: "a", Runs: []sparkflow.Run{run("1", sparkflow.RunRunning, nil)}}}, false, "", []string{"a"}},
		{"a failure with a retry under way waits", []Upstream{{What: "a", Runs: []sparkflow.Run{run("1", sparkflow.RunFailed, at(1)), run("2", sparkflow.RunQueued, nil)}}}, false, "", []string{"a"}},
		{"none yet", []Upstream{{What: "a"}}, false, "", []string{"a: no run yet"}},
		{"failed: newest end is the reason", []Upstream{{What: "a", Runs: []sparkflow.Run{run("old", sparkflow.RunFailed, at(1)), run("new", sparkflow.RunTimedOut, at(2))}}}, false, "upstream a ended TIMED_OUT (run new): boom new", nil},
		{"one failure decides before a wait", []Upstream{{What: "a"}, {What: "b", Runs: []sparkflow.Run{run("1", sparkflow.RunCancelled, at(1))}}}, false, "upstream b ended CANCELLED", nil},
		{"two waits", []Upstream{{What: "a", Runs: []sparkflow.Run{run("1", sparkflow.RunBlocked, nil)}}, {What: "b"}, {What: "c", Runs: []sparkflow.Run{run("2", sparkflow.RunSucceeded, at(1))}}}, false, "", []string{"a", "b: no run yet"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Gate(tc.ups)
			if got.Open != tc.open || !reflect.DeepEqual(got.WaitsFor, tc.waitsFor) {
				t.Fatalf("Gate = %+v, want open %v waiting for %v", got, tc.open, tc.waitsFor)
			}
			if (tc.failed == "") != (got.Failed == "") || !strings.Contains(got.Failed, tc.failed) {
				t.Fatalf("failed = %q, want %q", got.Failed, tc.failed)
			}
		})
	}
}

func TestCycle(t *testing.T) {
	graph := map[string][]string{"b": {"c"}, "c": {"d"}, "d": nil, "e": {"a"}}
	of := func(n string) []string { return graph[n] }
	cases := []struct {
		name     string
		upstream []string
		want     []string
	}{
		{"a", []string{"b"}, nil},
		{"a", []string{"e"}, []string{"a", "e", "a"}},
		{"d", []string{"b"}, []string{"d", "b", "c", "d"}},
		{"a", []string{"missing", "d"}, nil},
	}
	for _, tc := range cases {
		if got := Cycle(tc.name, tc.upstream, of); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Cycle(%s <- %v) = %v, want %v", tc.name, tc.upstream, got, tc.want)
		}
	}
}

func TestAdmitOrder(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	runs := []sparkflow.Run{{ID: "c", CreatedAt: t0.Add(time.Second)}, {ID: "b", CreatedAt: t0}, {ID: "a", CreatedAt: t0}}
	for _, c := range []struct {
		held []string
		want []string
	}{
		{nil, []string{"a", "b", "c"}},                     // acceptance, then id
		{[]string{"c"}, []string{"c", "a", "b"}},           // a run holding a place goes first
		{[]string{"c", "b"}, []string{"b", "c", "a"}},      // holders among themselves in acceptance order
		{[]string{"zz"}, []string{"a", "b", "c"}},          // a holder not blocked changes nothing
		{[]string{"a", "b", "c"}, []string{"a", "b", "c"}}, // all holders: acceptance order
	} {
		var ids []string
		for _, r := range AdmitOrder(runs, c.held) {
			ids = append(ids, r.ID)
		}
		if !reflect.DeepEqual(ids, c.want) {
			t.Errorf("held %v: order = %v, want %v", c.held, ids, c.want)
		}
	}
	if runs[0].ID != "c" {
		t.Fatal("AdmitOrder sorted its argument in place")
	}
}
