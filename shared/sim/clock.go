package sim

import (
	"context"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// advance moves the clock to the next timer or reconcile (or a few seconds on), and fires what is due.
func (s *Sim) advance() {
	next := s.nextRecon
	if t := s.flows.nextTimer(); !t.IsZero() && t.Before(next) {
		next = t
	}
	if s.phase == chaos && s.rng.IntN(2) == 0 {
		if small := s.now.Add(time.Duration(1+s.rng.IntN(20)) * time.Second); small.Before(next) {
			next = small
		}
	}
	slow := s.phase == chaos && s.prof.SlowLambdas && !s.local
	for _, p := range s.procs {
		stalled := p.stalled.After(s.now)
		if stalled && p.stalled.Before(next) {
			next = p.stalled
		}
		switch {
		case p.deadline.IsZero() || p.deadline.After(next):
		case stalled || slow:
			next = p.deadline // a stalled (or slow) invocation meets its function's timeout
		default:
			next = p.deadline.Add(-time.Millisecond) // invocations are quick: time does not outrun them
		}
	}
	if next.After(s.now) {
		s.now = next
	}
	// An invocation past its function's timeout is ended by Lambda.
	for _, p := range append([]*proc{}, s.procs...) {
		if !p.deadline.IsZero() && !s.now.Before(p.deadline) {
			s.tracef("%s ran past its timeout: Lambda ends it", p.name)
			s.run(p, crash)
		}
	}
	s.flows.fire()
	if !s.now.Before(s.nextRecon) {
		s.nextRecon = s.now.Add(ReconcilePeriod)
		if len(s.procsNamed("reconcile")) == 0 {
			s.spawn("reconcile", kindLambda, func() (any, error) {
				_, err := s.svc.Reconcile(context.Background(), 60)
				return nil, err
			}, nil)
		}
	}
}

// kill is kill -9 of the local engine, then its restart: every invocation dies where it stood, the
// events on the in-process bus are lost, the local clusters report the steps the death cut off as
// INTERRUPTED, and the restarted engine resumes the workflow of every run that has not ended.
func (s *Sim) kill() {
	s.abortAll()
	s.flows.forget()
	s.epoch++
	s.events = nil
	for i := range s.requests {
		s.requests[i].inFlight = 0 // the user's submit failed: they send it again
	}
	s.tracef("the engine is killed and restarted")
	s.emr.interruptAll()
	s.restart()
}

// restart is the local engine starting on its data: it resumes every run that has not ended (a start
// that fails is tried again, as its user would), and runs a reconcile pass at once, as the engine's
// reconcile loop does when it opens (what the death cut off after a run ended, such as giving its
// place back, is the reconciler's).
func (s *Sim) restart() {
	s.spawn("engine restart", kindLambda, func() (any, error) {
		runs, err := s.svc.Store.ListRuns(context.Background(), sparkflow.RunFilter{Active: true})
		if err != nil {
			return nil, err
		}
		for i := len(runs) - 1; i >= 0; i-- {
			s.flows.start(runs[i], ResumeOf(runs[i]))
		}
		return nil, nil
	}, func(_ any, err error, _ bool) {
		if err != nil {
			s.tracef("the engine did not start (%v): started again", err)
			s.restart()
			return
		}
		s.nextRecon = s.now.Add(ReconcilePeriod)
		s.spawn("reconcile", kindLambda, func() (any, error) {
			_, err := s.svc.Reconcile(context.Background(), 60)
			return nil, err
		}, nil)
	})
}
