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
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/sparkflow/sparkflow/shared/front/httpapi"
	"github.com/sparkflow/sparkflow/shared/front/webui"
	"github.com/sparkflow/sparkflow/shared/local/engine"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

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
	last, failed := ended(runs)
	return burstResult{acceptedPerS: float64(n) / accepted.Seconds(), completedPerS: float64(n) / last.Sub(start).Seconds(), failed: failed, runs: runs}, nil
}

// ended is when the last of runs ended, and how many did not succeed.
func ended(runs []sparkflow.Run) (last time.Time, failed int) {
	for _, r := range runs {
		if r.Status != sparkflow.RunSucceeded {
			failed++
		}
		if r.EndedAt != nil && r.EndedAt.After(last) {
			last = *r.EndedAt
		}
	}
	return last, failed
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
	last, failed := ended(runs)
	for _, r := range runs {
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

// cpuTimeWithChildren is cpuTime with that of the children the process has waited for (the steps).
func cpuTimeWithChildren() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
	return cpuTime() + time.Duration(ru.Utime.Nano()+ru.Stime.Nano())
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
