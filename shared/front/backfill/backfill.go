// Package backfill runs a backfill through the Backend face, the same on both homes: a backfill is
// its plan (core.PlanBackfill: one run per value, each with an id derived from the transform and its
// parameters), so submitting it again creates nothing new, and its status and its cancel are read
// and done from the plan, with no record of its own.
package backfill

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// Progress is called as a submit goes: done runs of total handled (submitted, or found there).
type Progress func(done, total int)

// Options of a submit.
type Options struct {
	// MaxActive, when above 0, keeps at most that many of the backfill's runs active (queued,
	// waiting or running) at once: the next is submitted when one ends.
	MaxActive int
	// Poll is how often the active runs are looked at while MaxActive holds a submit back (default 1 s).
	Poll     time.Duration
	Progress Progress
	// Priority of the runs (default low: a backfill yields to the runs of the day).
	Priority sparkflow.Priority
}

// Report says what a submit did.
type Report struct {
	ID        string `json:"id"`
	Runs      int    `json:"runs"`
	Submitted int    `json:"submitted"` // new runs
	Existing  int    `json:"existing"`  // runs that were there already (an earlier submit of it, or an overlapping backfill)
}

// Submit submits the plan's runs in order, skipping those that exist. Cut off (ctx ends), it stops:
// what it submitted goes on, and submitting the same backfill again goes on from there.
func Submit(ctx context.Context, b sparkflow.Backend, plan core.Backfill, o Options) (Report, error) {
	rep := Report{ID: plan.ID, Runs: len(plan.Runs)}
	if o.Poll == 0 {
		o.Poll = time.Second
	}
	// Every run has the same parameter names: one that the transform does not declare is refused
	// here, before anything is submitted (on AWS the intake would reject each run, later).
	t, err := b.GetTransform(ctx, plan.Transform)
	if err != nil {
		return rep, err
	}
	if len(plan.Runs) > 0 {
		if _, err := t.ResolveParams(plan.Runs[0].Params); err != nil {
			return rep, err
		}
	}
	var active []string
	for i, req := range plan.Runs {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		r, err := b.GetRun(ctx, req.ID)
		switch {
		case err == nil:
			rep.Existing++
			if !r.Status.Terminal() {
				active = append(active, r.ID)
			}
		case sparkflow.IsCode(err, sparkflow.NotFound):
			for o.MaxActive > 0 && len(active) >= o.MaxActive {
				if active, err = stillActive(ctx, b, active); err != nil {
					return rep, err
				}
				if len(active) < o.MaxActive {
					break
				}
				select {
				case <-ctx.Done():
					return rep, ctx.Err()
				case <-time.After(o.Poll):
				}
			}
			req.Priority = o.Priority.Or(sparkflow.PriorityLow)
			if _, err := b.SubmitRun(ctx, req); err != nil {
				return rep, fmt.Errorf("submit the run of %v: %w", req.Params, err)
			}
			rep.Submitted++
			active = append(active, req.ID)
		default:
			return rep, err
		}
		if o.Progress != nil {
			o.Progress(i+1, len(plan.Runs))
		}
	}
	return rep, nil
}

// stillActive keeps the runs that have not ended (a run still on the AWS queue counts as active).
func stillActive(ctx context.Context, b sparkflow.Backend, ids []string) ([]string, error) {
	var out []string
	for _, id := range ids {
		r, err := b.GetRun(ctx, id)
		if sparkflow.IsCode(err, sparkflow.NotFound) {
			out = append(out, id)
			continue
		}
		if err != nil {
			return nil, err
		}
		if !r.Status.Terminal() {
			out = append(out, id)
		}
	}
	return out, nil
}

// Status is where a backfill's runs stand.
type Status struct {
	ID        string                      `json:"id"`
	Transform string                      `json:"transform"`
	Runs      int                         `json:"runs"`
	ByStatus  map[sparkflow.RunStatus]int `json:"byStatus"`
	// NotSubmitted counts the plan's runs that do not exist (yet, or still on the AWS queue).
	NotSubmitted int             `json:"notSubmitted"`
	Each         []sparkflow.Run `json:"-"`
}

// Done reports whether every run of the backfill exists and has ended.
func (s Status) Done() bool {
	ended := 0
	for st, n := range s.ByStatus {
		if st.Terminal() {
			ended += n
		}
	}
	return ended == s.Runs
}

// Statuses lists the counts in a fixed order: the run statuses, then "not submitted".
func (s Status) Statuses() []sparkflow.RunStatus {
	var out []sparkflow.RunStatus
	for st := range s.ByStatus {
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Rank() < out[j].Rank() || (out[i].Rank() == out[j].Rank() && out[i] < out[j])
	})
	return out
}

// Read reads where each of the plan's runs stands.
func Read(ctx context.Context, b sparkflow.Backend, plan core.Backfill) (Status, error) {
	s := Status{ID: plan.ID, Transform: plan.Transform, Runs: len(plan.Runs), ByStatus: map[sparkflow.RunStatus]int{}}
	for _, req := range plan.Runs {
		r, err := b.GetRun(ctx, req.ID)
		if sparkflow.IsCode(err, sparkflow.NotFound) {
			s.NotSubmitted++
			continue
		}
		if err != nil {
			return s, err
		}
		s.ByStatus[r.Status]++
		s.Each = append(s.Each, r)
	}
	return s, nil
}

// Cancel cancels every active run of the backfill and returns how many it cancelled.
func Cancel(ctx context.Context, b sparkflow.Backend, plan core.Backfill) (int, error) {
	n := 0
	for _, req := range plan.Runs {
		r, err := b.GetRun(ctx, req.ID)
		if sparkflow.IsCode(err, sparkflow.NotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		if r.Status.Terminal() {
			continue
		}
		if _, err := b.CancelRun(ctx, r.ID); err != nil && !sparkflow.IsCode(err, sparkflow.Conflict) {
			return n, fmt.Errorf("cancel run %s: %w", r.ID, err)
		}
		n++
	}
	return n, nil
}
