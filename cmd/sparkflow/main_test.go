package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/aws/awstest"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

var binary, etlBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sparkflow-cli-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "sparkflow")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build sparkflow: %v\n%s", err, out)
		os.Exit(1)
	}
	etlBinary = filepath.Join(dir, "sales-etl")
	if out, err := exec.Command("go", "build", "-o", etlBinary, "../../examples/sales-etl").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build sales-etl: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	awstest.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// server is a `sparkflow local` process.
type server struct {
	cmd  *exec.Cmd
	addr string
	log  *bytes.Buffer
}

func startLocal(t *testing.T, data, addr string) *server {
	t.Helper()
	return startLocalCmd(t, addr, exec.Command(binary, "local", "--data", data, "--addr", addr, "--provision-delay", "200ms", "--reconcile-interval", "1s"))
}

// startLocalNoHUP starts the engine as nohup does: with SIGHUP ignored, which its children inherit.
func startLocalNoHUP(t *testing.T, data, addr string) *server {
	t.Helper()
	return startLocalCmd(t, addr, exec.Command("/bin/sh", "-c", `trap "" HUP; exec "$0" "$@"`, binary, "local", "--data", data, "--addr", addr, "--provision-delay", "200ms", "--reconcile-interval", "1s"))
}

func startLocalCmd(t *testing.T, addr string, cmd *exec.Cmd) *server {
	t.Helper()
	s := &server{addr: addr, log: &bytes.Buffer{}}
	s.cmd = cmd
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.cmd.Process.Kill(); s.cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/api/health")
		if err == nil {
			resp.Body.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("sparkflow local did not start: %v\n%s", err, s.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type result struct {
	code           int
	stdout, stderr string
}

func cli(t *testing.T, addr string, args ...string) result {
	t.Helper()
	return cliEnv(t, addr, nil, args...)
}

// cliEnv runs the CLI against the server at addr with env added to the environment.
func cliEnv(t *testing.T, addr string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"--server", "http://" + addr}, args...)...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

func TestBadInputGetsAClearErrorAndExitCode(t *testing.T) {
	addr := freeAddr(t)
	startLocal(t, t.TempDir(), addr)
	if r := cli(t, addr, "pool", "create", "etl", "--tier", "tiny", "--clusters", "1"); r.code != 0 {
		t.Fatalf("pool create: %+v", r)
	}
	if r := cli(t, addr, "transform", "create", "ok", "--pool", "etl", "--command", "true", "--param", "day=1"); r.code != 0 {
		t.Fatalf("transform create: %+v", r)
	}
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"unknown tier", []string{"pool", "create", "x", "--tier", "huge"}, exitInvalid, `unknown tier "huge"; known tiers:`},
		{"missing pool", []string{"transform", "create", "t", "--pool", "nope", "--command", "true"}, exitNotFound, `--pool: pool "nope" does not exist`},
		{"nothing to run", []string{"transform", "create", "t", "--pool", "etl"}, exitInvalid, "give what to run"},
		{"unclosed quote", []string{"transform", "create", "t", "--pool", "etl", "--command", `echo "hi`}, exitInvalid, "unclosed"},
		{"missing transform", []string{"run", "submit", "nope"}, exitNotFound, `sparkflow: transform "nope" does not exist`},
		{"bad argument", []string{"run", "submit", "ok", "--arg", "day"}, exitInvalid, "expected KEY=VALUE"},
		{"unknown argument", []string{"run", "submit", "ok", "--arg", "dya=2"}, exitInvalid, `no parameter "dya" (it declares day)`},
		{"unknown run", []string{"run", "show", "nope"}, exitNotFound, `run "nope" not found`},
		{"unknown run prefix", []string{"run", "show", "abcdef"}, exitNotFound, `run "abcdef" not found`},
		{"unknown subcommand", []string{"run", "sumbit", "ok"}, exitInvalid, `unknown command "sumbit" for "sparkflow run"; did you mean submit?`},
		{"unknown nested subcommand", []string{"pool", "lsit"}, exitInvalid, `did you mean list?`},
		{"attempts of 0", []string{"transform", "edit", "ok", "--max-attempts", "0"}, exitInvalid, "--max-attempts 0: give 1 to 10"},
		{"flag named, not field", []string{"pool", "create", "idle", "--tier", "tiny", "--idle-timeout", "30s"}, exitInvalid, "--idle-timeout: must be 0 (never) or between 60"},
		{"no such parameter to remove", []string{"transform", "edit", "ok", "--remove-param", "nope"}, exitInvalid, `has no parameter "nope"`},
		{"duplicate pool", []string{"pool", "create", "etl", "--tier", "tiny"}, exitConflict, "exists already"},
		{"bad output", []string{"pool", "list", "-o", "yaml"}, exitInvalid, "not a format"},
		{"unknown flag", []string{"pool", "list", "--colour"}, exitInvalid, "unknown flag"},
		{"missing name", []string{"pool", "show"}, exitInvalid, "needs NAME"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := cli(t, addr, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
				t.Fatalf("exit %d stderr %q; want exit %d and %q", r.code, r.stderr, tc.code, tc.msg)
			}
		})
	}
	if r := cli(t, "127.0.0.1:1", "pool", "list"); r.code != exitTransient || !strings.Contains(r.stderr, "cannot reach") {
		t.Fatalf("no server: %+v", r)
	}
	// Flags are checked before anything is done: a bad -o creates nothing.
	if r := cli(t, addr, "pool", "create", "half", "--tier", "tiny", "-o", "yaml"); r.code != exitInvalid {
		t.Fatalf("pool create -o yaml: %+v", r)
	}
	if r := cli(t, addr, "pool", "show", "half"); r.code != exitNotFound {
		t.Fatalf("a pool was created by a command that then failed on its flags: %+v", r)
	}
	if r := cli(t, addr, "run", "submit", "ok", "-o", "yaml"); r.code != exitInvalid {
		t.Fatalf("run submit -o yaml: %+v", r)
	}
	if r := cli(t, addr, "run", "list", "--transform", "ok", "-o", "json"); r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("a run was submitted by a command that then failed on its flags: %+v", r)
	}
	// --server without its scheme.
	noScheme := exec.Command(binary, "--server", addr, "pool", "list")
	if out, err := noScheme.CombinedOutput(); err != nil || !strings.Contains(string(out), "etl") {
		t.Fatalf("--server %s: %v %s", addr, err, out)
	}
	if out, err := exec.Command(binary, "--server", "ftp://x", "pool", "list").CombinedOutput(); err == nil || !strings.Contains(string(out), "write it as http://HOST:PORT") {
		t.Fatalf("--server ftp://x: %v %s", err, out)
	}
	// Edit changes only what is given; parameters one at a time.
	if r := cli(t, addr, "transform", "edit", "ok", "--add-param", "region=eu", "-o", "json"); r.code != 0 || !strings.Contains(r.stdout, `"day": "1"`) || !strings.Contains(r.stdout, `"region": "eu"`) {
		t.Fatalf("edit --add-param: %+v", r)
	}
	if r := cli(t, addr, "transform", "edit", "ok", "--remove-param", "region", "-o", "json"); r.code != 0 || strings.Contains(r.stdout, "region") || !strings.Contains(r.stdout, `"day": "1"`) {
		t.Fatalf("edit --remove-param: %+v", r)
	}
	if help := cli(t, addr, "transform", "edit", "--help"); !strings.Contains(help.stdout, "unchanged unless given") || strings.Contains(help.stdout, "(default 1)") {
		t.Fatalf("edit's help shows create's defaults:\n%s", help.stdout)
	}
	if r := exec.Command(binary, "local", "--addr", "0.0.0.0:9999").Run(); r == nil {
		t.Fatal("local on a non-loopback address without --allow-remote was accepted")
	}
}

