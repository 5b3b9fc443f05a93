package sim

import (
	"fmt"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ProfileOf is the profile a seed runs: the seed alone names a schedule, and replays it.
func ProfileOf(seed uint64) Profile { return Profiles[seed%uint64(len(Profiles))] }

// RunSeed runs the schedule a seed names.
func RunSeed(seed uint64, trace func(string)) Result {
	return Run(Config{Seed: seed, Profile: ProfileOf(seed), Trace: trace})
}

// StoreFunc opens a fresh store for one schedule (nil: SQLite in memory).
type StoreFunc = func() (sparkflow.Store, func(), error)

// Report is a batch of schedules: how many ran, per profile, and every invariant broken, with the
// shortest failing schedule of each (the one to replay).
type Report struct {
	Schedules int
	Steps     int
	Elapsed   time.Duration
	Profiles  map[string]int
	// Broken counts, per invariant, the schedules that broke it; Shortest is the failing schedule of
	// fewest steps.
	Broken   map[string]int
	Shortest map[string]Result
}

// Batch runs the schedules of seeds first..first+n-1 on workers goroutines (each schedule has its
// own store), calling progress now and then with how many are done.
func Batch(first uint64, n, workers int, progress func(done int)) Report {
	return BatchOn(nil, first, n, workers, progress)
}

// BatchOn is Batch on the stores open makes.
func BatchOn(open StoreFunc, first uint64, n, workers int, progress func(done int)) Report {
	return BatchUntil(open, first, n, workers, progress, false)
}

// BatchUntil is BatchOn that, with failFast, starts no more schedules once one has broken an
// invariant (the report then counts the schedules that ran).
func BatchUntil(open StoreFunc, first uint64, n, workers int, progress func(done int), failFast bool) Report {
	rep := Report{Profiles: map[string]int{}, Broken: map[string]int{}, Shortest: map[string]Result{}}
	var broken atomic.Bool
	start := time.Now()
	seeds := make(chan uint64)
	var mu sync.Mutex
	var wg sync.WaitGroup
	done := 0
	for w := 0; w < max(workers, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seed := range seeds {
				r := Run(Config{Seed: seed, Profile: ProfileOf(seed), Store: open})
				mu.Lock()
				rep.Schedules++
				rep.Steps += r.Steps
				rep.Profiles[r.Profile]++
				seen := map[string]bool{}
				for _, v := range r.Violations {
					if seen[v.Invariant] {
						continue
					}
					seen[v.Invariant] = true
					rep.Broken[v.Invariant]++
					if s, ok := rep.Shortest[v.Invariant]; !ok || r.Steps < s.Steps || (r.Steps == s.Steps && r.Seed < s.Seed) {
						rep.Shortest[v.Invariant] = r
					}
				}
				if len(r.Violations) > 0 {
					broken.Store(true)
				}
				done++
				if progress != nil && done%200 == 0 {
					progress(done)
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < n && !(failFast && broken.Load()); i++ {
		seeds <- first + uint64(i)
	}
	close(seeds)
	wg.Wait()
	rep.Elapsed = time.Since(start)
	return rep
}

// Invariants lists every invariant a schedule checks.
var Invariants = []string{InvOneStep, InvCapacity, InvForward, InvEndedFinal, InvEMRTruth, InvFIFO, InvReason, InvWorksOn, InvConcurrent, InvNoSlotsLeft, InvSettles, "no panic"}

// Print writes the report: per invariant the schedules that broke it and how to replay the shortest.
func (r Report) Print(w io.Writer) {
	var names []string
	for p := range r.Profiles {
		names = append(names, fmt.Sprintf("%s %d", p, r.Profiles[p]))
	}
	sort.Strings(names)
	fmt.Fprintf(w, "%d schedules (%s), %d steps, in %s\n", r.Schedules, strings.Join(names, ", "), r.Steps, r.Elapsed.Round(time.Second))
	all := append([]string{}, Invariants...)
	for inv := range r.Broken {
		known := false
		for _, k := range all {
			known = known || k == inv
		}
		if !known {
			all = append(all, inv)
		}
	}
	for _, inv := range all {
		n := r.Broken[inv]
		if n == 0 {
			fmt.Fprintf(w, "  %-48s 0 violations\n", inv)
			continue
		}
		s := r.Shortest[inv]
		detail := ""
		for _, v := range s.Violations {
			if v.Invariant == inv {
				detail = v.Detail
				break
			}
		}
		fmt.Fprintf(w, "  %-48s %d schedules; shortest: seed %d (%s, %d steps): %s\n      replay: make sim SEED=%d\n", inv, n, s.Seed, s.Profile, s.Steps, detail, s.Seed)
	}
}

// Violations is the number of schedules that broke any invariant (each counted per invariant).
func (r Report) Violations() int {
	n := 0
	for _, c := range r.Broken {
		n += c
	}
	return n
}
