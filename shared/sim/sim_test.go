package sim

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tasks"
)

// A seed replays its schedule exactly: the same decisions, the same steps.
func TestASeedReplaysItsSchedule(t *testing.T) {
	hashes := map[uint64]uint64{}
	for seed := uint64(1); seed <= uint64(2*len(Profiles)); seed++ {
		a, b := RunSeed(seed, nil), RunSeed(seed, nil)
		if a.Hash != b.Hash || a.Steps != b.Steps {
			t.Fatalf("seed %d (%s): %d steps, hash %x; again: %d steps, hash %x", seed, a.Profile, a.Steps, a.Hash, b.Steps, b.Hash)
		}
		hashes[a.Hash] = seed
	}
	if len(hashes) < 2*len(Profiles)-1 {
		t.Fatalf("different seeds gave the same schedules: %d distinct of %d", len(hashes), 2*len(Profiles))
	}
}

// A batch of schedules over every profile keeps every invariant (make test runs a bigger one with
// make sim; SPARKFLOW_SIM_SCHEDULES sets this one's size).
func TestSchedulesKeepTheInvariants(t *testing.T) {
	n := 270
	if v, err := strconv.Atoi(os.Getenv("SPARKFLOW_SIM_SCHEDULES")); err == nil && v > 0 {
		n = v
	}
	rep := Batch(1, n, runtime.NumCPU(), nil)
	var b bytes.Buffer
	rep.Print(&b)
	t.Log("\n" + b.String())
	if rep.Violations() > 0 {
		t.Fatalf("invariants broken:\n%s", b.String())
	}
	if len(rep.Profiles) != len(Profiles) {
		t.Fatalf("%d profiles ran, want %d", len(rep.Profiles), len(Profiles))
	}
}

// The checks catch what they are for: a service sabotaged to break one guarantee is caught.
func TestTheChecksCatchASabotagedService(t *testing.T) {
	for _, tc := range []struct {
		name, invariant string
		sabotage        func(*tasks.Service)
	}{
		{"every step added twice", InvOneStep, func(s *tasks.Service) { s.Clusters = twice{s.Clusters} }},
		{"slots never released", InvSettles, func(s *tasks.Service) { s.Store = noRelease{s.Store} }},
		{"successes recorded as failures", InvEMRTruth, func(s *tasks.Service) { s.Store = pessimist{s.Store} }},
		{"places always given", InvConcurrent, func(s *tasks.Service) { s.Store = unlimited{s.Store} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := ProfileNamed("aws-calm")
			for seed := uint64(1); seed <= 40; seed++ {
				r := Run(Config{Seed: seed, Profile: p, Sabotage: tc.sabotage})
				for _, v := range r.Violations {
					if v.Invariant == tc.invariant {
						return
					}
				}
			}
			t.Fatalf("no schedule of 40 caught it as %q", tc.invariant)
		})
	}
}

type twice struct{ sparkflow.Clusters }

func (c twice) AddStep(ctx context.Context, id string, st sparkflow.StepSpec) (string, error) {
	c.Clusters.AddStep(ctx, id, st)
	return c.Clusters.AddStep(ctx, id, st)
}

type noRelease struct{ sparkflow.Store }

func (noRelease) Release(context.Context, string, int, string, time.Time) error { return nil }

// unlimited gives every run a place, whatever the transform's limit.
type unlimited struct{ sparkflow.Store }

func (u unlimited) Admit(ctx context.Context, transform, runID string, _ int) (bool, error) {
	return u.Store.Admit(ctx, transform, runID, 1<<30)
}

// pessimist records every run that succeeds as failed.
type pessimist struct{ sparkflow.Store }

func (p pessimist) UpdateRun(ctx context.Context, r sparkflow.Run) (sparkflow.Run, error) {
	if r.Status == sparkflow.RunSucceeded {
		r.Status, r.Reason = sparkflow.RunFailed, "sabotaged"
	}
	return p.Store.UpdateRun(ctx, r)
}

func (p pessimist) UpdateRunSlot(ctx context.Context, r sparkflow.Run, ch sparkflow.SlotChange) (sparkflow.Run, error) {
	if r.Status == sparkflow.RunSucceeded {
		r.Status, r.Reason = sparkflow.RunFailed, "sabotaged"
	}
	return p.Store.UpdateRunSlot(ctx, r, ch)
}

// The schedules that found a class of bug (each with its fix undone; README, "What it found") keep
// every invariant with the fixes in: a fix that regresses breaks its schedule again.
func TestTheSchedulesThatFoundBugsStayFixed(t *testing.T) {
	for _, seed := range []uint64{
		37, 74, 1525, 4, 2, 587, 14, 255, 10100, 20693, 2471, // the README's table, in its order
		15368, 7016, // the FIFO check's two allowances (ended runs' slots; capacity lost mid-look)
		10898,        // the simulation's own bug: its clock ended the local reconciler at every period
		147, 48, 608, // max-concurrent: a lost resume of a released run's grant, a place held by a cut-off Hold, a run ended BLOCKED with a place
		196,   // the simulation's own gap: a restarted engine reconciles at once, as the engine does
		1367,  // the simulation's own gap: a task to be tried again is work under way (not settled)
		18163, // clusters whose WAITING event was lost counted as failed starts, and the pool stopped launching
		11585, // an ended attempt's Finish freed the slot its retry had just been granted
		11915, // the simulation's own gap: a place left for the reconciler to free is not settled
		17261, // the FIFO check's own gap: an attempt that left the FIFO (its cluster lost) and came back waited from its first entry
		23367, // a Dispatch cut off between taking a run out of the FIFO (with a slot) and resuming it: no grant, no place (found once EMR idle-ended clusters)
	} {
		r := RunSeed(seed, nil)
		for _, v := range r.Violations {
			t.Errorf("seed %d (%s), step %d: %s: %s (replay: make sim SEED=%d)", seed, r.Profile, v.Step, v.Invariant, v.Detail, seed)
		}
		if r.Runs == 0 {
			t.Errorf("seed %d ran no runs", seed)
		}
	}
}
