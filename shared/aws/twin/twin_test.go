package twin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/aws/twin"
	"github.com/sparkflow/sparkflow/shared/contract/backendtest"
	"github.com/sparkflow/sparkflow/shared/contract/scenariotest"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

var tw *twin.Twin

// TestMain starts one twin with the stack deployed (make synth wrote cdk.out) for the whole package:
// a deploy takes seconds, and every test names its pools and transforms uniquely.
func TestMain(m *testing.M) {
	code := func() int {
		root, err := repoRoot()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		dir, err := os.MkdirTemp("", "sparkflow-twin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if os.Getenv("SPARKFLOW_TWIN_KEEP") == "" {
			defer os.RemoveAll(dir)
		} else {
			fmt.Println("twin: work kept in", dir)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		tw, err = twin.Start(ctx, root, dir, "SparkFlow")
		if err != nil {
			fmt.Fprintln(os.Stderr, "twin:", err)
			return 1
		}
		defer tw.Stop()
		return m.Run()
	}()
	os.Exit(code)
}

func repoRoot() (string, error) {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
		dir = filepath.Dir(dir)
	}
}

// result is one line of make twin's report.
type result struct {
	name    string
	passed  bool
	seconds float64
	why     string
}

var results []result

func report(name string, passed bool, seconds float64, why string) {
	results = append(results, result{name, passed, seconds, why})
	if passed {
		fmt.Printf("twin: PASS %s (%.1fs)\n", name, seconds)
	} else {
		fmt.Printf("twin: FAIL %s: %s\n", name, why)
	}
}

// TestTwin runs the AWS home end to end in the twin: the Backend contract through the AWS backend, the
// scenario suite both homes run, the CLI and the UI on the stack; it ends with make twin's summary.
func TestTwin(t *testing.T) {
	ctx := context.Background()
	b, err := tw.Backend(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ok := t.Run("backend-contract", func(t *testing.T) {
		backendtest.Run(t, func(t *testing.T) backendtest.Harness {
			return backendtest.Harness{Backend: b, Logs: false, Wait: 60 * time.Second}
		})
	})
	report("backend-contract", ok, time.Since(start).Seconds(), "see the test log")
	w, err := twin.NewWorld(ctx, tw)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("scenarios", func(t *testing.T) { scenariotest.Run(t, w, report) })
	start = time.Now()
	ok = t.Run("log-fields", func(t *testing.T) {
		// Every line the functions wrote about a run so far carries its run, attempt and pool.
		files, err := filepath.Glob(filepath.Join(tw.Dir, "logs", "*.log"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no function logs in %s: %v", tw.Dir, err)
		}
		var all []byte
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			all = append(append(all, b...), '\n')
		}
		scenariotest.CheckLogs(t, b, all)
	})
	report("log-fields", ok, time.Since(start).Seconds(), "see the test log")
	start = time.Now()
	ok = t.Run("cli-and-ui", testCLIAndUI)
	report("cli-and-ui", ok, time.Since(start).Seconds(), "see the test log")

	// What a happy-path run costs on AWS, counted.
	var perRun twin.PerRun
	start = time.Now()
	ok = t.Run("per-run-counts", func(t *testing.T) {
		p := fmt.Sprintf("count-%d", time.Now().UnixNano()%100000)
		backendtest.ReadyPool(t, b, p, 1, 10, time.Minute)
		if _, err := b.CreateTransform(ctx, sparkflow.Transform{Name: p + "-noop", Pool: p, Kind: sparkflow.KindCommand, Command: []string{"true"}}); err != nil {
			t.Fatal(err)
		}
		var err error
		if perRun, err = tw.Measure(ctx, b, p, p+"-noop", 10); err != nil {
			t.Fatal(err)
		}
		t.Logf("per run: %+v", perRun)
	})
	report("per-run-counts", ok, time.Since(start).Seconds(), "see the test log")

	start = time.Now()
	ok = t.Run("iam-catches-launch-gaps", testIAMCatchesLaunchGaps)
	report("iam-catches-launch-gaps", ok, time.Since(start).Seconds(), "see the test log")

	start = time.Now()
	ok = t.Run("doctor", testDoctor)
	report("doctor", ok, time.Since(start).Seconds(), "see the test log")

	start = time.Now()
	ok = t.Run("event-handling-fails-then-redelivered", testEventHandlingFailsThenRedelivered)
	report("event-handling-fails-then-redelivered", ok, time.Since(start).Seconds(), "see the test log")

	start = time.Now()
	ok = t.Run("another-stack-in-the-account", testAnotherStackInTheAccount)
	report("another-stack-in-the-account", ok, time.Since(start).Seconds(), "see the test log")

	// What each function's process used at most (the template gives each 256 MB).
	if st, err := tw.Stats(); err == nil {
		for fn, kb := range st.PeakMemoryKB {
			fmt.Printf("twin: memory %s peak %d MB (under qemu)\n", fn, kb/1024)
		}
	}

	// Every call every function made, evaluated against its own role.
	iam, err := tw.IAM()
	if err != nil {
		t.Fatalf("IAM evaluation: %v", err)
	}
	for _, d := range iam.Denied {
		fmt.Printf("twin: DENIED %v %v on %v %v: %v\n", d["function"], d["action"], d["resource"], d["context"], d["decision"])
	}
	for _, u := range iam.Unused {
		fmt.Printf("twin: UNUSED grant %v %v (statement %v): remove it or justify it in tools/twin/iam/justified.json\n", u["function"], u["action"], u["sid"])
	}
	summary(t, iam, perRun)
}

func summary(t *testing.T, iam twin.IAMReport, perRun twin.PerRun) {
	passed, failed := 0, 0
	var names []string
	for _, r := range results {
		if r.passed {
			passed++
		} else {
			failed++
			names = append(names, r.name)
		}
	}
	sort.Strings(names)
	round := func(v float64) float64 { return float64(int(v*10+0.5)) / 10 }
	out, _ := json.Marshal(map[string]any{"scenarios": len(results), "passed": passed, "failed": failed, "failing": names,
		"iam_calls": iam.Calls, "iam_denied": len(iam.Denied), "iam_unused_grants": len(iam.Unused),
		"per_run": map[string]any{"transitions": round(perRun.Transitions), "lambda_invocations": round(perRun.LambdaInvocations),
			"dynamodb_writes": round(perRun.DynamoDBWrites), "emr_calls": round(perRun.EMRCalls)}})
	fmt.Printf("twin-summary: %s\n", out)
	// Said again at the very end, where a CI log's tail shows it.
	for _, r := range results {
		if !r.passed {
			why := r.why
			if len(why) > 600 {
				why = why[:600] + "…"
			}
			fmt.Printf("twin: FAILED %s: %s\n", r.name, why)
		}
	}
	if failed > 0 {
		t.Errorf("%d twin scenarios failed: %s", failed, strings.Join(names, ", "))
	}
	if len(iam.Denied) > 0 || len(iam.Unused) > 0 {
		t.Errorf("IAM: %d calls denied, %d grants no scenario used", len(iam.Denied), len(iam.Unused))
	}
}
