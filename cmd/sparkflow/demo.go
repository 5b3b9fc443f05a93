package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sparkflow/sparkflow/shared/front/backfill"
	"github.com/sparkflow/sparkflow/shared/front/display"
	"github.com/sparkflow/sparkflow/shared/local/engine"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

type demoOptions struct {
	runs, clusters, slots int
	dataDir, etl, input   string
	work, provision       time.Duration
}

func newDemoCmd() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a pool of 3 local clusters through 30 runs of a small ETL job, live",
		Long: `Starts the embedded engine on a new temporary data directory, creates a pool of local clusters,
a transform that runs the sales ETL shipped in examples/sales-etl, submits the runs at once and shows
them spread over the clusters, then prints where each ran, how long runs waited and ran, and where the
outputs and logs are. No AWS account is needed.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runDemo(c.Context(), c.OutOrStdout(), o) },
	}
	f := cmd.Flags()
	f.IntVar(&o.runs, "runs", 30, "number of runs")
	f.IntVar(&o.clusters, "clusters", 3, "clusters in the pool")
	f.IntVar(&o.slots, "slots", 4, "slots (step concurrency) per cluster")
	f.StringVar(&o.dataDir, "data", "", "data directory (default: a new temporary directory)")
	f.StringVar(&o.etl, "etl", "", "the sales-etl program (default: next to this binary, then bin/sales-etl)")
	f.StringVar(&o.input, "input", "examples/sales-etl/sales.csv", "the sales CSV")
	f.DurationVar(&o.work, "work", time.Second, "extra time each run spends, to stand in for a bigger job")
	f.DurationVar(&o.provision, "provision-delay", 2*time.Second, "how long a local cluster takes to start")
	return cmd
}

func findETL(given string) (string, error) {
	var candidates []string
	if given != "" {
		candidates = []string{given}
	} else {
		if exe, err := os.Executable(); err == nil {
			candidates = append(candidates, filepath.Join(filepath.Dir(exe), "sales-etl"))
		}
		candidates = append(candidates, filepath.Join("bin", "sales-etl"))
		if p, err := exec.LookPath("sales-etl"); err == nil {
			candidates = append(candidates, p)
		}
	}
	for _, p := range candidates {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return filepath.Abs(p)
		}
	}
	return "", usagef("the sales-etl program was not found (looked at %s); build it with 'make build' or run 'make demo' from the repository root", strings.Join(candidates, ", "))
}

func runDemo(ctx context.Context, out io.Writer, o demoOptions) error {
	if o.runs < 1 || o.clusters < 1 || o.slots < 1 {
		return usagef("--runs, --clusters and --slots must be at least 1")
	}
	etl, err := findETL(o.etl)
	if err != nil {
		return err
	}
	input, err := filepath.Abs(o.input)
	if err != nil {
		return err
	}
	if _, err := os.Stat(input); err != nil {
		return usagef("the demo's input %s is missing (%v); run 'make demo' from the repository root or pass --input", o.input, err)
	}
	if o.dataDir == "" {
		if o.dataDir, err = os.MkdirTemp("", "sparkflow-demo-"); err != nil {
			return err
		}
	}
	e, err := engine.Open(engine.Config{DataDir: o.dataDir, ProvisionDelay: o.provision, ReconcileInterval: 5 * time.Second})
	if err != nil {
		return err
	}
	defer e.Close()
	outputs := filepath.Join(o.dataDir, "outputs")
	fmt.Fprintf(out, "SparkFlow demo — embedded engine, data in %s\n\n", o.dataDir)

	start := time.Now()
	if _, err := e.CreatePool(ctx, sparkflow.Pool{Name: "demo", Tier: "small", Clusters: o.clusters, StepConcurrency: o.slots}); err != nil {
		return err
	}
	fmt.Fprintf(out, "pool demo: launching %d local clusters (tier small, %d slots each)…\n", o.clusters, o.slots)
	for {
		p, err := e.GetPool(ctx, "demo")
		if err != nil {
			return err
		}
		if p.Status == sparkflow.PoolReady {
			fmt.Fprintf(out, "pool demo: %d clusters ready in %s\n", p.Ready, display.Duration(time.Since(start)))
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	_, err = e.CreateTransform(ctx, sparkflow.Transform{
		Name: "sales-by-region", Pool: "demo", Description: "revenue per product for one region and month",
		Command: []string{etl, "--input", input, "--output", filepath.Join(outputs, "${region}-${month}.csv"), "--region", "${region}", "--month", "${month}",
			"--work", "${work}", "--attempt", "${attempt}", "--fail-until", "${fail_until}"},
		Params:      map[string]string{"region": "north", "month": "2026-01", "work": o.work.String(), "fail_until": "0"},
		MaxAttempts: 2, TimeoutSeconds: 600,
	})
	if err != nil {
		return err
	}
	// The ordinary runs are a backfill of regions × months (low priority, ids derived from their
	// parameters); three single runs show what SparkFlow does when things go wrong: one whose source
	// fails once (retried on another attempt), one for a region with no sales (fails both attempts),
	// one that would run for a minute and is cancelled. A second transform, region-report, waits for
	// the sales of its region and month (a dependency): one report follows the retried run, one the
	// failed run.
	regions := []string{"north", "south", "east", "west", "central"}
	specials := []demoSpecial{
		{"retried", map[string]string{"region": "east", "month": "2026-06", "fail_until": "2"}},
		{"failed", map[string]string{"region": "atlantis", "month": "2026-01"}},
		{"cancelled", map[string]string{"region": "west", "month": "2026-06", "work": "60s"}},
	}
	if o.runs < 6 {
		specials = nil
	}
	plan, err := demoBackfill(regions, o.runs-len(specials))
	if err != nil {
		return err
	}
	special := map[string]string{}
	submitted := time.Now()
	if _, err := backfill.Submit(ctx, e, plan, backfill.Options{}); err != nil {
		return err
	}
	for _, sp := range specials {
		r, err := e.SubmitRun(ctx, sparkflow.RunRequest{Transform: "sales-by-region", Params: sp.params})
		if err != nil {
			return err
		}
		special[r.ID] = sp.kind
	}
	reports, err := demoReports(ctx, e, outputs, filepath.Join(o.dataDir, "reports"), specials)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "transform sales-by-region: a backfill of %d runs (regions × months, low priority)", len(plan.Runs))
	if len(special) > 0 {
		fmt.Fprint(out, " and 3 single runs (one with a flaky source, one for a region with no sales, one to be cancelled)")
	}
	fmt.Fprint(out, "\n")
	if len(reports) > 0 {
		fmt.Fprintf(out, "transform region-report: %d runs, each BLOCKED until the sales of its region and month succeed\n", len(reports))
	}
	fmt.Fprint(out, "\n")
	for id, kind := range special {
		if kind == "cancelled" {
			go cancelWhenRunning(ctx, e, id)
		}
	}

	tty := isTerminal(out)
	drawn := 0
	lastLine := ""
	lastPrint := time.Time{}
	for {
		runs, err := e.ListRuns(ctx, sparkflow.RunFilter{Transform: "sales-by-region"})
		if err != nil {
			return err
		}
		p, err := e.GetPool(ctx, "demo")
		if err != nil {
			return err
		}
		lines, done := progress(p.ClusterRecords, runs, o.runs, time.Since(submitted))
		switch {
		case tty:
			if drawn > 0 {
				fmt.Fprintf(out, "\033[%dA", drawn)
			}
			for _, l := range lines {
				fmt.Fprintf(out, "\033[2K%s\n", l)
			}
			drawn = len(lines)
		case lines[len(lines)-1] != lastLine && (time.Since(lastPrint) > time.Second || done):
			fmt.Fprintln(out, lines[len(lines)-1])
			lastLine, lastPrint = lines[len(lines)-1], time.Now()
		}
		if done {
			break
		}
		select {
		case <-ctx.Done():
			return &interruptedError{fmt.Sprintf("interrupted; the runs are kept in %s (sparkflow local --data %s)", o.dataDir, o.dataDir)}
		case <-time.After(200 * time.Millisecond):
		}
	}
	elapsed := time.Since(submitted)
	runs, err := e.ListRuns(ctx, sparkflow.RunFilter{Transform: "sales-by-region"})
	if err != nil {
		return err
	}
	// A failed attempt's own words are the last line of its stderr.
	said := func(r sparkflow.Run, attempt int) string {
		text, _ := e.RunLogs(ctx, r.ID, sparkflow.LogQuery{Stream: "stderr", Attempt: attempt})
		lines := strings.Split(strings.TrimSpace(text), "\n")
		return lines[len(lines)-1]
	}
	if err := summary(out, runs, special, said, elapsed, outputs, filepath.Join(o.dataDir, "emr", "logs"), o.dataDir); err != nil {
		return err
	}
	return reportSummary(ctx, out, e, reports)
}

// cancelWhenRunning cancels a run once it has started, as a user who changed their mind would.
func cancelWhenRunning(ctx context.Context, e *engine.Engine, id string) {
	for ctx.Err() == nil {
		if r, err := e.GetRun(ctx, id); err == nil && (r.Status == sparkflow.RunRunning || r.Status.Terminal()) {
			if !r.Status.Terminal() {
				e.CancelRun(ctx, id)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}

// progress renders one line per cluster and a totals line; done when every run has ended.
func progress(clusters []sparkflow.Cluster, runs []sparkflow.Run, total int, elapsed time.Duration) ([]string, bool) {
	doneOn := map[string]int{}
	counts := map[sparkflow.RunStatus]int{}
	ended := 0
	for _, r := range runs {
		counts[r.Status]++
		if r.Status.Terminal() {
			ended++
			doneOn[r.ClusterID]++
		}
	}
	var lines []string
	for _, c := range clusters {
		used := len(c.Reservations)
		bar := strings.Repeat("█", used) + strings.Repeat("░", max(c.Capacity-used, 0))
		lines = append(lines, fmt.Sprintf("  %-16s %-9s %s  %d/%d busy  %3d done", c.ID, c.State, bar, used, c.Capacity, doneOn[c.ID]))
	}
	lines = append(lines, fmt.Sprintf("  queued %d · waiting %d · submitted %d · running %d · done %d/%d · %s",
		counts[sparkflow.RunQueued], counts[sparkflow.RunWaiting], counts[sparkflow.RunSubmitted], counts[sparkflow.RunRunning], ended, total, display.Duration(elapsed)))
	return lines, ended == total && len(runs) == total
}

func summary(out io.Writer, runs []sparkflow.Run, special map[string]string, said func(sparkflow.Run, int) string, elapsed time.Duration, outputs, logs, data string) error {
	perCluster := map[string]int{}
	byStatus := map[sparkflow.RunStatus]int{}
	var waits, times []time.Duration
	sort.Slice(runs, func(i, j int) bool { return runs[i].CreatedAt.Before(runs[j].CreatedAt) })
	fmt.Fprintf(out, "\nwhere each run went:\n")
	for _, r := range runs {
		byStatus[r.Status]++
		if r.ClusterID != "" {
			perCluster[r.ClusterID]++
		}
		wait := r.QueueWait(time.Now())
		if r.ReservedAt != nil {
			waits = append(waits, wait)
		}
		ran := "-"
		if r.StartedAt != nil && r.EndedAt != nil {
			times = append(times, r.EndedAt.Sub(*r.StartedAt))
			ran = display.Duration(r.EndedAt.Sub(*r.StartedAt))
		}
		note := ""
		switch {
		case r.Status == sparkflow.RunFailed:
			note = fmt.Sprintf("failed %d attempts: %s", r.Attempt, said(r, 0))
		case r.Status == sparkflow.RunCancelled:
			note = "cancelled while it ran"
		case r.Status != sparkflow.RunSucceeded:
			note = r.Reason
		case r.Attempt > 1:
			note = fmt.Sprintf("retried: attempt 1 failed (%s)", said(r, 1))
		}
		fmt.Fprintf(out, "  %s  %-8s %s  %-16s %-9s waited %-7s ran %-7s %s\n", display.ShortID(r.ID), r.Params["region"], r.Params["month"],
			display.OrDash(r.ClusterID), r.Status, display.Duration(wait), ran, display.Truncate(note, 100))
	}
	fmt.Fprintf(out, "\n%d runs in %s: %d succeeded, %d failed, %d cancelled, %d timed out\n", len(runs), display.Duration(elapsed),
		byStatus[sparkflow.RunSucceeded], byStatus[sparkflow.RunFailed], byStatus[sparkflow.RunCancelled], byStatus[sparkflow.RunTimedOut])
	fmt.Fprintln(out, "runs per cluster:")
	ids := make([]string, 0, len(perCluster))
	for id := range perCluster {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fmt.Fprintf(out, "  %-16s %d\n", id, perCluster[id])
	}
	fmt.Fprintf(out, "queue wait: mean %s, max %s\n", display.Duration(mean(waits)), display.Duration(maxOf(waits)))
	fmt.Fprintf(out, "run time:   mean %s, max %s\n", display.Duration(mean(times)), display.Duration(maxOf(times)))
	files, _ := filepath.Glob(filepath.Join(outputs, "*.csv"))
	fmt.Fprintf(out, "outputs:    %s (%d files)\n", outputs, len(files))
	fmt.Fprintf(out, "logs:       %s/<cluster>/steps/<step>/{stdout,stderr}\n", logs)
	self := os.Args[0]
	fmt.Fprintf(out, "explore:    %s local --data %s   then open http://127.0.0.1:8080 (or: %s run list)\n", self, data, self)
	// The runs made to go wrong must have gone wrong as intended, and every other run succeeded.
	var wrong []string
	for _, r := range runs {
		want := sparkflow.RunSucceeded
		switch special[r.ID] {
		case "failed":
			want = sparkflow.RunFailed
		case "cancelled":
			want = sparkflow.RunCancelled
		}
		if r.Status != want || (special[r.ID] == "retried" && r.Attempt != 2) {
			wrong = append(wrong, fmt.Sprintf("%s ended %s (attempt %d), expected %s: %s", r.ID, r.Status, r.Attempt, want, r.Reason))
		}
	}
	if len(wrong) > 0 {
		return errors.New("the demo did not go as it should: " + strings.Join(wrong, "; "))
	}
	return nil
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

func maxOf(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}
