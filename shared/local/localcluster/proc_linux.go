package localcluster

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// A step's command runs in a process group of its own, which it leads (its pid is the group's id),
// with SIGKILL as its parent-death signal: when the engine dies, the kernel kills the command. Its
// own children (a shell's commands, say) are killed by the reaper: one helper process per engine (the
// engine's own program, started again in reaper mode) that the engine tells of every step's group as
// it starts and ends, over a pipe. When the engine dies, the pipe's end is closed by the kernel; the
// reaper reads the end of its input and kills every process of the groups still listed that carries
// its step's mark (SPARKFLOW_STEP_ID in its environment), then exits. A step is one process: the
// command (no shell beside it), which is what a burst of short steps can afford.
//
// A step started after a reaper failed to start still dies with the engine (its parent-death signal);
// what it started is killed at the next Open (killLeftovers).
func stepCommand(path string, args []string) *exec.Cmd {
	reaper.once.Do(reaper.start)
	cmd := exec.Command(path, args[1:]...)
	cmd.Args[0] = args[0] // as the step named it
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

func signalGroup(pid int, sig syscall.Signal) { _ = syscall.Kill(-pid, sig) }

// reaperEnv, set to 1 in the reaper's environment, makes the program a reaper (see init).
const reaperEnv = "SPARKFLOW_STEP_REAPER"

func init() {
	if os.Getenv(reaperEnv) == "1" {
		// Terminal signals (a Ctrl-C meant for the engine) do not end the reaper: it ends with its input.
		signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
		reap(os.Stdin)
		os.Exit(0)
	}
}

// reap reads "+ PGID STEP" (a step's group started) and "- PGID" (it ended) lines until its input
// ends, then kills what is left of the groups still listed.
func reap(in io.Reader) {
	groups := map[int]string{}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		pgid, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		switch {
		case f[0] == "+" && len(f) == 3:
			groups[pgid] = f[2]
		case f[0] == "-":
			delete(groups, pgid)
		}
	}
	killMarked(groups)
}

// stepReaper is the engine's side of the reaper: the pipe it writes to.
type stepReaper struct {
	once sync.Once
	mu   sync.Mutex
	w    *os.File // nil when the reaper could not start
}

// reaper is this process's one reaper, started with the first step.
var reaper stepReaper

func (r *stepReaper) start() {
	const lost = "local clusters: no step reaper (what a step starts may outlive a killed engine until the engine's next start)"
	pr, pw, err := os.Pipe()
	if err != nil {
		slog.Error(lost, "err", err)
		return
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Stdin = pr
	cmd.Env = append(os.Environ(), reaperEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	pr.Close()
	if err != nil {
		pw.Close()
		slog.Error(lost, "err", err)
		return
	}
	go cmd.Wait() // it ends with this process
	r.w = pw
}

// tell sends the reaper one line (a pipe's writes of under 4 KiB are whole).
func (r *stepReaper) tell(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w != nil {
		fmt.Fprintf(r.w, format+"\n", args...)
	}
}

// watchGroup and unwatchGroup tell the reaper of a step's group.
func watchGroup(pgid int, stepID string) { reaper.tell("+ %d %s", pgid, stepID) }
func unwatchGroup(pgid int)              { reaper.tell("- %d", pgid) }

// killLeftovers kills what is left of a step's process group after the engine that ran it died: the
// processes of group pgid whose environment names the step (a pid reused since, by an unrelated
// process, is never touched). It returns how many it killed.
func killLeftovers(pgid int, stepID string) int {
	if pgid <= 0 {
		return 0
	}
	return killMarked(map[int]string{pgid: stepID})
}

// killMarked kills, in one pass over /proc, the processes of each group that carry the mark of the
// group's step. It returns how many it killed.
func killMarked(groups map[int]string) int {
	if len(groups) == 0 {
		return 0
	}
	entries, _ := os.ReadDir("/proc")
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
		if len(f) < 3 {
			continue
		}
		pgrp, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		stepID, ok := groups[pgrp]
		if !ok {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(env, []byte("SPARKFLOW_STEP_ID="+stepID+"\x00")) {
			continue
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed++
		}
	}
	return killed
}
