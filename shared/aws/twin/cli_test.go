package twin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/sparkflow/sparkflow/shared/aws/names"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The CLI and the web UI on the deployed stack, as a user runs them: the stack found by its name
// through CloudFormation, the user's own credentials and AWS_ENDPOINT_URL, every record read through
// the stack's table, pool and transform changes through the pool workflow, runs onto the queue.
func testCLIAndUI(t *testing.T) {
	sf, bin, env := sparkflowCLI(t)
	pool := fmt.Sprintf("cli-%d", time.Now().UnixNano()%100000)
	if out, code := sf("tier", "list"); code != 0 || !strings.Contains(out, "tiny") {
		t.Fatalf("tier list: %d %s", code, out)
	}
	if out, code := sf("pool", "create", pool, "--tier", "tiny", "--clusters", "1", "--wait"); code != 0 {
		t.Fatalf("pool create --wait: %d %s", code, out)
	}
	if out, code := sf("transform", "create", pool+"-hello", "--pool", pool, "--command", "echo hello from the twin"); code != 0 {
		t.Fatalf("transform create: %d %s", code, out)
	}
	if out, code := sf("run", "submit", "no-such-transform"); code != 3 || !strings.Contains(out, `transform "no-such-transform" does not exist`) {
		t.Fatalf("a run of an unknown transform: exit %d, %s", code, out)
	}
	out, code := sf("run", "submit", pool+"-hello", "--wait")
	if code != 0 || !strings.Contains(out, "SUCCEEDED") {
		t.Fatalf("run submit --wait: %d %s", code, out)
	}
	out, code = sf("run", "list", "--transform", pool+"-hello", "-o", "json")
	if code != 0 || !strings.Contains(out, `"status": "SUCCEEDED"`) {
		t.Fatalf("run list: %d %s", code, out)
	}
	// run show says where the functions logged about the run: the stack's log groups, and the Logs
	// Insights query of its lines.
	var listed []sparkflow.Run
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) != 1 {
		t.Fatalf("run list -o json: %v %s", err, out)
	}
	show, code := sf("run", "show", listed[0].ID)
	groups := strings.Split(tw.Outputs[names.OutputFunctionLogGroups], ",")
	if code != 0 || len(groups) != len(names.Functions) || !strings.Contains(show, `filter run_id = "`+listed[0].ID+`"`) {
		t.Fatalf("run show: %d %s (log groups %v)", code, show, groups)
	}
	for _, g := range groups {
		if !strings.Contains(show, g) {
			t.Fatalf("run show does not name log group %s:\n%s", g, show)
		}
	}

	// The web UI over the stack.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ui := exec.CommandContext(ctx, bin, "ui", "--addr", addr)
	ui.Env = env
	var uiLog bytes.Buffer
	ui.Stdout, ui.Stderr = &uiLog, &uiLog
	if err := ui.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); ui.Wait() }()
	var page string
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/transforms")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			page = string(b)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(page, `href="/transforms/`+pool+`-hello"`) {
		t.Fatalf("the UI does not show the stack's transform:\n%s\n%s", page, uiLog.String())
	}
}

// sparkflowCLI builds the CLI and returns a runner of it on the deployed stack, as a user runs it (the
// user's own credentials, AWS_ENDPOINT_URL, --target aws --stack through the environment), with the
// binary and that environment.
func sparkflowCLI(t *testing.T) (func(args ...string) (string, int), string, []string) {
	t.Helper()
	root, _ := repoRoot()
	bin := filepath.Join(t.TempDir(), "sparkflow")
	if out, err := exec.Command("go", "build", "-o", bin, filepath.Join(root, "cmd", "sparkflow")).CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	env := append(os.Environ(), "AWS_ENDPOINT_URL="+tw.Endpoint, "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing",
		"AWS_REGION=us-east-1", "SPARKFLOW_TARGET=aws", "SPARKFLOW_STACK="+tw.Stack)
	return func(args ...string) (string, int) {
		t.Helper()
		c := exec.Command(bin, args...)
		c.Env = env
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		err := c.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), code
	}, bin, env
}
