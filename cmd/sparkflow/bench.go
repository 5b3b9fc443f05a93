package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
)

// benchOptions are the load benchmark's knobs (sparkflow bench --help).
type benchOptions struct {
	burst        int
	repeat       int
	rate         int
	rateFor      time.Duration
	history      []int
	histRuns     int
	clusters     int
	slots        int
	clients      int
	spawnRuns    int
	cases        string
	dir          string
	profile      string
	blockProfile string
}

func newBenchCmd() *cobra.Command {
	o := benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the embedded engine under load: bursts, an offered rate, history growth, listings",
		Long: `Starts an embedded engine with its JSON API on 127.0.0.1 (a temporary data directory), makes a pool
of --clusters local clusters with --slots slots each and a transform whose step is the command 'true',
and measures, submitting every run through the JSON API:

  spawn    how many 'true' processes per second this machine starts from Go, 16 at a time: the
           physical limit for no-op steps run as processes (with burst: measured before each burst)
  burst    --burst runs submitted at once (by --clients clients): accepted/s, completed/s and its ratio
           to the spawn rate measured just before it, the CPU time a run costs (the process's and its
           step's), --repeat times (min and median), and the process's peak RSS
  rate     --rate runs/s offered for --rate-for: QUEUED→SUBMITTED latency p50/p99/max
  history  the CPU time per run of a --history-runs burst on top of each --history count of earlier
           runs (written straight to the database, as a long-lived engine would have them)
  list     run listings, status and transform filters and the UI's pages at the largest history

It prints a table and, last, one JSON line with every figure (see BENCHMARKS.md).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runBench(c.Context(), c.OutOrStdout(), c.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.burst, "burst", 10000, "runs in a burst")
	f.IntVar(&o.repeat, "repeat", 3, "bursts to run (min and median are reported)")
	f.IntVar(&o.rate, "rate", 500, "offered runs per second of the rate case")
	f.DurationVar(&o.rateFor, "rate-for", 10*time.Second, "how long the rate case offers runs")
	f.IntSliceVar(&o.history, "history", []int{1000, 100000}, "earlier runs in the database for the history case")
	f.IntVar(&o.histRuns, "history-runs", 2000, "runs measured on top of each history")
	f.IntVar(&o.clusters, "clusters", 3, "clusters in the pool")
	f.IntVar(&o.slots, "slots", 64, "slots (step concurrency) per cluster")
	f.IntVar(&o.clients, "clients", 32, "concurrent API clients submitting a burst")
	f.IntVar(&o.spawnRuns, "spawn-runs", 4000, "processes started to measure the spawn rate")
	f.StringVar(&o.cases, "cases", "spawn,burst,rate,history,list", "the cases to run, comma-separated")
	f.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of the whole bench to this file (go tool pprof)")
	f.StringVar(&o.blockProfile, "blockprofile", "", "write a profile of where goroutines waited (channels, locks, select; waits of 100 µs or more) to this file (go tool pprof)")
	f.StringVar(&o.dir, "dir", "", "parent of the temporary data directories (default: the system's)")
	return cmd
}

// benchReport is every figure of one bench, printed as the JSON line.
type benchReport struct {
	Date       string    `json:"date"`
	CPUs       int       `json:"cpus"`
	Commit     string    `json:"commit,omitempty"`
	SpawnPerS  float64   `json:"spawn_per_s,omitempty"`
	Burst      int       `json:"burst,omitempty"`
	AcceptedS  []float64 `json:"burst_accepted_per_s,omitempty"`
	CompletedS []float64 `json:"burst_completed_per_s,omitempty"`
	// SpawnEach is the spawn rate measured just before each burst, and Ratio each burst's completed
	// rate over it (the machine's speed drifts: a ratio of figures measured minutes apart says less).
	SpawnEach []float64 `json:"burst_spawn_per_s,omitempty"`
	Ratio     []float64 `json:"burst_completed_over_spawn,omitempty"`
	// BurstCPU is the CPU time per run of each burst: the process's and its steps' (user and system).
	BurstCPU  []float64 `json:"burst_cpu_ms_per_run,omitempty"`
	PeakRSSMB float64   `json:"peak_rss_mb,omitempty"`
	Rate      int       `json:"rate_offered_per_s,omitempty"`
	RateDone  float64   `json:"rate_completed_per_s,omitempty"`
	WaitP50   float64   `json:"rate_queued_to_submitted_p50_ms,omitempty"`
	WaitP99   float64   `json:"rate_queued_to_submitted_p99_ms,omitempty"`
	WaitMax   float64   `json:"rate_queued_to_submitted_max_ms,omitempty"`
	History   []int     `json:"history,omitempty"`
	CPUPerRun []float64 `json:"history_cpu_ms_per_run,omitempty"`
	Listings  []listing `json:"listings,omitempty"`
	Failed    int       `json:"runs_not_succeeded"`
}

type listing struct {
	Name     string  `json:"name"`
	MedianMS float64 `json:"median_ms"`
	Items    int     `json:"items"`
}

func runBench(ctx context.Context, out, errw io.Writer, o benchOptions) error {
	cases := map[string]bool{}
	for _, c := range strings.Split(o.cases, ",") {
		switch c = strings.TrimSpace(c); c {
		case "spawn", "burst", "rate", "history", "list":
			cases[c] = true
		case "":
		default:
			return usagef("--cases: %q is not a case; use spawn, burst, rate, history or list", c)
		}
	}
	if o.burst < 1 || o.repeat < 1 || o.rate < 1 || o.clusters < 1 || o.slots < 1 || o.clients < 1 || o.histRuns < 1 {
		return usagef("--burst, --repeat, --rate, --clusters, --slots, --clients and --history-runs must be at least 1")
	}
	if o.profile != "" {
		pf, err := os.Create(o.profile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if o.blockProfile != "" {
		runtime.SetBlockProfileRate(int(100 * time.Microsecond))
		defer func() {
			if err := writeProfile("block", o.blockProfile); err != nil {
				fmt.Fprintf(errw, "bench: %v\n", err)
			}
		}()
	}
	rep := benchReport{Date: time.Now().UTC().Format(time.RFC3339), CPUs: runtime.NumCPU(), Commit: os.Getenv("SPARKFLOW_COMMIT")}
	progress := func(format string, args ...any) { fmt.Fprintf(errw, "bench: "+format+"\n", args...) }

	spawn := func() (float64, error) {
		progress("spawn: starting %d 'true' processes, 16 at a time…", o.spawnRuns)
		rate, err := spawnRate(o.spawnRuns, 16)
		if err == nil {
			progress("  %.0f/s", rate)
		}
		return rate, err
	}
	if cases["spawn"] && !cases["burst"] {
		rate, err := spawn()
		if err != nil {
			return err
		}
		rep.SpawnPerS = rate
	}
	if cases["burst"] {
		rep.Burst = o.burst
		for i := 0; i < o.repeat; i++ {
			var rate float64
			if cases["spawn"] {
				var err error
				if rate, err = spawn(); err != nil {
					return err
				}
				rep.SpawnEach = append(rep.SpawnEach, rate)
			}
			progress("burst %d/%d: %d runs…", i+1, o.repeat, o.burst)
			err := withBenchEngine(ctx, o, 0, func(b *benchEngine) error {
				before := cpuTimeWithChildren()
				res, err := b.burst(ctx, o.burst, o.clients)
				if err != nil {
					return err
				}
				cpu := float64((cpuTimeWithChildren() - before).Microseconds()) / 1000 / float64(o.burst)
				rep.AcceptedS = append(rep.AcceptedS, res.acceptedPerS)
				rep.CompletedS = append(rep.CompletedS, res.completedPerS)
				rep.BurstCPU = append(rep.BurstCPU, cpu)
				if rate > 0 {
					rep.Ratio = append(rep.Ratio, res.completedPerS/rate)
				}
				rep.Failed += res.failed
				progress("  accepted %.0f/s, completed %.0f/s, %.2f ms CPU a run (with its step); %s", res.acceptedPerS, res.completedPerS, cpu, phases(res.runs))
				return nil
			})
			if err != nil {
				return err
			}
		}
		if len(rep.SpawnEach) > 0 {
			rep.SpawnPerS = median(rep.SpawnEach)
		}
	}
	if cases["rate"] {
		rep.Rate = o.rate
		progress("rate: %d runs/s offered for %s…", o.rate, o.rateFor)
		err := withBenchEngine(ctx, o, 0, func(b *benchEngine) error {
			res, err := b.offered(ctx, o.rate, o.rateFor)
			if err != nil {
				return err
			}
			rep.RateDone, rep.WaitP50, rep.WaitP99, rep.WaitMax = res.completedPerS, res.p50, res.p99, res.max
			rep.Failed += res.failed
			return nil
		})
		if err != nil {
			return err
		}
	}
	if cases["history"] || cases["list"] {
		hist := append([]int(nil), o.history...)
		sort.Ints(hist)
		for i, h := range hist {
			measureList := cases["list"] && i == len(hist)-1
			if !cases["history"] && !measureList {
				continue
			}
			progress("history: %d earlier runs…", h)
			err := withBenchEngine(ctx, o, h, func(b *benchEngine) error {
				if cases["history"] {
					cpu, failed, err := b.cpuPerRun(ctx, o.histRuns, o.clients)
					if err != nil {
						return err
					}
					rep.History = append(rep.History, h)
					rep.CPUPerRun = append(rep.CPUPerRun, cpu)
					rep.Failed += failed
					progress("  %.2f ms CPU per run", cpu)
				}
				if measureList {
					ls, err := b.listings(ctx)
					if err != nil {
						return err
					}
					rep.Listings = ls
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	rep.PeakRSSMB = peakRSSMB()
	printBench(out, rep)
	line, _ := json.Marshal(rep)
	fmt.Fprintf(out, "bench-summary %s\n", line)
	if rep.Failed > 0 {
		return fmt.Errorf("%d runs of the bench did not succeed: the figures above are not valid", rep.Failed)
	}
	return nil
}

func printBench(w io.Writer, r benchReport) {
	fmt.Fprintf(w, "\nSparkFlow load bench — %s, %d CPUs\n\n", r.Date, r.CPUs)
	fmt.Fprintf(w, "| figure | value |\n|---|---|\n")
	if r.SpawnPerS > 0 && len(r.SpawnEach) == 0 {
		fmt.Fprintf(w, "| spawn rate ('true', 16 at a time) | %.0f/s |\n", r.SpawnPerS)
	}
	if len(r.SpawnEach) > 0 {
		fmt.Fprintf(w, "| spawn rate ('true', 16 at a time), before each burst | min %.0f/s, median %.0f/s |\n", minOf(r.SpawnEach), median(r.SpawnEach))
	}
	if len(r.CompletedS) > 0 {
		fmt.Fprintf(w, "| %d-run burst, accepted | min %.0f/s, median %.0f/s |\n", r.Burst, minOf(r.AcceptedS), median(r.AcceptedS))
		fmt.Fprintf(w, "| %d-run burst, completed | min %.0f/s, median %.0f/s |\n", r.Burst, minOf(r.CompletedS), median(r.CompletedS))
		if len(r.Ratio) > 0 {
			fmt.Fprintf(w, "| completed / spawn rate (each burst over the spawn rate measured before it) | min %.2f, median %.2f |\n", minOf(r.Ratio), median(r.Ratio))
		}
		fmt.Fprintf(w, "| CPU per run of a burst (the process and its steps, user and system) | min %.2f ms, median %.2f ms |\n", minOf(r.BurstCPU), median(r.BurstCPU))
	}
	if r.Rate > 0 {
		fmt.Fprintf(w, "| %d/s offered: completed | %.0f/s |\n", r.Rate, r.RateDone)
		fmt.Fprintf(w, "| %d/s offered: QUEUED→SUBMITTED | p50 %.1f ms, p99 %.1f ms, max %.1f ms |\n", r.Rate, r.WaitP50, r.WaitP99, r.WaitMax)
	}
	for i, h := range r.History {
		fmt.Fprintf(w, "| CPU per run, %d runs of history | %.2f ms |\n", h, r.CPUPerRun[i])
	}
	if len(r.CPUPerRun) > 1 {
		fmt.Fprintf(w, "| CPU per run, largest / smallest history | %.2f× |\n", r.CPUPerRun[len(r.CPUPerRun)-1]/r.CPUPerRun[0])
	}
	for _, l := range r.Listings {
		fmt.Fprintf(w, "| %s (%d items) | %.1f ms |\n", l.Name, l.Items, l.MedianMS)
	}
	fmt.Fprintf(w, "| peak RSS of the process (engine, API and clients) | %.0f MB |\n", r.PeakRSSMB)
	fmt.Fprintf(w, "| runs that did not succeed | %d |\n\n", r.Failed)
}

// spawnRate starts n 'true' processes, par at a time, and returns how many it started per second.
func spawnRate(n, par int) (float64, error) {
	path, err := exec.LookPath("true")
	if err != nil {
		return 0, fmt.Errorf("spawn rate: %w", err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, par)
	start := time.Now()
	for i := 0; i < par; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := exec.Command(path).Run(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, fmt.Errorf("spawn rate: %w", err)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// writeProfile writes the named runtime profile (pprof.Lookup) to path.
func writeProfile(name, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("write the %s profile: %v", name, err)
	}
	return f.Close()
}
