package localcluster

import (
	"fmt"
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
	leader, child, decoy := markedGroup(t)
	if n := killLeftovers(leader.Process.Pid, "s-other"); n != 0 {
		t.Fatalf("killed %d processes of another step", n)
	}
	if n := killLeftovers(leader.Process.Pid, "s-left"); n != 2 {
		t.Fatalf("killed %d processes, want the leader and its marked child", n)
	}
	groupDies(t, leader, child, decoy)
}

// The reaper, told of a step's group and then of nothing more, kills the group's marked processes
// when its input ends (as it does when the engine dies), and leaves a group told ended alone.
func TestTheReaperKillsTheStepsGroupsWhenTheEngineGoes(t *testing.T) {
	leader, child, decoy := markedGroup(t)
	ended := exec.Command("sleep", "60")
	ended.Env = append(os.Environ(), "SPARKFLOW_STEP_ID=s-ended")
	ended.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := ended.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-ended.Process.Pid, syscall.SIGKILL)
	r := exec.Command("/proc/self/exe")
	r.Env = append(os.Environ(), reaperEnv+"=1")
	in, err := r.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(in, "+ %d s-left\n+ %d s-ended\n- %d\n", leader.Process.Pid, ended.Process.Pid, ended.Process.Pid)
	time.Sleep(100 * time.Millisecond)
	if !alive(leader.Process.Pid) || !alive(child) {
		t.Fatal("the reaper killed a step while its engine lives")
	}
	in.Close() // the engine's end of the pipe, as its death closes it
	if err := r.Wait(); err != nil {
		t.Fatalf("the reaper: %v", err)
	}
	groupDies(t, leader, child, decoy)
	if !alive(ended.Process.Pid) {
		t.Fatal("the reaper killed a group it was told had ended")
	}
}

// markedGroup starts a group as a step leaves it: the leader and a grandchild carry the step's mark
// (s-left); a decoy in the same group does not.
func markedGroup(t *testing.T) (leader *exec.Cmd, child, decoy int) {
	t.Helper()
	dir := t.TempDir()
	leader = exec.Command("/bin/sh", "-c", `sleep 60 & echo $! > "$0/child"; env -u SPARKFLOW_STEP_ID sleep 60 & echo $! > "$0/decoy"; wait`, dir)
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
	t.Cleanup(func() { syscall.Kill(-leader.Process.Pid, syscall.SIGKILL) })
	return leader, pid("child"), pid("decoy")
}

func alive(p int) bool {
	st, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat")
	return err == nil && !strings.Contains(string(st[strings.LastIndexByte(string(st), ')'):]), ") Z")
}

// groupDies checks that a markedGroup's leader and child die and its decoy does not.
func groupDies(t *testing.T, leader *exec.Cmd, child, decoy int) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- leader.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the leader survived")
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
