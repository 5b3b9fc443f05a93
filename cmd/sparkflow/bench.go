package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/sparkflow/sparkflow/shared/front/httpapi"
	"github.com/sparkflow/sparkflow/shared/front/webui"
	"github.com/sparkflow/sparkflow/shared/local/engine"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// benchOptions are the load benchmark's knobs (sparkflow bench --help).
type benchOptions struct {
	burst     int
	repeat    int
	rate      int
	rateFor   time.Duration
	history   []int
	histRuns  int
	clusters  int
	slots     int
	clients   int
	spawnRuns int
	cases     string
	dir       string
	profile   string
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
           physical limit for no-op steps run as processes
  burst    --burst runs submitted at once (by --clients clients): accepted/s, completed/s and its ratio
           to the spawn rate, --repeat times (min and median), and the process's peak RSS
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
	PeakRSSMB  float64   `json:"peak_rss_mb,omitempty"`
	Rate       int       `json:"rate_offered_per_s,omitempty"`
	RateDone   float64   `json:"rate_completed_per_s,omitempty"`
	WaitP50    float64   `json:"rate_queued_to_submitted_p50_ms,omitempty"`
	WaitP99    float64   `json:"rate_queued_to_submitted_p99_ms,omitempty"`
	WaitMax    float64   `json:"rate_queued_to_submitted_max_ms,omitempty"`
	History    []int     `json:"history,omitempty"`
	CPUPerRun  []float64 `json:"history_cpu_ms_per_run,omitempty"`
	Listings   []listing `json:"listings,omitempty"`
	Failed     int       `json:"runs_not_succeeded"`
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
	rep := benchReport{Date: time.Now().UTC().Format(time.RFC3339), CPUs: runtime.NumCPU(), Commit: os.Getenv("SPARKFLOW_COMMIT")}
	progress := func(format string, args ...any) { fmt.Fprintf(errw, "bench: "+format+"\n", args...) }

	if cases["spawn"] {
		progress("spawn: starting %d 'true' processes, 16 at a time…", o.spawnRuns)
		rate, err := spawnRate(o.spawnRuns, 16)
		if err != nil {
			return err
		}
		rep.SpawnPerS = rate
	}
	if cases["burst"] {
		rep.Burst = o.burst
		for i := 0; i < o.repeat; i++ {
			progress("burst %d/%d: %d runs…", i+1, o.repeat, o.burst)
			err := withBenchEngine(ctx, o, 0, func(b *benchEngine) error {
				res, err := b.burst(ctx, o.burst, o.clients)
				if err != nil {
					return err
				}
				rep.AcceptedS = append(rep.AcceptedS, res.acceptedPerS)
				rep.CompletedS = append(rep.CompletedS, res.completedPerS)
				rep.Failed += res.failed
				progress("  accepted %.0f/s, completed %.0f/s; %s", res.acceptedPerS, res.completedPerS, phases(res.runs))
				return nil
			})
			if err != nil {
				return err
			}
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
	if r.SpawnPerS > 0 {
		fmt.Fprintf(w, "| spawn rate ('true', 16 at a time) | %.0f/s |\n", r.SpawnPerS)
	}
	if len(r.CompletedS) > 0 {
		fmt.Fprintf(w, "| %d-run burst, accepted | min %.0f/s, median %.0f/s |\n", r.Burst, minOf(r.AcceptedS), median(r.AcceptedS))
		fmt.Fprintf(w, "| %d-run burst, completed | min %.0f/s, median %.0f/s |\n", r.Burst, minOf(r.CompletedS), median(r.CompletedS))
		if r.SpawnPerS > 0 {
			fmt.Fprintf(w, "| completed / spawn rate | min %.2f, median %.2f |\n", minOf(r.CompletedS)/r.SpawnPerS, median(r.CompletedS)/r.SpawnPerS)
		}
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

// benchEngine is an engine on a temporary data directory with the JSON API and the UI on a loopback
// port, a ready pool and a transform whose step is 'true'.
type benchEngine struct {
	e      *engine.Engine
	client *httpapi.Client
	base   string
}

const benchTransform = "bench-true"

func withBenchEngine(ctx context.Context, o benchOptions, history int, fn func(*benchEngine) error) error {
	dir, err := os.MkdirTemp(o.dir, "sparkflow-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	e, err := engine.Open(engine.Config{DataDir: dir, ProvisionDelay: 10 * time.Millisecond, Log: log})
	if err != nil {
		return err
	}
	defer e.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", httpapi.NewServer(e, httpapi.Options{Log: log}))
	mux.Handle("/", webui.New(e, webui.Options{Logs: true, Log: log}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	b := &benchEngine{e: e, client: httpapi.NewClient(base), base: base}
	if _, err := b.client.CreatePool(ctx, sparkflow.Pool{Name: "bench", Tier: "small", Clusters: o.clusters, StepConcurrency: o.slots}); err != nil {
		return err
	}
	for {
		p, err := b.client.GetPool(ctx, "bench")
		if err != nil {
			return err
		}
		if p.Status == sparkflow.PoolReady {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := b.client.CreateTransform(ctx, sparkflow.Transform{Name: benchTransform, Pool: "bench", Kind: sparkflow.KindCommand,
		Command: []string{"true"}, MaxAttempts: 1, TimeoutSeconds: 600}); err != nil {
		return err
	}
	if history > 0 {
		if err := b.seedHistory(ctx, history); err != nil {
			return err
		}
	}
	return fn(b)
}

// seedHistory writes n ended runs straight to the store, as a long-lived engine has them: mostly
// succeeded, some failed, with an ordinary history each.
func (b *benchEngine) seedHistory(ctx context.Context, n int) error {
	start := time.Now().Add(-time.Duration(n) * time.Second)
	var next, written atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for w := 0; w < 32; w++ { // many writers at once: the store commits them together
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				at := start.Add(time.Duration(i) * time.Second).UTC()
				status := sparkflow.RunSucceeded
				if i%50 == 0 {
					status = sparkflow.RunFailed
				}
				r := sparkflow.Run{ID: uuid.NewString(), Transform: benchTransform, Pool: "bench", Status: sparkflow.RunQueued,
					Attempt: 1, MaxAttempts: 1, TimeoutSeconds: 600, CreatedAt: at}
				r.History = []sparkflow.Transition{{Status: sparkflow.RunQueued, Attempt: 1, At: at}}
				r.SetStatus(sparkflow.RunSubmitted, at.Add(time.Millisecond), "step s-HISTORY")
				r.SetStatus(sparkflow.RunRunning, at.Add(2*time.Millisecond), "")
				r.SetStatus(status, at.Add(3*time.Millisecond), "")
				if _, err := b.e.Store.CreateRun(ctx, r); err != nil {
					errs <- err
					return
				}
				if k := written.Add(1); k%20000 == 0 {
					fmt.Fprintf(os.Stderr, "bench:   %d/%d runs of history written\n", k, n)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

type burstResult struct {
	acceptedPerS, completedPerS float64
	failed                      int
	runs                        []sparkflow.Run
}

// submit submits n runs with par clients and returns their ids, in order of acceptance per client.
func (b *benchEngine) submit(ctx context.Context, n, par int) ([]string, error) {
	ids := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for i := 0; i < par; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := next.Add(1) - 1
				if k >= int64(n) || firstErr.Load() != nil {
					return
				}
				r, err := b.client.SubmitRun(ctx, sparkflow.RunRequest{Transform: benchTransform})
				if err != nil {
					firstErr.Store(err)
					return
				}
				ids[k] = r.ID
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, fmt.Errorf("submit a run: %w", err)
	}
	return ids, nil
}

// wait waits until the engine runs no workflow, then reads the runs.
func (b *benchEngine) wait(ctx context.Context, ids []string, limit time.Duration) ([]sparkflow.Run, error) {
	deadline := time.Now().Add(limit)
	for b.e.Active() > 0 {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d runs still under way after %s: the engine is not keeping up", b.e.Active(), limit)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	runs := make([]sparkflow.Run, 0, len(ids))
	for _, id := range ids {
		r, err := b.e.Store.GetRun(ctx, id)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	return runs, nil
}

func (b *benchEngine) burst(ctx context.Context, n, par int) (burstResult, error) {
	start := time.Now()
	ids, err := b.submit(ctx, n, par)
	if err != nil {
		return burstResult{}, err
	}
	accepted := time.Since(start)
	runs, err := b.wait(ctx, ids, 10*time.Minute)
	if err != nil {
		return burstResult{}, err
	}
	var last time.Time
	failed := 0
	for _, r := range runs {
		if r.Status != sparkflow.RunSucceeded {
			failed++
		}
		if r.EndedAt != nil && r.EndedAt.After(last) {
			last = *r.EndedAt
		}
	}
	return burstResult{acceptedPerS: float64(n) / accepted.Seconds(), completedPerS: float64(n) / last.Sub(start).Seconds(), failed: failed, runs: runs}, nil
}

// phases says how long runs spent, median and p99, from acceptance to their slot, from the slot to
// their step's submission, from there to RUNNING and from RUNNING to their end.
func phases(runs []sparkflow.Run) string {
	names := []string{"queued→slot", "slot→submitted", "submitted→running", "running→ended"}
	d := make([][]float64, len(names))
	for _, r := range runs {
		var at [5]time.Time
		at[0] = r.CreatedAt
		for _, t := range r.History {
			switch {
			case t.Event == sparkflow.EventReserved && at[1].IsZero():
				at[1] = t.At
			case t.Status == sparkflow.RunSubmitted && at[2].IsZero():
				at[2] = t.At
			case t.Status == sparkflow.RunRunning && at[3].IsZero():
				at[3] = t.At
			case t.Status.Terminal():
				at[4] = t.At
			}
		}
		for i := range names {
			if !at[i].IsZero() && !at[i+1].IsZero() {
				d[i] = append(d[i], float64(at[i+1].Sub(at[i]).Microseconds())/1000)
			}
		}
	}
	var out []string
	for i, n := range names {
		if len(d[i]) == 0 {
			continue
		}
		sort.Float64s(d[i])
		out = append(out, fmt.Sprintf("%s p50 %.1f ms p99 %.1f ms", n, pct(d[i], 0.5), pct(d[i], 0.99)))
	}
	return strings.Join(out, ", ")
}

type rateResult struct {
	completedPerS, p50, p99, max float64
	failed                       int
}

// offered submits rate runs per second for d, each on its own schedule (a late submission does not
// delay the next), and measures how long each run took from QUEUED to SUBMITTED.
func (b *benchEngine) offered(ctx context.Context, rate int, d time.Duration) (rateResult, error) {
	n := int(float64(rate) * d.Seconds())
	ids := make([]string, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	sem := make(chan struct{}, 256)
	for i := 0; i < n; i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			r, err := b.client.SubmitRun(ctx, sparkflow.RunRequest{Transform: benchTransform})
			if err != nil {
				errs <- err
				return
			}
			ids[i] = r.ID
		}(i)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return rateResult{}, fmt.Errorf("submit a run: %w", err)
	}
	runs, err := b.wait(ctx, ids, 10*time.Minute)
	if err != nil {
		return rateResult{}, err
	}
	var waits []float64
	var last time.Time
	failed := 0
	for _, r := range runs {
		if r.Status != sparkflow.RunSucceeded {
			failed++
		}
		if r.EndedAt != nil && r.EndedAt.After(last) {
			last = *r.EndedAt
		}
		for _, t := range r.History {
			if t.Status == sparkflow.RunSubmitted {
				waits = append(waits, float64(t.At.Sub(r.CreatedAt).Microseconds())/1000)
				break
			}
		}
	}
	sort.Float64s(waits)
	if len(waits) == 0 {
		return rateResult{}, fmt.Errorf("no run of the rate case was submitted")
	}
	return rateResult{completedPerS: float64(n) / last.Sub(start).Seconds(), p50: pct(waits, 0.50), p99: pct(waits, 0.99), max: waits[len(waits)-1], failed: failed}, nil
}

// cpuPerRun is the process's CPU time (user and system, its children's not counted) per run of an
// n-run burst.
func (b *benchEngine) cpuPerRun(ctx context.Context, n, par int) (float64, int, error) {
	before := cpuTime()
	res, err := b.burst(ctx, n, par)
	if err != nil {
		return 0, 0, err
	}
	return float64((cpuTime() - before).Microseconds()) / 1000 / float64(n), res.failed, nil
}

// listings times the run listings of the API and the UI's pages (median of 7 each).
func (b *benchEngine) listings(ctx context.Context) ([]listing, error) {
	cases := []struct{ name, path string }{
		{"GET /api/runs?limit=100", "/api/runs?limit=100"},
		{"GET /api/runs?status=FAILED&limit=100", "/api/runs?status=FAILED&limit=100"},
		{"GET /api/runs?transform=" + benchTransform + "&limit=100", "/api/runs?transform=" + benchTransform + "&limit=100"},
		{"GET /api/runs?pool=bench&status=SUCCEEDED&limit=100", "/api/runs?pool=bench&status=SUCCEEDED&limit=100"},
		{"GET /api/runs?active=true", "/api/runs?active=true"},
		{"UI /runs", "/runs"},
		{"UI /runs?status=FAILED&page=3", "/runs?status=FAILED&page=3"},
		{"UI /clusters", "/clusters"},
		{"UI /transforms", "/transforms"},
		{"UI /transforms/" + benchTransform, "/transforms/" + benchTransform},
	}
	var out []listing
	for _, c := range cases {
		var times []float64
		items := 0
		for i := 0; i < 7; i++ {
			t0 := time.Now()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.base+c.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return nil, err
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return nil, err
			}
			if resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("%s: %s: %s", c.path, resp.Status, body)
			}
			times = append(times, float64(time.Since(t0).Microseconds())/1000)
			if strings.HasPrefix(c.path, "/api/") {
				var v []json.RawMessage
				if json.Unmarshal(body, &v) == nil {
					items = len(v)
				}
			} else {
				items = strings.Count(string(body), "<tr")
			}
		}
		out = append(out, listing{Name: c.name, MedianMS: median(times), Items: items})
	}
	return out, nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSSMB is the process's peak resident set (VmHWM).
func peakRSSMB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

func pct(sorted []float64, p float64) float64 {
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func minOf(v []float64) float64 {
	m := v[0]
	for _, x := range v[1:] {
		m = min(m, x)
	}
	return m
}
