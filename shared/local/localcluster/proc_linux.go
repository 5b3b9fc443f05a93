package localcluster

import (
	"bytes"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// guard heads a step's process group: it runs the step's command and, when the engine dies (the
// kernel sends it SIGHUP, its parent-death signal), kills the whole group, the command's own children
// included. Without it only the direct child would die with the engine, and a step's grandchildren (a
// shell's commands, say) would keep working for an attempt that has ended. A cancel's SIGTERM (sent to
// the group) reaches the command; the guard waits for the command's end and exits with its status, so
// the step ends when its command does.
const guard = `trap 'kill -KILL 0' HUP; "$@" & c=$!; trap : TERM INT; while :; do wait $c; s=$?; kill -0 $c 2>/dev/null || exit $s; done`

// stepCommand runs args in a process group of its own under the guard.
func stepCommand(args []string) *exec.Cmd {
	hupOnce.Do(unignoreHUP)
	cmd := exec.Command("/bin/sh", append([]string{"-c", guard, "sparkflow-step"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGHUP}
	return cmd
}

func signalGroup(pid int, sig syscall.Signal) { _ = syscall.Kill(-pid, sig) }

var hupOnce sync.Once

// unignoreHUP: an engine started with SIGHUP ignored (under nohup, say) would hand the ignore to its
// steps, and a shell cannot trap a signal ignored on entry: the guard would never hear of the
// engine's death. Caught instead (and dropped: the engine still survives a hangup, as nohup meant),
// the signal is back to its default in every process the engine starts.
func unignoreHUP() {
	if !signal.Ignored(syscall.SIGHUP) {
		return
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGHUP)
	go func() {
		for range c {
		}
	}()
}

// killLeftovers kills what is left of a step's process group after the engine that ran it died: the
// processes of group pgid whose environment names the step (a pid reused since, by an unrelated
// process, is never touched). It returns how many it killed.
func killLeftovers(pgid int, stepID string) int {
	if pgid <= 0 {
		return 0
	}
	entries, _ := os.ReadDir("/proc")
	mark := []byte("SPARKFLOW_STEP_ID=" + stepID + "\x00")
	killed := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces, so read after its closing paren.
		rest := string(stat[bytes.LastIndexByte(stat, ')')+1:])
		f := strings.Fields(rest)
		if len(f) < 3 || f[2] != strconv.Itoa(pgid) {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(env, mark) {
			continue
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed++
		}
	}
	return killed
}
