// Package sim is the deterministic simulation of SparkFlow's task logic: the real tasks (intake,
// reserve, dispatch, submit, finish, cancel, events, reconcile, heal) on a real store, with EMR and
// the workflow runtime of each home played by the simulation. Every invocation runs in a goroutine of
// its own and parks before each port call; a seed picks which one goes next, which EMR move or event
// delivery happens, and what faults strike (throttles, writes that succeed but report an error,
// Lambdas that die, responses lost while a function runs on, events dropped, duplicated and
// reordered, clusters lost, kill -9 of the local engine). The same seed replays the same schedule.
// After every step the invariants are checked; after the chaos, a heal phase (faults off, the
// reconciler running) must end every run with no slot left held.
package sim

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/sparkflow/sparkflow/shared/emrevent"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tasks"
	"github.com/sparkflow/sparkflow/shared/tiers"
	"github.com/sparkflow/sparkflow/shared/workflow"
)

type phase int

const (
	setup phase = iota
	chaos
	heal
)

// Sim is one schedule under way.
type Sim struct {
	// busKeys is the order key of the event each local bus proc handles.
	busKeys map[*proc]string

	cfg  Config
	prof Profile
	rng  *rand.Rand
	seed uint64
	// maxConcurrent is the transform's limit (0: none), for the checks.
	maxConcurrent int
	now           time.Time
	step          int
	phase         phase
	local         bool
	epoch         int64 // the local engine's (each restart is newer); 0 on AWS
	hash          interface{ Write([]byte) (int, error) }
	h64           func() uint64

	db    sparkflow.Store // the store itself, for the checks
	svc   *tasks.Service
	tasks map[string]workflow.TaskFunc
	emr   *emr
	flows *flows

	procs    []*proc
	nextProc int
	cur      *proc
	lastRan  *proc // the proc that ran last (the checks after its step may ask)
	back     chan struct{}
	finished []procEnd
	panicked string

	added     []*fstep       // every step added, in order
	events    []pendingEvent // EMR and execution events not yet delivered
	requests  []request      // run requests not yet accepted (the runs queue, or the user's retries)
	toSubmit  int
	nextRecon time.Time
	cancels   map[string]bool
	lost      int
	dropped   int

	checker    checker
	violations []Violation
	// writes counts the writes made; the records are read again (snapshot) and checked only when
	// it has changed since (snapAt, checkedAt).
	writes, snapAt, checkedAt int
	snapRuns                  []sparkflow.Run
	snapClust                 []sparkflow.Cluster
	snapWait                  []sparkflow.Waiter
}

type pendingEvent struct {
	raw      []byte
	what     string
	receives int
}

type request struct {
	req      sparkflow.RunRequest
	inFlight int
	receives int
}

// ReconcilePeriod is how often the reconciler runs (the stack's default).
const ReconcilePeriod = 5 * time.Minute

const (
	chaosSteps   = 4000
	healSteps    = 30000
	healDuration = 3 * time.Hour // below the runs' 6-hour timeouts: healing must not wait for them
	maxReceives  = 5             // the queues' redrive after so many receives
)

// Run runs one schedule.
func Run(cfg Config) Result {
	s := &Sim{busKeys: map[*proc]string{}, cfg: cfg, prof: cfg.Profile, local: cfg.Profile.Local, back: make(chan struct{}), cancels: map[string]bool{},
		now: time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)}
	s.rng = rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	s.seed = cfg.Seed
	h := fnv.New64a()
	s.hash, s.h64 = h, h.Sum64
	res := Result{Seed: cfg.Seed, Profile: cfg.Profile.Name}
	open := cfg.Store
	if open == nil {
		open = SQLiteMemory
	}
	db, closeDB, err := open()
	if err != nil {
		res.Violations = []Violation{{Invariant: "setup", Detail: err.Error()}}
		return res
	}
	defer closeDB()
	s.db = db
	s.emr = newEMR(s)
	s.flows = newFlows(s)
	ids := 0
	s.svc = tasks.New(tasks.Service{Store: &store{s: s, inner: db}, Clusters: s.emr, Callbacks: s.flows, Tiers: tiers.Default(),
		Clock: clock{s}, Log: slog.New(slog.DiscardHandler), NewID: func() string { ids++; return fmt.Sprintf("id-%04d", ids) }})
	if cfg.Sabotage != nil {
		cfg.Sabotage(s.svc)
	}
	s.tasks = s.svc.RunTasks()
	s.schedule()
	s.abortAll()
	res.Steps, res.Violations, res.Hash, res.Runs = s.step, s.violations, s.h64(), s.toSubmit
	return res
}

