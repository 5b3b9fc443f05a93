//go:build !linux

package localcluster

import (
	"os/exec"
	"syscall"
)

// stepCommand runs args (its program found at path) in a process group of its own (the engine's death does not reach it here:
// the next Open reports the step INTERRUPTED).
func stepCommand(path string, args []string) *exec.Cmd {
	cmd := exec.Command(path, args[1:]...)
	cmd.Args[0] = args[0] // as the step named it
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
