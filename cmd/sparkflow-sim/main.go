// Command sparkflow-sim runs the deterministic simulation of SparkFlow's task logic: a batch of
// seeded schedules on all cores, with per-invariant counts and the shortest failing seed of each, or
// one seed's schedule with its trace.
//
//	sparkflow-sim -seeds 100000          # make sim SEEDS=100000
//	sparkflow-sim -seed 4711             # make sim SEED=4711: the schedule, step by step
//	sparkflow-sim -queueing              # make bench-scheduling: mean queue wait against Erlang C
//	sparkflow-sim -scaling               # make bench-scaling: an elastic pool against a fixed one
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/sparkflow/sparkflow/shared/sim"
	"github.com/sparkflow/sparkflow/shared/sim/queueing"
)

func main() {
	seeds := flag.Int("seeds", 2000, "how many schedules to run (seeds -first to -first+seeds-1)")
	first := flag.Uint64("first", 1, "the first seed of the batch")
	seed := flag.Uint64("seed", 0, "run this one seed and print its trace")
	workers := flag.Int("workers", runtime.NumCPU(), "schedules run at once")
	failFast := flag.Bool("failfast", false, "start no more schedules once one has broken an invariant")
	queue := flag.Bool("queueing", false, "instead: SparkFlow's mean queue wait against Erlang C's floor and the seed's policy, on a virtual clock (shared/sim/queueing)")
	scale := flag.Bool("scaling", false, "instead: an elastic pool's cluster-hours and waits against a fixed pool and the clairvoyant bound, over simulated days (shared/sim/scaling)")
	flag.Parse()
	if *scale {
		if err := scalingTable(os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "sparkflow-sim:", err)
			os.Exit(1)
		}
		return
	}
	if *queue {
		if err := queueingTable(os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "sparkflow-sim:", err)
			os.Exit(1)
		}
		return
	}
	if *seed != 0 {
		r := sim.RunSeed(*seed, func(line string) { fmt.Println(line) })
		fmt.Printf("seed %d (%s): %d steps, %d violations\n", r.Seed, r.Profile, r.Steps, len(r.Violations))
		for _, v := range r.Violations {
			fmt.Printf("  step %d: %s: %s\n", v.Step, v.Invariant, v.Detail)
		}
		if len(r.Violations) > 0 {
			os.Exit(1)
		}
		return
	}
	if *seeds < 1 {
		fmt.Fprintln(os.Stderr, "sparkflow-sim: -seeds must be at least 1")
		os.Exit(2)
	}
	rep := sim.BatchUntil(nil, *first, *seeds, *workers, func(done int) {
		fmt.Fprintf(os.Stderr, "\r%d/%d schedules", done, *seeds)
	}, *failFast)
	fmt.Fprintln(os.Stderr)
	rep.Print(os.Stdout)
	out, _ := json.Marshal(map[string]any{"schedules": rep.Schedules, "steps": rep.Steps, "seconds": rep.Elapsed.Seconds(), "violations": rep.Broken, "profiles": rep.Profiles})
	fmt.Printf("sim-summary: %s\n", out)
	if rep.Violations() > 0 {
		os.Exit(1)
	}
}

// queueingTable prints the scheduling experiments: a pool of 3 clusters × 4 slots, jobs of 10 minutes
// on average, loads 0.5 to 0.95, equal (exponential) and heavy-tailed sizes; each figure is the mean
// of three seeds of 400,000 arrivals. For heavy-tailed sizes the floor is the Allen–Cunneen M/G/c
// approximation (Erlang C × (1 + Cs²)/2), not an exact bound.
func queueingTable(w *os.File) error {
	fmt.Fprintln(w, "| sizes | load | floor (s) | SparkFlow (s) | SparkFlow / floor | seed policy (s) | seed / floor |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	var rows []map[string]any
	for _, sizes := range []queueing.Sizes{queueing.Exponential, queueing.HeavyTailed} {
		for _, load := range []float64{0.5, 0.7, 0.8, 0.9, 0.95} {
			var r queueing.Result
			const seeds = 3
			for seed := int64(1); seed <= seeds; seed++ {
				one, err := queueing.Run(queueing.Config{Clusters: 3, Slots: 4, Load: load, Sizes: sizes, Runs: 400000, Seed: seed})
				if err != nil {
					return err
				}
				r.Floor = one.Floor
				r.SparkFlow += one.SparkFlow / seeds
				r.Seed += one.Seed / seeds
			}
			fmt.Fprintf(w, "| %s | %.2f | %.1f | %.1f | %.3f | %.1f | %.1f |\n", sizes, load, r.Floor, r.SparkFlow, r.Ratio(), r.Seed, r.SeedRatio())
			rows = append(rows, map[string]any{"sizes": sizes, "load": load, "floor_s": r.Floor, "sparkflow_s": r.SparkFlow, "seed_s": r.Seed})
		}
	}
	line, _ := json.Marshal(rows)
	fmt.Fprintf(w, "queueing-summary %s\n", line)
	return nil
}
