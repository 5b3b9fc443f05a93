package dynamostore_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/sparkflow/sparkflow/shared/awstest"
	"github.com/sparkflow/sparkflow/shared/dynamostore"
	"github.com/sparkflow/sparkflow/shared/local"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/storetest"
	"github.com/sparkflow/sparkflow/shared/workflow"
)

func TestMain(m *testing.M) { awstest.Main(m) }

var tables atomic.Int64

func contract(t *testing.T, endpoint string, opt storetest.Options) {
	db := dynamodb.NewFromConfig(awstest.Config(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
	storetest.Run(t, func(t *testing.T) sparkflow.Store {
		name := fmt.Sprintf("sparkflow-test-%d-%d", os.Getpid(), tables.Add(1))
		if err := dynamostore.CreateTable(awstest.Context(t), db, name); err != nil {
			t.Fatal(err)
		}
		return dynamostore.New(db, name)
	}, opt)
}

func TestContractOnMoto(t *testing.T) {
	contract(t, awstest.Moto(t), storetest.Options{
		NoConcurrency: "moto does not isolate concurrent transactions (seen: 4 reservations on a 3-slot cluster); TestContractOnDynamoDBLocal checks this on DynamoDB Local",
	})
}

// TestContractOnDynamoDBLocal runs the whole contract, concurrency included, on DynamoDB Local. The
// jar binds every interface, so the test re-runs itself inside a network namespace of its own
// (unshare -rn) where only its loopback exists.
func TestContractOnDynamoDBLocal(t *testing.T) {
	jar := os.Getenv("SPARKFLOW_DYNAMODB_LOCAL_JAR")
	if jar == "" {
		jar = filepath.Join(repoRoot(t), ".cache", "dynamodb-local", "DynamoDBLocal.jar")
	}
	if os.Getenv("SPARKFLOW_IN_NETNS") != "1" {
		var missing []string
		if _, err := os.Stat(jar); err != nil {
			missing = append(missing, jar+" (scripts/dynamodb-local.sh fetches it; make test runs that)")
		}
		for _, tool := range []string{"java", "unshare", "ip"} {
			if _, err := exec.LookPath(tool); err != nil {
				missing = append(missing, tool)
			}
		}
		if len(missing) > 0 {
			msg := "DynamoDB Local test needs " + strings.Join(missing, ", ")
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		cmd := exec.Command("unshare", "-rn", "sh", "-c", `ip link set lo up && exec "$0" -test.run '^TestContractOnDynamoDBLocal$' -test.v -test.count=1`, os.Args[0])
		cmd.Env = append(os.Environ(), "SPARKFLOW_IN_NETNS=1", "SPARKFLOW_DYNAMODB_LOCAL_JAR="+jar)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestContractOnDynamoDBLocal") || strings.Contains(string(out), "--- SKIP") {
			t.Fatalf("inside the network namespace: %v\n%s", err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "--- ") {
				t.Log("in the namespace:", strings.TrimSpace(line))
			}
		}
		return
	}
	// Inside the namespace: start DynamoDB Local on the namespace's loopback.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	java := exec.Command("java", "-Djava.library.path="+filepath.Join(filepath.Dir(jar), "DynamoDBLocal_lib"), "-jar", jar, "-inMemory", "-port", fmt.Sprint(port))
	java.Stdout, java.Stderr = os.Stderr, os.Stderr
	if err := java.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { java.Process.Kill(); java.Wait() }()
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		resp, err := http.Get(endpoint)
		if err == nil {
			resp.Body.Close()
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("DynamoDB Local did not start: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	contract(t, endpoint, storetest.Options{})
	t.Run("EnginePipeline", func(t *testing.T) { enginePipeline(t, endpoint) })
}

// enginePipeline runs the whole local engine (task logic, workflow runner, local clusters) on the
// DynamoDB store: a burst of runs on 2 clusters × 3 slots all succeed, and no cluster ever holds more
// than its slots.
func enginePipeline(t *testing.T, endpoint string) {
	db := dynamodb.NewFromConfig(awstest.Config(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
	name := fmt.Sprintf("sparkflow-engine-%d", os.Getpid())
	if err := dynamostore.CreateTable(awstest.Context(t), db, name); err != nil {
		t.Fatal(err)
	}
	e, err := local.Open(local.Config{DataDir: t.TempDir(), Store: dynamostore.New(db, name), ProvisionDelay: 50 * time.Millisecond,
		ReconcileInterval: time.Second, Retry: &workflow.Retry{Interval: 20 * time.Millisecond, BackoffRate: 2, MaxAttempts: 5}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	if _, err := e.CreatePool(ctx, sparkflow.Pool{Name: "ddb", Tier: "tiny", Clusters: 2, StepConcurrency: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.CreateTransform(ctx, sparkflow.Transform{Name: "quick", Pool: "ddb", Command: []string{"sleep", "0.1"}}); err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := 0; i < n; i++ {
		if _, err := e.SubmitRun(ctx, sparkflow.RunRequest{Transform: "quick"}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(90 * time.Second)
	worst := 0
	for {
		cs, _ := e.Store.ListClusters(ctx, "ddb")
		for _, c := range cs {
			worst = max(worst, len(c.Reservations))
		}
		active, err := e.Store.ListRuns(ctx, sparkflow.RunFilter{Active: true})
		if err == nil && len(active) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d runs still active after 90s", len(active))
		}
		time.Sleep(50 * time.Millisecond)
	}
	runs, _ := e.Store.ListRuns(ctx, sparkflow.RunFilter{})
	if len(runs) != n {
		t.Fatalf("%d runs, want %d", len(runs), n)
	}
	for _, r := range runs {
		if r.Status != sparkflow.RunSucceeded {
			t.Fatalf("run %s %s: %s", r.ID, r.Status, r.Reason)
		}
	}
	if worst > 3 {
		t.Fatalf("a cluster held %d reservations, capacity 3", worst)
	}
}

func repoRoot(t *testing.T) string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test")
		}
		dir = parent
	}
}