type clock struct{ s *Sim }

func (c clock) Now() time.Time { return c.s.now }

func (s *Sim) tracef(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	fmt.Fprintf(s.hash, "%s\n", line)
	if s.cfg.Trace != nil {
		s.cfg.Trace(fmt.Sprintf("%5d %s %s", s.step, s.now.Format("15:04:05"), line))
	}
}

func (s *Sim) violate(inv, format string, args ...any) {
	v := Violation{Invariant: inv, Detail: fmt.Sprintf(format, args...), Step: s.step}
	s.violations = append(s.violations, v)
	s.tracef("VIOLATION %s: %s", v.Invariant, v.Detail)
}

// emit hands an event to the home's event route, where the profile may drop or duplicate it.
func (s *Sim) emit(raw []byte, what string) {
	if s.phase == chaos && s.rng.Float64() < s.prof.EventDrop {
		s.dropped++
		s.tracef("event dropped: %s", what)
		return
	}
	s.events = append(s.events, pendingEvent{raw: raw, what: what})
	if s.phase == chaos && s.rng.Float64() < s.prof.EventDup {
		s.events = append(s.events, pendingEvent{raw: raw, what: what + " (again)"})
	}
}

// act picks one thing to happen and does it; false when nothing can.
func (s *Sim) act() bool {
	if s.panicked != "" {
		s.violate("no panic", "%s", s.panicked)
		return false
	}
	type action struct {
		w    float64
		what string
		do   func()
	}
	var acts []action
	add := func(w float64, what string, do func()) {
		if w > 0 {
			acts = append(acts, action{w, what, do})
		}
	}
	chaotic := s.phase == chaos
	for _, p := range s.procs {
		if p.stalled.After(s.now) {
			continue
		}
		add(4, "run "+p.name+" at "+p.at, func() { s.run(p, s.decide(p)) })
	}
	// Events: SQS hands any of them (reordered); the local bus several at once, each step's and each
	// cluster's in order (emrevent.OrderKey): an event goes only when no earlier one of its key waits
	// or is being handled.
	if s.local {
		held := map[string]bool{}
		for _, p := range s.procsNamed("bus ") {
			held[s.busKeys[p]] = true
		}
		for i := range s.events {
			k := emrevent.OrderKey(s.events[i].raw)
			if held[k] {
				continue
			}
			held[k] = true
			add(3, "deliver "+s.events[i].what, func() { s.deliver(i) })
		}
	} else {
		for i := range s.events {
			add(2, "deliver "+s.events[i].what, func() { s.deliver(i) })
		}
	}
	for _, m := range s.emr.moves(s.outcome, chaotic && s.lost == 0 && s.prof.LoseCluster > 0) {
		w := 1.0
		if strings.HasPrefix(m.what, "lose ") {
			w = s.prof.LoseCluster
		}
		add(w, "emr "+m.what, m.do)
	}
	if s.phase != setup {
		for i := range s.requests {
			r := &s.requests[i]
			if r.inFlight == 0 {
				add(1.5, "accept "+short(r.req.ID), func() { s.intake(i) })
			} else if chaotic && !s.local {
				add(s.prof.Redeliver, "redeliver "+short(r.req.ID), func() { s.intake(i) })
			}
		}
	}
	if chaotic {
		for _, id := range s.flows.order {
			ex := s.flows.execs[id]
			if ex.task != nil && !s.local && ex.status == "RUNNING" {
				add(s.prof.Ghost, "lose the response of "+ex.task.name, func() { s.flows.loseResponse(ex) })
			}
			if ex.status == "RUNNING" && !s.local && !s.cancels["stop "+id] {
				add(s.prof.Stop, "stop the execution of "+short(id), func() { s.cancels["stop "+id] = true; s.flows.stop(ex) })
			}
		}
		for _, r := range s.activeRuns() {
			if !s.cancels[r.ID] {
				add(s.prof.Cancel, "cancel "+short(r.ID), func() { s.cancel(r.ID) })
			}
		}
		if s.local {
			add(s.prof.Kill, "kill -9 the engine", s.kill)
		}
	}
	// Time moves on: to the next timer or reconcile, or a little.
	if s.phase != setup {
		w := 0.5
		if len(acts) == 0 {
			w = 1
		}
		add(w, "time passes", s.advance)
	}
	if len(acts) == 0 {
		return false
	}
	total := 0.0
	for _, a := range acts {
		total += a.w
	}
	x := s.rng.Float64() * total
	for _, a := range acts {
		if x -= a.w; x < 0 {
			s.tracef("%s", a.what)
			a.do()
			return true
		}
	}
	a := acts[len(acts)-1]
	s.tracef("%s", a.what)
	a.do()
	return true
}

