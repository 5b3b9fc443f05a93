package core

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func TestPlanBackfill(t *testing.T) {
	values := func(b Backfill, k string) string {
		var vs []string
		for _, r := range b.Runs {
			vs = append(vs, r.Params[k])
		}
		return strings.Join(vs, " ")
	}
	for _, c := range []struct {
		name string
		args map[string]string
		step string
		want map[string]string // argument → its values in order
		n    int
	}{
		{"dates by day", map[string]string{"day": "2026-01-30..2026-02-02"}, "", map[string]string{"day": "2026-01-30 2026-01-31 2026-02-01 2026-02-02"}, 4},
		{"a leap day", map[string]string{"day": "2028-02-28..2028-03-01"}, "1d", map[string]string{"day": "2028-02-28 2028-02-29 2028-03-01"}, 3},
		{"dates by week, the end not on a step", map[string]string{"day": "2026-01-01..2026-01-20"}, "1w", map[string]string{"day": "2026-01-01 2026-01-08 2026-01-15"}, 3},
		{"dates by 2 days", map[string]string{"day": "2026-01-01..2026-01-05"}, "2d", map[string]string{"day": "2026-01-01 2026-01-03 2026-01-05"}, 3},
		{"one day", map[string]string{"day": "2026-01-01..2026-01-01"}, "", map[string]string{"day": "2026-01-01"}, 1},
		{"integers", map[string]string{"shard": "1..4"}, "", map[string]string{"shard": "1 2 3 4"}, 4},
		{"integers by 5", map[string]string{"shard": "0..12"}, "5", map[string]string{"shard": "0 5 10"}, 3},
		{"a list, duplicates once", map[string]string{"region": "eu, us,eu"}, "", map[string]string{"region": "eu us"}, 2},
		{"a fixed argument beside a range", map[string]string{"day": "2026-01-01..2026-01-02", "env": "prod"}, "", map[string]string{"day": "2026-01-01 2026-01-02", "env": "prod prod"}, 2},
		{"every combination, the first name slowest", map[string]string{"day": "2026-01-01..2026-01-02", "region": "eu,us"}, "", map[string]string{"day": "2026-01-01 2026-01-01 2026-01-02 2026-01-02", "region": "eu us eu us"}, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := PlanBackfill("daily", c.args, c.step)
			if err != nil {
				t.Fatal(err)
			}
			if len(b.Runs) != c.n {
				t.Fatalf("%d runs, want %d", len(b.Runs), c.n)
			}
			for k, want := range c.want {
				if got := values(b, k); got != want {
					t.Errorf("%s: %s, want %s", k, got, want)
				}
			}
			again, _ := PlanBackfill("daily", c.args, c.step)
			if again.ID != b.ID || !strings.HasPrefix(b.ID, "bf-") {
				t.Errorf("ids %s and %s: the same backfill planned twice has one id", b.ID, again.ID)
			}
			seen := map[string]bool{}
			for i, r := range b.Runs {
				if r.ID != again.Runs[i].ID || r.ID != RunID("daily", r.Params) || seen[r.ID] || r.Transform != "daily" {
					t.Errorf("run %d: id %s (again %s), %+v", i, r.ID, again.Runs[i].ID, r)
				}
				seen[r.ID] = true
			}
		})
	}
}

// A run's id depends on its transform and its parameters' values only.
func TestRunID(t *testing.T) {
	a := RunID("daily", map[string]string{"day": "2026-01-01", "env": "prod"})
	if a != RunID("daily", map[string]string{"env": "prod", "day": "2026-01-01"}) {
		t.Error("the order of parameters changed the id")
	}
	for _, other := range []string{RunID("weekly", map[string]string{"day": "2026-01-01", "env": "prod"}), RunID("daily", map[string]string{"day": "2026-01-02", "env": "prod"}),
		RunID("daily", map[string]string{"day": "2026-01-01"}), RunID("daily", map[string]string{"day": "2026-01-01\x00env=prod"})} {
		if other == a {
			t.Errorf("two different runs share id %s", a)
		}
	}
}

func TestPlanBackfillRefuses(t *testing.T) {
	for _, c := range []struct {
		args map[string]string
		step string
		want string
	}{
		{nil, "", "at least one --arg"},
		{map[string]string{"day": "2026-02-01..2026-01-01"}, "", "ends before it begins"},
		{map[string]string{"day": "2026-01-01..tomorrow"}, "", "is not a date"},
		{map[string]string{"day": "2026-01-01..2026-01-09"}, "1h", "days (1d) or weeks (1w)"},
		{map[string]string{"day": "2026-01-01..2026-01-09"}, "0d", "days (1d) or weeks (1w)"},
		{map[string]string{"n": "1..x"}, "", "of dates"},
		{map[string]string{"n": "1..5"}, "-2", "positive integer"},
		{map[string]string{"n": "a,,b"}, "", "empty value"},
		{map[string]string{"n": "1"}, "1d", "needs a range"},
		{map[string]string{"n": "1..200", "m": "1..200"}, "", fmt.Sprintf("more than %d runs", MaxBackfillRuns)},
		{map[string]string{"n": "1..20000"}, "", fmt.Sprintf("more than %d values", MaxBackfillRuns)},
	} {
		_, err := PlanBackfill("daily", c.args, c.step)
		if err == nil || !strings.Contains(err.Error(), c.want) || !sparkflow.IsCode(err, sparkflow.Invalid) {
			t.Errorf("%v step %q: %v, want an invalid-input error saying %q", c.args, c.step, err, c.want)
		}
	}
}

func TestQueueFull(t *testing.T) {
	for _, c := range []struct {
		max, waiting int
		full         bool
	}{{0, 0, false}, {0, 1000000, false}, {1, 0, false}, {1, 1, true}, {3, 2, false}, {3, 3, true}, {3, 4, true}} {
		if got := QueueFull(sparkflow.Pool{MaxQueue: c.max}, c.waiting); got != c.full {
			t.Errorf("max %d, %d waiting: full %v, want %v", c.max, c.waiting, got, c.full)
		}
	}
}