// Ctrl-C while waiting for a run says the run goes on and exits 130, as a shell reports Ctrl-C.
func TestInterruptedWaitExits130(t *testing.T) {
	addr := freeAddr(t)
	startLocal(t, t.TempDir(), addr)
	for _, args := range [][]string{
		{"pool", "create", "etl", "--tier", "tiny", "--clusters", "1", "--wait"},
		{"transform", "create", "slow", "--pool", "etl", "--command", "sleep 30"},
	} {
		if r := cli(t, addr, args...); r.code != 0 {
			t.Fatalf("%v: %+v", args, r)
		}
	}
	cmd := exec.Command(binary, "--server", "http://"+addr, "run", "submit", "slow", "--wait")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(errb.String(), "RUNNING") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != exitInterrupted || !strings.Contains(errb.String(), "stopped waiting; run") || !strings.Contains(errb.String(), "goes on") {
		t.Fatalf("exit %v, stderr %s", err, errb.String())
	}
	if r := cli(t, addr, "run", "list", "--active", "-o", "json"); !strings.Contains(r.stdout, `"status": "RUNNING"`) {
		t.Fatalf("the run did not go on: %+v", r)
	}
}

// A run is named by any unique prefix of its id of 6 characters or more, as the UI shows them; the
// transforms list shows each one's last run and its command as a shell would read it.
func TestRunIDPrefixesAndTransformList(t *testing.T) {
	addr := freeAddr(t)
	startLocal(t, t.TempDir(), addr)
	for _, args := range [][]string{
		{"pool", "create", "etl", "--tier", "tiny", "--clusters", "1", "--wait"},
		{"transform", "create", "quoted", "--pool", "etl", "--command", `/bin/sh -c 'echo "a b"'`},
	} {
		if r := cli(t, addr, args...); r.code != 0 {
			t.Fatalf("%v: %+v", args, r)
		}
	}
	r := cli(t, addr, "run", "submit", "quoted", "--wait", "-o", "json")
	var run sparkflow.Run
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &run) != nil {
		t.Fatalf("submit: %+v", r)
	}
	show := cli(t, addr, "run", "show", run.ID[:8])
	if show.code != 0 || !strings.Contains(show.stdout, run.ID) {
		t.Fatalf("run show %s: %+v", run.ID[:8], show)
	}
	// It says where the engine logged about the run, and the command it gives prints those lines.
	if !strings.Contains(show.stdout, "SparkFlow log:") || !strings.Contains(show.stdout, "engine.log") {
		t.Fatalf("run show does not say where the run's SparkFlow log lines are:\n%s", show.stdout)
	}
	_, command, _ := strings.Cut(show.stdout, "Its lines:")
	command = strings.TrimSpace(strings.SplitN(command, "\n", 2)[0])
	lines, err := exec.Command("sh", "-c", command).Output()
	if err != nil || strings.Count(string(lines), `"run_id":"`+run.ID+`"`) < 3 {
		t.Fatalf("%s: %v\n%s", command, err, lines)
	}
	if logs := cli(t, addr, "run", "logs", run.ID[:6], "--attempt", "1"); logs.code != 0 || strings.TrimSpace(logs.stdout) != "a b" {
		t.Fatalf("run logs %s --attempt 1: %+v", run.ID[:6], logs)
	}
	if short := cli(t, addr, "run", "show", run.ID[:5]); short.code != exitNotFound || !strings.Contains(short.stderr, "at least 6") {
		t.Fatalf("a 5-character prefix: %+v", short)
	}
	if heal := cli(t, addr, "pool", "heal", "etl"); heal.code != 0 || !strings.Contains(heal.stdout, "launches resumed") {
		t.Fatalf("pool heal: %+v", heal)
	}
	if heal := cli(t, addr, "pool", "heal", "nope"); heal.code != exitNotFound || !strings.Contains(heal.stderr, "nope") {
		t.Fatalf("pool heal of an unknown pool: %+v", heal)
	}
	list := cli(t, addr, "transform", "list")
	if !strings.Contains(list.stdout, "LAST RUN") || !strings.Contains(list.stdout, "SUCCEEDED") || !strings.Contains(list.stdout, `/bin/sh -c 'echo "a b"'`) {
		t.Fatalf("transform list:\n%s", list.stdout)
	}
}

