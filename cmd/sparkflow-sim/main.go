// Command sparkflow-sim runs the deterministic simulation of SparkFlow's task logic: a batch of
// seeded schedules on all cores, with per-invariant counts and the shortest failing seed of each, or
// one seed's schedule with its trace.
//
//	sparkflow-sim -seeds 100000          # make sim SEEDS=100000
//	sparkflow-sim -seed 4711             # make sim SEED=4711: the schedule, step by step
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/sparkflow/sparkflow/shared/sim"
)

func main() {
	seeds := flag.Int("seeds", 2000, "how many schedules to run (seeds -first to -first+seeds-1)")
	first := flag.Uint64("first", 1, "the first seed of the batch")
	seed := flag.Uint64("seed", 0, "run this one seed and print its trace")
	workers := flag.Int("workers", runtime.NumCPU(), "schedules run at once")
	failFast := flag.Bool("failfast", false, "start no more schedules once one has broken an invariant")
	flag.Parse()
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
