package sim

import (
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// A proc is one invocation of the task logic (a Lambda invocation, a handler of one event, a local
// engine's goroutine) running in a goroutine of its own. Exactly one proc runs at a time: the
// scheduler hands it the baton, and it gives it back when it parks before its next port call (or
// ends). Between two port calls a proc's code is deterministic, so the seed that picks which proc goes
// next, and what a port call meets (a throttle, a write that succeeds but reports an error, a crash),
// replays the schedule exactly.
type proc struct {
	id   int
	name string
	kind procKind
	// at is the port call the proc waits before ("start" before its first step).
	at     string
	write  bool // at is a call that changes something
	resume chan decision
	dead   bool // crashed or aborted: no call of it goes on
	ended  bool
	// onEnd is told how the proc ended (crashed: it died before returning).
	onEnd func(out any, err error, crashed bool)
	ghost bool // its caller gave up on it (a lost response); it runs on
	// deadline is when its function's timeout ends it (zero: none).
	deadline time.Time
	// stalled: it makes no progress before then (a slow invocation).
	stalled time.Time
	born    int // the step it began at
}

type procKind int

const (
	// kindTask is a workflow task (Reserve, Submit, Finish): on AWS a Lambda invocation that can die
	// (Lambda.Unknown) or whose response can be lost while it runs on.
	kindTask procKind = iota
	// kindLambda is another Lambda invocation (intake, events, reconcile): one that dies is
	// redelivered or runs again on schedule.
	kindLambda
	// kindUser is a user's call through the CLI or API (cancel): it does not die.
	kindUser
	// kindSetup runs before the chaos: no faults.
	kindSetup
)

// decision is what a parked proc's next port call meets.
type decision int

const (
	proceed    decision = iota
	failBefore          // the call fails as a throttle does, changing nothing
	failAfter           // the call is made, then reports a transient error (the response was lost)
	crash               // the process dies before the call
	crashAfter          // the call is made, then the process dies
	abort               // the schedule is over: the goroutine unwinds
)

func (d decision) String() string {
	return [...]string{"proceed", "throttled", "done-but-failed", "crash", "done-then-crash", "abort"}[d]
}

// crashed is the panic that unwinds a proc that died; aborted one the schedule stopped.
type crashed struct{}
type aborted struct{}

// errInjected is the error a throttled call or a lost response reports.
func errInjected(op string, d decision) error {
	return sparkflow.Errorf(sparkflow.Transient, "sim: %s %s", op, d)
}

// spawn makes a proc, parked at its start: it runs fn when first resumed.
func (s *Sim) spawn(name string, kind procKind, fn func() (any, error), onEnd func(out any, err error, crashed bool)) *proc {
	s.nextProc++
	p := &proc{id: s.nextProc, name: name, kind: kind, at: "start", resume: make(chan decision), onEnd: onEnd, born: s.step}
	if t := functionTimeout(name); t > 0 && kind != kindUser && kind != kindSetup {
		p.deadline = s.now.Add(t)
	}
	s.procs = append(s.procs, p)
	go func() {
		var (
			out any
			err error
			die bool
		)
		defer func() {
			switch v := recover().(type) {
			case nil:
			case crashed:
				die = true
			case aborted:
				p.ended = true
				s.back <- struct{}{}
				return
			default:
				s.panicked = fmt.Sprintf("%s panicked: %v\n%s", p.name, v, debug.Stack())
				die = true
			}
			p.ended = true
			s.finished = append(s.finished, procEnd{p, out, err, die})
			s.back <- struct{}{}
		}()
		switch <-p.resume {
		case crash, crashAfter:
			p.dead = true
			panic(crashed{})
		case abort:
			panic(aborted{})
		}
		out, err = fn()
	}()
	return p
}

type procEnd struct {
	p   *proc
	out any
	err error
	die bool
}

// gate parks the running proc before op and returns what the call meets. It is called by the port
// wrappers on the running proc's goroutine.
func (s *Sim) gate(op string, write bool) decision {
	p := s.cur
	if p == nil {
		return proceed // the checker or the setup reading ungated state
	}
	if p.dead {
		panic(crashed{})
	}
	p.at, p.write = op, write
	s.back <- struct{}{}
	d := <-p.resume
	switch d {
	case crash:
		p.dead = true
		panic(crashed{})
	case abort:
		p.dead = true
		panic(aborted{})
	}
	return d
}

// after applies the part of a decision that comes after the call was made.
func (s *Sim) after(op string, d decision, err error) error {
	switch d {
	case crashAfter:
		s.cur.dead = true
		panic(crashed{})
	case failAfter:
		if err == nil {
			return errInjected(op, d)
		}
	}
	return err
}

// call makes a gated port call: the proc parks before it, then the call runs (or fails, or the proc
// dies) as the scheduler decided.
func call[T any](s *Sim, op string, write bool, fn func() (T, error)) (T, error) {
	d := s.gate(op, write)
	var zero T
	if d == failBefore {
		return zero, errInjected(op, d)
	}
	v, err := fn()
	if write {
		s.writes++
	}
	if err = s.after(op, d, err); err != nil && d == failAfter {
		return zero, err
	}
	return v, err
}

// run hands the baton to p with decision d and waits until p parks again or ends.
func (s *Sim) run(p *proc, d decision) {
	s.cur, s.lastRan = p, p
	p.resume <- d
	<-s.back
	s.cur = nil
	// Reap the procs that ended.
	for _, e := range s.finished {
		s.removeProc(e.p)
		if e.p.onEnd != nil {
			e.p.onEnd(e.out, e.err, e.die)
		}
	}
	s.finished = s.finished[:0]
}

func (s *Sim) removeProc(p *proc) {
	for i, q := range s.procs {
		if q == p {
			s.procs = append(s.procs[:i], s.procs[i+1:]...)
			return
		}
	}
}

// abortAll unwinds every parked proc (the schedule is over, or the local engine was killed).
func (s *Sim) abortAll() {
	for len(s.procs) > 0 {
		p := s.procs[0]
		p.onEnd = nil
		s.cur = p
		p.resume <- abort
		<-s.back
		s.cur = nil
		s.removeProc(p)
		s.finished = s.finished[:0]
	}
}

// procsNamed lists the live procs whose names start with prefix.
func (s *Sim) procsNamed(prefix string) []*proc {
	var out []*proc
	for _, p := range s.procs {
		if strings.HasPrefix(p.name, prefix) {
			out = append(out, p)
		}
	}
	return out
}

// functionTimeout is how long an invocation may run: its Lambda function's timeout (the stack's), by
// the proc's name.
func functionTimeout(name string) time.Duration {
	for prefix, t := range map[string]time.Duration{"reserve ": 30 * time.Second, "submit ": 60 * time.Second, "finish ": 30 * time.Second,
		"intake ": 60 * time.Second, "events ": 30 * time.Second, "bus ": 30 * time.Second, "reconcile": 300 * time.Second} {
		if strings.HasPrefix(name, prefix) {
			return t
		}
	}
	return 0
}
