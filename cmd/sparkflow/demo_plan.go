package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/front/display"
	"github.com/sparkflow/sparkflow/shared/local/engine"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// demoSpecial is one of the demo's single runs that shows what SparkFlow does when things go wrong.
type demoSpecial struct {
	kind   string
	params map[string]string
}

// demoBackfill plans the demo's ordinary runs: a backfill of the regions × as many months as it takes,
// cut to n runs.
func demoBackfill(regions []string, n int) (core.Backfill, error) {
	var months []string
	for m := 1; len(months)*len(regions) < n; m++ {
		months = append(months, fmt.Sprintf("2026-%02d", m))
	}
	if len(months) == 0 {
		months = []string{"2026-01"}
	}
	plan, err := core.PlanBackfill("sales-by-region", map[string]string{"region": strings.Join(regions, ","), "month": strings.Join(months, ",")}, "")
	if err != nil {
		return plan, err
	}
	plan.Runs = plan.Runs[:max(n, 0)]
	return plan, nil
}

// demoReports creates region-report, downstream of sales-by-region, and submits one report per
// special run that ends (the retried one and the failed one): it waits BLOCKED for that run.
func demoReports(ctx context.Context, e *engine.Engine, outputs, reports string, specials []demoSpecial) ([]string, error) {
	if len(specials) == 0 {
		return nil, nil
	}
	if err := os.MkdirAll(reports, 0o755); err != nil {
		return nil, err
	}
	_, err := e.CreateTransform(ctx, sparkflow.Transform{
		Name: "region-report", Pool: "demo", Description: "a report of one region's month, once its sales are computed",
		Command:  []string{"/bin/sh", "-c", `wc -l < "$0" > "$1"`, filepath.Join(outputs, "${region}-${month}.csv"), filepath.Join(reports, "${region}-${month}.lines")},
		Params:   map[string]string{"region": "north", "month": "2026-01"},
		Upstream: []string{"sales-by-region"}, MaxAttempts: 1, TimeoutSeconds: 60,
	})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, sp := range specials {
		if sp.kind == "cancelled" {
			continue
		}
		r, err := e.SubmitRun(ctx, sparkflow.RunRequest{Transform: "region-report", Params: map[string]string{"region": sp.params["region"], "month": sp.params["month"]}})
		if err != nil {
			return nil, err
		}
		ids = append(ids, r.ID)
	}
	return ids, nil
}

// reportSummary waits for the reports to end and says how each went.
func reportSummary(ctx context.Context, out io.Writer, e *engine.Engine, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	fmt.Fprintln(out, "\nregion-report (waits for sales-by-region of the same region and month):")
	var wrong []string
	for i, id := range ids {
		var r sparkflow.Run
		for {
			var err error
			if r, err = e.GetRun(ctx, id); err != nil {
				return err
			}
			if r.Status.Terminal() {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
		line := fmt.Sprintf("  %-8s %s  %s", r.Values["region"], r.Values["month"], r.Status)
		switch {
		case r.Status == sparkflow.RunSucceeded && r.ReleasedAt != nil:
			line += fmt.Sprintf(", released %s after it was submitted, when its upstream run succeeded", display.Duration(r.ReleasedAt.Sub(r.CreatedAt)))
		case r.Reason != "":
			line += ": " + display.Truncate(r.Reason, 110)
		}
		fmt.Fprintln(out, line)
		// The first follows the retried run (it succeeds), the second the failed one.
		if want := []sparkflow.RunStatus{sparkflow.RunSucceeded, sparkflow.RunUpstreamFailed}[min(i, 1)]; r.Status != want {
			wrong = append(wrong, fmt.Sprintf("report %s ended %s, expected %s: %s", r.ID, r.Status, want, r.Reason))
		}
	}
	if len(wrong) > 0 {
		return fmt.Errorf("the demo did not go as it should: %s", strings.Join(wrong, "; "))
	}
	return nil
}
