package core

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// SharedValues are the values of run r for the parameters it shares with the upstream transform up:
// the parameters up declares that r has too. A run of up matches r when it has these same values.
func SharedValues(up sparkflow.Transform, r sparkflow.Run) map[string]string {
	out := map[string]string{}
	for k := range up.Params {
		if v, ok := r.Values[k]; ok {
			out[k] = v
		}
	}
	return out
}

// Matches reports whether run c has every value of shared.
func Matches(c sparkflow.Run, shared map[string]string) bool {
	for k, v := range shared {
		if c.Values[k] != v {
			return false
		}
	}
	return true
}

// Upstream is one thing a BLOCKED run waits for: a transform's runs with the shared values, or one run
// given by id. Runs are the candidates found (any order); none means none was submitted yet.
type Upstream struct {
	// What names it in messages: "daily-sales (day=2026-01-01)" or "run 1c2e…".
	What string
	Runs []sparkflow.Run
}

// Release is what becomes of a BLOCKED run: released (every upstream has a SUCCEEDED run), ended
// UPSTREAM_FAILED with Failed as the reason, or still waiting for WaitsFor.
type Release struct {
	Open     bool
	Failed   string
	WaitsFor []string
}

// Gate decides a BLOCKED run's upstreams, in their order: an upstream with a SUCCEEDED run is done;
// one with a run still active (or none yet) is waited for; one whose runs all ended otherwise fails
// the run, with the newest end as the reason. A failure decides at once, before any wait.
func Gate(ups []Upstream) Release {
	var waits []string
	for _, u := range ups {
		var ok, active bool
		var last *sparkflow.Run
		for i := range u.Runs {
			c := &u.Runs[i]
			switch {
			case c.Status == sparkflow.RunSucceeded:
				ok = true
			case !c.Status.Terminal():
				active = true
			case last == nil || endOf(*c).After(endOf(*last)):
				last = c
			}
		}
		switch {
		case ok:
		case active:
			waits = append(waits, u.What)
		case last != nil:
			reason := fmt.Sprintf("upstream %s ended %s (run %s)", u.What, last.Status, last.ID)
			if last.Reason != "" {
				reason += ": " + last.Reason
			}
			return Release{Failed: reason}
		default:
			waits = append(waits, u.What+": no run yet")
		}
	}
	return Release{Open: len(waits) == 0, WaitsFor: waits}
}

func endOf(r sparkflow.Run) time.Time {
	if r.EndedAt != nil {
		return *r.EndedAt
	}
	return r.UpdatedAt
}

// Describe names an upstream transform with the values its runs must have: "daily-sales
// (day=2026-01-01, region=eu)".
func Describe(transform string, shared map[string]string) string {
	if len(shared) == 0 {
		return transform
	}
	keys := make([]string, 0, len(shared))
	for k := range shared {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + shared[k]
	}
	return transform + " (" + strings.Join(parts, ", ") + ")"
}

// Cycle returns the path of a cycle that the upstream list of transform name would close (name, …,
// name), or nil. upstreamOf gives every other transform's upstream list (nil for one that does not
// exist).
func Cycle(name string, upstream []string, upstreamOf func(string) []string) []string {
	seen := map[string]bool{}
	var walk func(at string, path []string) []string
	walk = func(at string, path []string) []string {
		if at == name {
			return append(path, at)
		}
		if seen[at] {
			return nil
		}
		seen[at] = true
		for _, u := range upstreamOf(at) {
			if c := walk(u, append(path, at)); c != nil {
				return c
			}
		}
		return nil
	}
	for _, u := range upstream {
		if c := walk(u, []string{name}); c != nil {
			return c
		}
	}
	return nil
}

// AdmitOrder is the order in which BLOCKED runs of a transform with a concurrency limit are offered a
// place as places free: acceptance order (then id, for runs accepted at the same instant), except
// that the runs among held (those holding a place already: a Hold given it was cut off before it
// wrote the release) come first, or the places they hold would refuse the older runs while they
// wait behind them for ever.
func AdmitOrder(blocked []sparkflow.Run, held []string) []sparkflow.Run {
	holds := make(map[string]bool, len(held))
	for _, id := range held {
		holds[id] = true
	}
	sorted := append([]sparkflow.Run(nil), blocked...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if hi, hj := holds[sorted[i].ID], holds[sorted[j].ID]; hi != hj {
			return hi
		}
		if !sorted[i].CreatedAt.Equal(sorted[j].CreatedAt) {
			return sorted[i].CreatedAt.Before(sorted[j].CreatedAt)
		}
		return sorted[i].ID < sorted[j].ID
	})
	return sorted
}
