package sparkflow

import (
	"testing"
	"time"
)

// The aging bound: a run is passed by a run of higher priority accepted at most PriorityAging after it
// (2×PriorityAging for high over low), and never by one accepted later than that.
func TestQueueKeyAging(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		first, later Priority
		after        time.Duration // how long after first the later one is accepted
		passes       bool
	}{
		{PriorityNormal, PriorityNormal, time.Second, false},
		{PriorityLow, PriorityNormal, PriorityAging - time.Second, true},
		{PriorityLow, PriorityNormal, PriorityAging + time.Second, false},
		{PriorityNormal, PriorityHigh, PriorityAging - time.Second, true},
		{PriorityNormal, PriorityHigh, PriorityAging + time.Second, false},
		{PriorityLow, PriorityHigh, 2*PriorityAging - time.Second, true},
		{PriorityLow, PriorityHigh, 2*PriorityAging + time.Second, false},
		{PriorityHigh, PriorityLow, time.Second, false},
		{"", PriorityNormal, time.Second, false},
	} {
		a, b := QueueKey(t0, c.first), QueueKey(t0.Add(c.after), c.later)
		if got := b.Before(a); got != c.passes {
			t.Errorf("%q accepted %s after %q passes it: %v, want %v", c.later, c.after, c.first, got, c.passes)
		}
	}
	for _, p := range []Priority{"", PriorityHigh, PriorityNormal, PriorityLow} {
		if !p.Valid() {
			t.Errorf("%q is not valid", p)
		}
	}
	if Priority("urgent").Valid() {
		t.Error(`"urgent" is valid`)
	}
	r := RunRequest{Transform: "daily", Priority: "urgent"}
	if err := r.Validate(); err == nil || !IsCode(err, Invalid) {
		t.Errorf("a request of priority urgent: %v", err)
	}
}
