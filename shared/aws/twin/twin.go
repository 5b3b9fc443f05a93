// Package twin starts SparkFlow's AWS twin for tests and tools: tools/twin/twin.py (moto in process,
// patched to run the functions' real bootstrap binaries, Step Functions executing the synthesized
// state machines, EventBridge delivering to Lambda, SQS polled as Lambda polls it, an EMR player),
// then deploys cdk.out into it with the pinned CDK CLI, as `cdk deploy` does on an account. The
// deployed stack is then driven through the same AWS backend the CLI and UI use.
package twin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/sparkflow/sparkflow/shared/aws/backend"
	"github.com/sparkflow/sparkflow/shared/aws/names"
	"github.com/sparkflow/sparkflow/shared/tiers"
)

// Twin is a running twin with the stack deployed.
type Twin struct {
	// Endpoint is the twin's AWS endpoint; Control its control API.
	Endpoint, Control string
	// Outputs are the deployed stack's outputs, by name.
	Outputs map[string]string
	// Dir holds the twin's work: function logs (logs/), step logs (emr/), the deploy's output.
	Dir   string
	Stack string
	// Subnet is the clusters' subnet, created before the deploy and tagged as AWS's v2 EMR roles need.
	Subnet string

	cmd   *exec.Cmd
	stdin io.WriteCloser
	root  string
}

// Start starts the twin from the repository at root, with its work in dir, and deploys cdk.out (make
// synth writes it) as stack.
func Start(ctx context.Context, root, dir, stack string) (*Twin, error) {
	for _, need := range []string{filepath.Join(root, "cdk.out", stack+".template.json"), filepath.Join(root, "tools", "cdk", "node_modules", ".bin", "cdk")} {
		if _, err := os.Stat(need); err != nil {
			return nil, fmt.Errorf("the twin needs %s (run make synth)", need)
		}
	}
	cmd := exec.Command("python3", filepath.Join(root, "tools", "twin", "twin.py"), "--workdir", dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "twin.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the twin (python3 with moto 5.2.1): %w", err)
	}
	tw := &Twin{Dir: dir, Stack: stack, cmd: cmd, stdin: stdin, root: root}
	lines := bufio.NewScanner(stdout)
	ready := make(chan error, 1)
	go func() {
		if !lines.Scan() {
			ready <- fmt.Errorf("the twin stopped before it was ready (see %s)", logf.Name())
			return
		}
		var hello struct{ Endpoint, Control string }
		if err := json.Unmarshal(lines.Bytes(), &hello); err != nil {
			ready <- fmt.Errorf("the twin said %q: %w", lines.Text(), err)
			return
		}
		tw.Endpoint, tw.Control = hello.Endpoint, hello.Control
		ready <- nil
		for lines.Scan() { // the rest of its output goes to its log
			fmt.Fprintln(logf, lines.Text())
		}
	}()
	select {
	case err = <-ready:
	case <-time.After(60 * time.Second):
		err = fmt.Errorf("the twin did not start within 60 s")
	}
	if err != nil {
		tw.Stop()
		return nil, err
	}
	if err := tw.deploy(ctx); err != nil {
		tw.Stop()
		return nil, err
	}
	return tw, nil
}

// env is the environment of a command that talks to the twin as a user would. The S3 client of the
// CDK CLI needs a host name (bucket addressing), so the endpoint is named localhost there.
func (tw *Twin) env() []string {
	return append(os.Environ(), "AWS_ENDPOINT_URL="+strings.Replace(tw.Endpoint, "127.0.0.1", "localhost", 1),
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1",
		"CDK_DISABLE_VERSION_CHECK=true", "AWS_PAGER=")
}

