// Package display formats what the front ends show, so that the CLI and the web UI write durations,
// ages and cut text the same way.
package display

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// Duration rounds d to what a reader needs: milliseconds under a second, tenths under a minute,
// seconds above.
func Duration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// Ago is how long before now t was ("-" for no time).
func Ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return Duration(now.Sub(t)) + " ago"
}

// AgoPtr is Ago of an optional time.
func AgoPtr(now time.Time, t *time.Time) string {
	if t == nil {
		return "-"
	}
	return Ago(now, *t)
}

// RunTime is how long a run's step has run (until now if it still runs; "-" before it started).
func RunTime(now time.Time, r sparkflow.Run) string {
	if r.StartedAt == nil {
		return "-"
	}
	end := now
	if r.EndedAt != nil {
		end = *r.EndedAt
	}
	return Duration(end.Sub(*r.StartedAt))
}

// Uptime is how long a cluster has been ready (until now, or until it ended).
func Uptime(now time.Time, c sparkflow.Cluster) string {
	if c.ReadyAt == nil {
		return "-"
	}
	end := now
	if c.EndedAt != nil {
		end = *c.EndedAt
	}
	return Duration(end.Sub(*c.ReadyAt))
}

// Drain says, for a cluster near its idle end (core.Draining), that it takes no new run and when EMR
// ends it; "" for any other.
func Drain(now time.Time, c sparkflow.Cluster) string {
	if !core.Draining(c, now) {
		return ""
	}
	since, _ := core.IdleSince(c)
	left := since.Add(time.Duration(c.IdleTimeoutSeconds) * time.Second).Sub(now)
	if left <= 0 {
		return "draining: takes no new run; its idle timeout has passed (EMR ends it)"
	}
	return "draining: takes no new run; EMR ends it idle in " + Duration(left.Round(time.Second))
}

// Truncate cuts s to at most n characters, marking a cut with an ellipsis.
func Truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n || n < 1 {
		return s
	}
	return string(r[:n-1]) + "…"
}

// OrDash is s, or "-" when s is empty.
func OrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// KV writes a map as sorted name=value lines.
func KV(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, m[k])
	}
	return b.String()
}

// ShortID is the prefix of an id that pages show (the CLI and API accept any unique prefix).
func ShortID(id string) string {
	if len(id) <= 8 {
		return id
	}
	return id[:8]
}

// StepState is a run's step state as a reader should take it: a run that has ended with its step not
// known to have ended (its cancel sent, say) shows the step's state as last seen.
func StepState(r sparkflow.Run) string {
	if r.StepState == "" {
		return "-"
	}
	if r.Status.Terminal() && !r.StepState.Terminal() {
		return string(r.StepState) + " (last seen)"
	}
	return string(r.StepState)
}

// Params writes a run's parameters on one line, sorted: "day=2026-11-22 region=eu" ("-" for none).
func Params(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	return strings.TrimSpace(strings.ReplaceAll(KV(m), "\n", " "))
}
