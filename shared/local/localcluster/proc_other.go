//go:build !linux

package localcluster

import (
	"os/exec"
	"syscall"
)

// stepCommand runs args in a process group of its own (the engine's death does not reach it here:
// the next Open reports the step INTERRUPTED).
func stepCommand(args []string) *exec.Cmd {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// watchGroup and unwatchGroup: no reaper here.
func watchGroup(pgid int, stepID string) {}
func unwatchGroup(pgid int)              {}

func signalGroup(pid int, sig syscall.Signal) { _ = syscall.Kill(-pid, sig) }

func killLeftovers(pgid int, stepID string) int {
	if pgid > 0 {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	return 0
}
