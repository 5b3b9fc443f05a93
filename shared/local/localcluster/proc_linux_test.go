package localcluster

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// What a dead engine's step left running is killed at the next Open: every process of the step's
// group that carries its mark, and nothing that does not (a pid reused by someone else).
func TestLeftoversOfADeadEnginesStepAreKilled(t *testing.T) {
	dir := t.TempDir()
	// A group as a step leaves it: the leader and a grandchild carry the step's mark; a decoy in
	// the same group does not.
	leader := exec.Command("/bin/sh", "-c", `sleep 60 & echo $! > "$0/child"; env -u SPARKFLOW_STEP_ID sleep 60 & echo $! > "$0/decoy"; wait`, dir)
	leader.Env = append(os.Environ(), "SPARKFLOW_STEP_ID=s-left")
	leader.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := leader.Start(); err != nil {
		t.Fatal(err)
	}
	pid := func(name string) int {
		for i := 0; i < 100; i++ {
			if b, err := os.ReadFile(dir + "/" + name); err == nil && strings.TrimSpace(string(b)) != "" {
				n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
				return n
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("no %s pid", name)
		return 0
	}
	child, decoy := pid("child"), pid("decoy")
	defer syscall.Kill(-leader.Process.Pid, syscall.SIGKILL)
	if n := killLeftovers(leader.Process.Pid, "s-other"); n != 0 {
		t.Fatalf("killed %d processes of another step", n)
	}
	if n := killLeftovers(leader.Process.Pid, "s-left"); n != 2 {
		t.Fatalf("killed %d processes, want the leader and its marked child", n)
	}
	done := make(chan error, 1)
	go func() { done <- leader.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the leader survived")
	}
	alive := func(p int) bool {
		st, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat")
		return err == nil && !strings.Contains(string(st[strings.LastIndexByte(string(st), ')'):]), ") Z")
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive(child) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(child) {
		t.Fatal("the step's grandchild survived")
	}
	if !alive(decoy) {
		t.Fatal("a process without the step's mark was killed")
	}
}