func TestSubmitWaitListLogs(t *testing.T) {
	addr := freeAddr(t)
	startLocal(t, t.TempDir(), addr)
	for _, args := range [][]string{
		{"pool", "create", "etl", "--tier", "small", "--clusters", "2", "--wait"},
		{"transform", "create", "greet", "--pool", "etl", "--command", `/bin/sh -c 'echo "hello $0"'`, "--arg", "${who}", "--param", "who=world"},
		{"transform", "create", "fail", "--pool", "etl", "--command", "/bin/sh -c 'exit 7'", "--max-attempts", "2"},
	} {
		if r := cli(t, addr, args...); r.code != 0 {
			t.Fatalf("%v: %+v", args, r)
		}
	}
	r := cli(t, addr, "run", "submit", "greet", "--arg", "who=spark", "--wait", "-o", "json")
	if r.code != 0 {
		t.Fatalf("run submit --wait: %+v", r)
	}
	var run sparkflow.Run
	if err := json.Unmarshal([]byte(r.stdout), &run); err != nil || run.Status != sparkflow.RunSucceeded {
		t.Fatalf("run: %v %s", err, r.stdout)
	}
	if logs := cli(t, addr, "run", "logs", run.ID); strings.TrimSpace(logs.stdout) != "hello spark" {
		t.Fatalf("logs: %+v", logs)
	}
	r = cli(t, addr, "run", "submit", "fail", "--wait")
	if r.code != exitRunFailed || !strings.Contains(r.stderr, "ended FAILED: attempt 2 of 2") || !strings.Contains(r.stderr, "exited with code 7") {
		t.Fatalf("failing run: %+v", r)
	}
	list := cli(t, addr, "run", "list", "--transform", "greet")
	if list.code != 0 || !strings.Contains(list.stdout, run.ID) || !strings.Contains(list.stdout, "SUCCEEDED") {
		t.Fatalf("run list: %+v", list)
	}
	show := cli(t, addr, "transform", "show", "greet")
	if !strings.Contains(show.stdout, "command-runner.jar /bin/sh -c 'echo \"hello $0\"' world") {
		t.Fatalf("transform show does not show the step: %s", show.stdout)
	}
	pool := cli(t, addr, "pool", "show", "etl")
	if !strings.Contains(pool.stdout, "2 ready of 2") || !regexp.MustCompile(`Start-up:\s+\d+(ms|s|m)\S* from launch to ready \(the median of its newest 2 clusters\)`).MatchString(pool.stdout) {
		t.Fatalf("pool show: %s", pool.stdout)
	}
	if w := cli(t, addr, "run", "watch", "--once"); w.code != 0 || !strings.Contains(w.stdout, "running 0") {
		t.Fatalf("watch: %+v", w)
	}
}

