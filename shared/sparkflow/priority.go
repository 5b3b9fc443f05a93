package sparkflow

import "time"

// Priority orders a pool's waiting runs: higher first, in acceptance order within a priority, with
// aging (PriorityOffset) so that a lower one is never passed over forever.
type Priority string

// The priorities ("" is normal).
const (
	PriorityHigh   Priority = "high"
	PriorityNormal Priority = "normal"
	PriorityLow    Priority = "low"
)

// PriorityAging is how far a priority moves a run in its pool's queue: a high run waits as if it had
// been accepted this much earlier, a low one this much later. So a run is served before any run of
// a lower priority accepted at most PriorityAging (normal after low, high after normal) or twice it
// (high after low) before it, and never after a run of any priority accepted more than twice
// PriorityAging after it: a low run waits at most an hour longer than it would in plain FIFO.
const PriorityAging = 30 * time.Minute

// Valid reports whether p is a priority ("" counts as normal).
func (p Priority) Valid() bool {
	switch p {
	case "", PriorityHigh, PriorityNormal, PriorityLow:
		return true
	}
	return false
}

// Or returns p, or def when p is unset.
func (p Priority) Or(def Priority) Priority {
	if p == "" {
		return def
	}
	return p
}

// Offset is how far p moves a run in the queue (negative: ahead).
func (p Priority) Offset() time.Duration {
	switch p {
	case PriorityHigh:
		return -PriorityAging
	case PriorityLow:
		return PriorityAging
	}
	return 0
}

// QueueKey is the position of a run accepted at since with priority p in its pool's queue: the
// stores serve the waiters in the order of their keys (then of their arrival).
func QueueKey(since time.Time, p Priority) time.Time { return since.Add(p.Offset()) }

func priorityError(field string, p Priority) error {
	return FieldError(field, "%q is not a priority: use high, normal or low", p)
}
