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
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/storetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	awstest.Stop()
	os.Exit(code)
}

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
