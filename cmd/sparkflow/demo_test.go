package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestDemoSpreadsRunsOverAllClusters(t *testing.T) {
	var out bytes.Buffer
	data := t.TempDir()
	err := runDemo(context.Background(), &out, demoOptions{runs: 15, clusters: 3, slots: 2, dataDir: data, etl: etlBinary,
		input: "../../examples/sales-etl/sales.csv", work: 200 * time.Millisecond, provision: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	text := out.String()
	// Three runs go wrong on purpose: a flaky source retried, a region with no sales failed twice, a
	// long run cancelled.
	if !strings.Contains(text, "15 runs in") || !strings.Contains(text, "13 succeeded, 1 failed, 1 cancelled") {
		t.Fatalf("summary:\n%s", text)
	}
	// The ordinary runs are a backfill; a report waits for each of two special runs: it follows the
	// retried one and ends UPSTREAM_FAILED after the failed one.
	for _, want := range []string{"a backfill of 12 runs (regions × months, low priority)", "region-report: 2 runs, each BLOCKED",
		"east     2026-06  SUCCEEDED, released", "atlantis 2026-01  UPSTREAM_FAILED: upstream sales-by-region (month=2026-01, region=atlantis) ended FAILED"} {
		if !strings.Contains(text, want) {
			t.Fatalf("the demo does not show %q:\n%s", want, text)
		}
	}
	if b, err := os.ReadFile(filepath.Join(data, "reports", "east-2026-06.lines")); err != nil || strings.TrimSpace(string(b)) == "" {
		t.Fatalf("the report of the retried run: %v %q", err, b)
	}
	for _, want := range []string{"where each run went:", "retried: attempt 1 failed (sales-etl: the sales source did not answer", `failed 2 attempts: sales-etl: no sales for region "atlantis"`, "cancelled while it ran"} {
		if !strings.Contains(text, want) {
			t.Fatalf("the demo does not show %q:\n%s", want, text)
		}
	}
	perCluster := regexp.MustCompile(`(?m)^  j-[A-Z0-9]{13}\s+(\d+)$`).FindAllStringSubmatch(text, -1)
	if len(perCluster) != 3 {
		t.Fatalf("runs per cluster lists %d clusters, want 3:\n%s", len(perCluster), text)
	}
	for _, want := range []string{"queue wait: mean", "run time:   mean", "(13 files)"} {
		if !strings.Contains(text, want) {
			t.Fatalf("summary lacks %q:\n%s", want, text)
		}
	}
	// The ETL really ran: an output holds product totals.
	b, err := os.ReadFile(filepath.Join(data, "outputs", "north-2026-01.csv"))
	if err != nil || !strings.HasPrefix(string(b), "product,units,revenue\n") || strings.Count(string(b), "\n") < 3 {
		t.Fatalf("output: %v %q", err, b)
	}
}

func TestDemoExplainsAMissingETL(t *testing.T) {
	err := runDemo(context.Background(), &bytes.Buffer{}, demoOptions{runs: 1, clusters: 1, slots: 1, etl: "/nonexistent/sales-etl", input: "x"})
	if err == nil || !strings.Contains(err.Error(), "make build") {
		t.Fatalf("err = %v", err)
	}
}
