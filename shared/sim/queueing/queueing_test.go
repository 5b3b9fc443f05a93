package queueing

import (
	"math"
	"testing"
)

func TestErlangC(t *testing.T) {
	// Two servers, λ = μ = 1: P(wait) = 1/3, mean wait = P(wait) / (cμ − λ) = 1/3.
	if w := ErlangCWait(2, 1, 1); math.Abs(w-1.0/3) > 1e-12 {
		t.Fatalf("M/M/2 at ρ 0.5: mean wait %v, want 1/3", w)
	}
	// One server is M/M/1: W = ρ / (μ − λ).
	if w := ErlangCWait(1, 0.8, 1); math.Abs(w-4) > 1e-9 {
		t.Fatalf("M/M/1 at ρ 0.8: mean wait %v, want 4", w)
	}
}

// SparkFlow's decisions on a pool make it the M/M/c queue: its mean wait is within 5% of Erlang C's
// floor, and below the seed policy's (stale counts, one queue per cluster) at every load.
func TestSparkFlowWaitsNoMoreThanTheFloorAndLessThanTheSeedPolicy(t *testing.T) {
	for _, load := range []float64{0.5, 0.8, 0.9} {
		r, err := Run(Config{Clusters: 3, Slots: 4, Load: load, Runs: 200000, Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		if r.Ratio() > 1.05 {
			t.Errorf("load %.2f: SparkFlow waits %.1f s, %.3f× the floor %.1f s", load, r.SparkFlow, r.Ratio(), r.Floor)
		}
		if r.SparkFlow >= r.Seed {
			t.Errorf("load %.2f: SparkFlow waits %.1f s, the seed policy %.1f s", load, r.SparkFlow, r.Seed)
		}
	}
	for _, load := range []float64{0.5, 0.9} {
		r, err := Run(Config{Clusters: 3, Slots: 4, Load: load, Sizes: HeavyTailed, Runs: 200000, Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		if r.SparkFlow >= r.Seed {
			t.Errorf("heavy-tailed, load %.2f: SparkFlow waits %.1f s, the seed policy %.1f s", load, r.SparkFlow, r.Seed)
		}
	}
}

func TestRunRefusesABadConfig(t *testing.T) {
	if _, err := Run(Config{Clusters: 3, Slots: 4, Load: 1}); err == nil {
		t.Fatal("a load of 1 has no steady state: want an error")
	}
}