func (tw *Twin) deploy(ctx context.Context) error {
	cdk := filepath.Join(tw.root, "tools", "cdk", "node_modules", ".bin", "cdk")
	run := func(name string, args ...string) error {
		c := exec.CommandContext(ctx, cdk, args...)
		c.Dir, c.Env = tw.root, tw.env()
		out, err := c.CombinedOutput()
		os.WriteFile(filepath.Join(tw.Dir, name+".log"), out, 0o644)
		if err != nil {
			return fmt.Errorf("cdk %s into the twin: %w\n%s", name, err, tail(out, 2000))
		}
		return nil
	}
	if err := run("bootstrap", "bootstrap", "aws://123456789012/us-east-1", "--no-notices"); err != nil {
		return err
	}
	// The clusters' subnet, tagged for AWS's v2 EMR roles as the README asks a user to.
	var network struct{ Subnet string }
	if err := tw.Post("/network", map[string]any{"tagged": true}, &network); err != nil {
		return err
	}
	tw.Subnet = network.Subnet
	outputs := filepath.Join(tw.Dir, "outputs.json")
	if err := run("deploy", "deploy", "--app", "cdk.out", tw.Stack, "--method=direct", "--require-approval", "never", "--no-notices",
		"--parameters", names.ParameterSubnets+"="+tw.Subnet, "--outputs-file", outputs); err != nil {
		return err
	}
	raw, err := os.ReadFile(outputs)
	if err != nil {
		return err
	}
	var all map[string]map[string]string
	if err := json.Unmarshal(raw, &all); err != nil {
		return fmt.Errorf("deploy outputs: %w", err)
	}
	tw.Outputs = all[tw.Stack]
	if tw.Outputs[names.OutputRunsQueueURL] == "" {
		return fmt.Errorf("the deployed stack has no %s output: %s", names.OutputRunsQueueURL, raw)
	}
	return nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// Config is a user's AWS configuration for the twin.
func (tw *Twin) Config() aws.Config {
	return aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint: aws.String(tw.Endpoint), RetryMaxAttempts: 3}
}

// Backend is the CLI's and UI's backend for the deployed stack, found through its outputs as the CLI
// finds it.
func (tw *Twin) Backend(ctx context.Context) (*backend.Backend, error) {
	out, err := backend.StackOutputs(ctx, tw.Config(), tw.Stack)
	if err != nil {
		return nil, err
	}
	return backend.New(tw.Config(), out, tiers.Default()), nil
}

// Call is one AWS call a function made, as the twin recorded it.
type Call struct {
	Function string         `json:"function"`
	Service  string         `json:"service"`
	Action   string         `json:"action"`
	Params   map[string]any `json:"params"`
	At       float64        `json:"at"`
}

// Calls returns the calls the functions made since a time (Unix seconds).
func (tw *Twin) Calls(since float64) ([]Call, error) {
	var out []Call
	return out, tw.get(fmt.Sprintf("/calls?since=%f", since), &out)
}

// Stats are the twin's counters: invocations by function, peak memory, failed async invocations.
type Stats struct {
	Invocations   map[string]int   `json:"invocations"`
	PeakMemoryKB  map[string]int   `json:"peak_memory_kb"`
	AsyncFailures []map[string]any `json:"async_failures"`
	EventsEmitted int              `json:"emitted"`
	EventsDropped int              `json:"dropped"`
}

// Stats reads the twin's counters.
func (tw *Twin) Stats() (Stats, error) {
	var s Stats
	return s, tw.get("/stats", &s)
}

// Delivery is an event EventBridge put on a queue (a rule's SQS target).
type Delivery struct {
	Rule  string         `json:"rule"`
	Queue string         `json:"queue"`
	Event map[string]any `json:"event"`
}

// Delivered lists every event the rules' SQS targets got.
func (tw *Twin) Delivered() ([]Delivery, error) {
	var out []Delivery
	return out, tw.get("/events/delivered", &out)
}

// Fault is an EMR event fault: events matching Match (detailType "step" or "cluster", nameContains,
// or a detail field such as state) are dropped, duplicated or delayed, Count times.
type Fault struct {
	Match   map[string]string `json:"match"`
	Action  string            `json:"action"`
	Count   int               `json:"count"`
	Seconds float64           `json:"seconds,omitempty"`
}

// Faults adds EMR event faults.
func (tw *Twin) Faults(f ...Fault) error {
	return tw.Post("/emr/faults", map[string]any{"faults": f}, nil)
}

// Post calls the control API.
func (tw *Twin) Post(path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	resp, err := http.Post(tw.Control+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	return decode(resp, path, out)
}

func (tw *Twin) get(path string, out any) error {
	resp, err := http.Get(tw.Control + path)
	if err != nil {
		return err
	}
	return decode(resp, path, out)
}

func decode(resp *http.Response, path string, out any) error {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("twin %s: %s %s", path, resp.Status, b)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// Stop stops the twin and every process it started (function instances, step processes).
func (tw *Twin) Stop() {
	if tw.stdin != nil {
		tw.stdin.Close()
	}
	done := make(chan struct{})
	go func() { tw.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		tw.cmd.Process.Kill()
		<-done
	}
}
