package awstest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// DynamoDBLocal runs fn against DynamoDB Local (the official jar, fetched by scripts/dynamodb-local.sh
// into .cache/). The jar binds every interface, so the calling test re-runs itself inside a network
// namespace of its own (unshare -rn) where only its loopback exists; fn runs there. A machine without
// the jar, java or unshare fails the test in CI and skips it elsewhere, saying what is missing.
func DynamoDBLocal(t *testing.T, fn func(t *testing.T, endpoint string)) {
	t.Helper()
	jar := os.Getenv("SPARKFLOW_DYNAMODB_LOCAL_JAR")
	if jar == "" {
		jar = filepath.Join(RepoRoot(t), ".cache", "dynamodb-local", "DynamoDBLocal.jar")
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
		run := "^" + strings.ReplaceAll(t.Name(), "/", "$/^") + "$"
		cmd := exec.Command("unshare", "-rn", "sh", "-c", `ip link set lo up && exec "$0" -test.run "$1" -test.v -test.count=1`, os.Args[0], run)
		cmd.Env = append(os.Environ(), "SPARKFLOW_IN_NETNS=1", "SPARKFLOW_DYNAMODB_LOCAL_JAR="+jar)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) || strings.Contains(string(out), "--- SKIP") {
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
	java := exec.Command("java", "-Djava.library.path="+filepath.Join(filepath.Dir(jar), "DynamoDBLocal_lib"), "-jar", jar, "-inMemory", "-disableTelemetry", "-port", fmt.Sprint(port))
	// Its working directory is the test's own: DynamoDB Local writes a metadata file there.
	java.Dir = t.TempDir()
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
	fn(t, endpoint)
}

// RepoRoot is the directory of go.mod above the running test.
func RepoRoot(t testing.TB) string {
	t.Helper()
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