func TestKillDashNineThenRestartEndsEveryRun(t *testing.T) {
	data := t.TempDir()
	addr := freeAddr(t)
	s := startLocal(t, data, addr)
	for _, args := range [][]string{
		{"pool", "create", "etl", "--tier", "small", "--clusters", "2", "--step-concurrency", "3", "--wait"},
		{"transform", "create", "work", "--pool", "etl", "--command", "sleep 1", "--max-attempts", "3"},
	} {
		if r := cli(t, addr, args...); r.code != 0 {
			t.Fatalf("%v: %+v", args, r)
		}
	}
	var ids []string
	for i := 0; i < 20; i++ {
		r := cli(t, addr, "run", "submit", "work", "-o", "json")
		var run sparkflow.Run
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &run) != nil {
			t.Fatalf("submit: %+v", r)
		}
		ids = append(ids, run.ID)
	}
	time.Sleep(1500 * time.Millisecond) // some done, some running, some waiting
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.cmd.Wait()

	s = startLocal(t, data, addr)
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := cli(t, addr, "run", "list", "--limit", "0", "-o", "json")
		var runs []sparkflow.Run
		if err := json.Unmarshal([]byte(r.stdout), &runs); err != nil {
			t.Fatalf("run list: %v %+v", err, r)
		}
		ended, retried := 0, 0
		for _, run := range runs {
			if run.Status.Terminal() {
				ended++
				if run.Status != sparkflow.RunSucceeded {
					t.Fatalf("run %s ended %s: %s", run.ID, run.Status, run.Reason)
				}
			}
			if run.Attempt > 1 {
				retried++
			}
		}
		if len(runs) != len(ids) {
			t.Fatalf("%d runs after restart, %d accepted", len(runs), len(ids))
		}
		if ended == len(ids) {
			if retried == 0 {
				t.Fatal("no run was cut off by the kill: the test did not test a crash mid-run")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d runs ended 60s after the restart\n%s", ended, len(ids), s.log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// kill -9 of the engine kills the steps it ran with it, their children included: no attempt the kill
// cut off keeps working (a shell's background job would otherwise outlive its parent). Also for an
// engine started under nohup, whose steps would inherit SIGHUP ignored.
func TestKillDashNineLeavesNoStepWorking(t *testing.T) {
	t.Run("started plainly", func(t *testing.T) { killDashNineLeavesNoStepWorking(t, startLocal) })
	t.Run("started with SIGHUP ignored", func(t *testing.T) { killDashNineLeavesNoStepWorking(t, startLocalNoHUP) })
}

func killDashNineLeavesNoStepWorking(t *testing.T, start func(*testing.T, string, string) *server) {
	data, work := t.TempDir(), t.TempDir()
	addr := freeAddr(t)
	s := start(t, data, addr)
	pids := filepath.Join(work, "pids")
	for _, args := range [][]string{
		{"pool", "create", "etl", "--tier", "tiny", "--clusters", "1", "--wait"},
		{"transform", "create", "spawner", "--pool", "etl", "--command", "sh -c 'sleep 60 & echo $! >> " + pids + "; wait'"},
		{"run", "submit", "spawner"},
	} {
		if r := cli(t, addr, args...); r.code != 0 {
			t.Fatalf("%v: %+v", args, r)
		}
	}
	var grandchild int
	for deadline := time.Now().Add(20 * time.Second); grandchild == 0; time.Sleep(50 * time.Millisecond) {
		if b, err := os.ReadFile(pids); err == nil {
			fmt.Sscan(strings.TrimSpace(string(b)), &grandchild)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the step never started its child\n%s", s.log)
		}
	}
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.cmd.Wait()
	alive := func() bool {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", grandchild))
		return err == nil && !strings.Contains(string(st[strings.LastIndexByte(string(st), ')'):]), ") Z")
	}
	// The guard kills the group as soon as the kernel tells it of the engine's death; the wait is long
	// only for a loaded CI machine (make test runs packages side by side).
	for deadline := time.Now().Add(15 * time.Second); alive() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if alive() {
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", grandchild))
		syscall.Kill(grandchild, syscall.SIGKILL)
		t.Fatalf("the step's child %d outlived the engine's kill -9 by 15s: %s", grandchild, st)
	}
}

// A backfill submits one run per day, says so with its progress, creates nothing new the second time,
// counts its runs by status, and refuses a bad range or an undeclared argument with exit 2.
func TestBackfill(t *testing.T) {
	addr := freeAddr(t)
	startLocal(t, t.TempDir(), addr)
	for _, args := range [][]string{
		{"pool", "create", "etl", "--tier", "tiny", "--clusters", "1", "--step-concurrency", "4", "--wait"},
		{"transform", "create", "daily", "--pool", "etl", "--command", "echo ${day}", "--param", "day="},
	} {
		if r := cli(t, addr, args...); r.code != 0 {
			t.Fatalf("%v: %+v", args, r)
		}
	}
	first := cli(t, addr, "run", "backfill", "daily", "--arg", "day=2026-01-01..2026-01-07", "--max-active", "3", "--wait")
	if first.code != 0 || !strings.Contains(first.stderr, "7 runs submitted, 0 there already") || !strings.Contains(first.stderr, "submitted 7/7") ||
		!strings.Contains(first.stdout, "SUCCEEDED:") {
		t.Fatalf("backfill: %+v", first)
	}
	again := cli(t, addr, "run", "backfill", "daily", "--arg", "day=2026-01-01..2026-01-07")
	if again.code != 0 || !strings.Contains(again.stderr, "0 runs submitted, 7 there already") {
		t.Fatalf("the same backfill again: %+v", again)
	}
	// An overlapping one makes only the days that are new.
	more := cli(t, addr, "run", "backfill", "daily", "--arg", "day=2026-01-06..2026-01-10")
	if more.code != 0 || !strings.Contains(more.stderr, "3 runs submitted, 2 there already") {
		t.Fatalf("an overlapping backfill: %+v", more)
	}
	st := cli(t, addr, "run", "backfill", "daily", "--arg", "day=2026-01-01..2026-01-07", "--status", "-o", "json")
	var s struct {
		Runs     int            `json:"runs"`
		ByStatus map[string]int `json:"byStatus"`
	}
	if st.code != 0 || json.Unmarshal([]byte(st.stdout), &s) != nil || s.Runs != 7 || s.ByStatus["SUCCEEDED"] != 7 {
		t.Fatalf("backfill --status: %+v", st)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--arg", "day=2026-02-01..2026-01-01"}, "ends before it begins"},
		{[]string{"--arg", "day=2026-01-01..2026-01-03", "--step", "1h"}, "days (1d) or weeks (1w)"},
		{[]string{"--arg", "hour=1..3"}, `has no parameter "hour"`},
		{[]string{"--arg", "day=2026-01-01..2026-01-03", "--status", "--cancel"}, "one at a time"},
	} {
		r := cli(t, addr, append([]string{"run", "backfill", "daily"}, c.args...)...)
		if r.code != exitInvalid || !strings.Contains(r.stderr, c.want) {
			t.Errorf("backfill %v: exit %d, %s; want %d saying %q", c.args, r.code, r.stderr, exitInvalid, c.want)
		}
	}
}