// outcome is how EMR ends a step that ran.
func (s *Sim) outcome() sparkflow.StepState {
	if s.rng.Float64() < 0.7 {
		return sparkflow.StepCompleted
	}
	return sparkflow.StepFailed
}

// decide is what p's next port call meets.
func (s *Sim) decide(p *proc) decision {
	if s.phase != chaos || p.kind == kindSetup || p.at == "start" {
		return proceed
	}
	x := s.rng.Float64()
	if x < s.prof.Throttle {
		return failBefore
	}
	x -= s.prof.Throttle
	if p.write && x < s.prof.LostResponse {
		return failAfter
	}
	x -= s.prof.LostResponse
	if !s.local && p.kind != kindUser && x < s.prof.Crash {
		if p.write && s.rng.IntN(2) == 0 {
			return crashAfter
		}
		return crash
	}
	return proceed
}

// deliver hands event i to the events handler (a proc); one it fails on comes back, up to the
// queue's redrive (AWS) or the bus's retries (local), and is then lost for the reconciler to repair.
func (s *Sim) deliver(i int) {
	ev := s.events[i]
	s.events = append(s.events[:i], s.events[i+1:]...)
	name := "events "
	if s.local {
		name = "bus "
	}
	// The local bus hands a step's events that queued up together over at once (HandleEvents).
	group := []pendingEvent{ev}
	if key, cluster, _ := emrevent.Order(ev.raw); s.local && !cluster {
		kept := s.events[:0]
		for _, e := range s.events {
			if k, c, _ := emrevent.Order(e.raw); k == key && !c {
				group = append(group, e)
				continue
			}
			kept = append(kept, e)
		}
		s.events = kept
	}
	what := ev.what
	for _, e := range group[1:] {
		what += " + " + e.what
	}
	p := s.spawn(name+what, kindLambda, func() (any, error) {
		if len(group) == 1 {
			return nil, s.svc.HandleEvent(context.Background(), ev.raw)
		}
		raws := make([][]byte, len(group))
		for i, e := range group {
			raws[i] = e.raw
		}
		return nil, s.svc.HandleEvents(context.Background(), raws)
	},
		func(_ any, err error, died bool) {
			if err == nil && !died {
				return
			}
			var back []pendingEvent
			for _, ev := range group {
				ev.receives++
				if ev.receives >= maxReceives || (s.local && sparkflow.IsCode(err, sparkflow.Invalid)) {
					s.tracef("event given up after %d tries: %s", ev.receives, ev.what)
					continue
				}
				back = append(back, ev)
			}
			if s.local {
				s.events = append(back, s.events...)
			} else {
				s.events = append(s.events, back...)
			}
		})
	if s.local {
		s.busKeys[p] = emrevent.OrderKey(ev.raw)
	}
}

// intake accepts run request i and starts its execution: on AWS the intake function reading the
// runs queue (a failed or dead invocation leaves the message for a redelivery); locally the API's
// submit (a failed one the user retries with the same id).
func (s *Sim) intake(i int) {
	r := &s.requests[i]
	r.inFlight++
	req := r.req
	id := req.ID
	s.spawn("intake "+short(id), kindLambda, func() (any, error) {
		run, _, err := s.svc.Accept(context.Background(), req)
		if err != nil {
			return nil, err
		}
		if s.local {
			s.flows.start(run, nil)
			return nil, nil
		}
		_, err = call(s, "sfn.StartExecution "+short(id), true, func() (struct{}, error) {
			s.flows.start(run, nil)
			return struct{}{}, nil
		})
		return nil, err
	}, func(_ any, err error, died bool) {
		for j := range s.requests {
			q := &s.requests[j]
			if q.req.ID != id {
				continue
			}
			q.inFlight--
			if err == nil && !died {
				s.requests = append(s.requests[:j], s.requests[j+1:]...)
				return
			}
			if q.receives++; q.receives >= maxReceives && !s.local {
				s.tracef("request %s to the dead-letter queue", short(id))
				s.requests = append(s.requests[:j], s.requests[j+1:]...)
			}
			return
		}
	})
}

func (s *Sim) cancel(id string) {
	s.cancels[id] = true
	s.spawn("cancel "+short(id), kindUser, func() (any, error) {
		_, err := s.svc.Cancel(context.Background(), id)
		return nil, err
	}, nil)
}
