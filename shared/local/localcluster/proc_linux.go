package localcluster

import "syscall"

// procAttr puts a step in its own process group (so a cancel reaches its children) and has the kernel
// kill it if the engine dies, so a kill -9 of the engine leaves no orphaned step behind.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func signalGroup(pid int, sig syscall.Signal) { _ = syscall.Kill(-pid, sig) }
