package sim

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// The invariants, by the names reports count them under.
const (
	InvOneStep     = "one step per attempt"
	InvCapacity    = "never over capacity"
	InvForward     = "states move forward"
	InvEndedFinal  = "ended runs are never written again"
	InvEMRTruth    = "EMR's truth wins"
	InvFIFO        = "FIFO per pool"
	InvReason      = "every run ends with a reason"
	InvSettles     = "settles"
	InvNoSlotsLeft = "no slot or FIFO place left after every run ended"
	InvWorksOn     = "no attempt works on after it ended"
	InvConcurrent  = "never over max-concurrent"
)

type runSnap struct {
	status  sparkflow.RunStatus
	attempt int
	version int64
}

type checker struct {
	runs      map[string]runSnap
	held      map[string]string // run -> cluster whose slot it held at the last check
	endedAt   map[string]int    // run -> the step at which it was first seen ended
	firstSeen map[string]int    // "run/attempt" -> the step at which its FIFO place last appeared
	inFIFO    map[string]bool   // "run/attempt" -> in the FIFO at the last check
	// attemptOver: "run/attempt" -> when the attempt was first seen over (the run ended or went on)
	attemptOver map[string]time.Time
	// ready: the clusters ready at the last check; shrunkAt: the last step at which one stopped
	// being ready (the pool's capacity shrank).
	ready      map[string]bool
	shrunkAt   int
	checked    bool
	stepsSeen  int
	stepByName map[string]*fstep
}

func (s *Sim) ctx() context.Context { return context.Background() }

// snapshot reads the records (again only when something was written since).
func (s *Sim) snapshot() ([]sparkflow.Run, []sparkflow.Cluster, []sparkflow.Waiter) {
	if s.snapAt == s.writes && s.snapRuns != nil {
		return s.snapRuns, s.snapClust, s.snapWait
	}
	s.snapAt = s.writes
	runs, err := s.db.ListRuns(s.ctx(), sparkflow.RunFilter{})
	if err != nil {
		s.violate("checker", "list runs: %v", err)
	}
	clusters, err := s.db.ListClusters(s.ctx(), "")
	if err != nil {
		s.violate("checker", "list clusters: %v", err)
	}
	waiters, err := s.db.Waiters(s.ctx(), "p", 0)
	if err != nil {
		s.violate("checker", "list waiters: %v", err)
	}
	if runs == nil {
		runs = []sparkflow.Run{}
	}
	s.snapRuns, s.snapClust, s.snapWait = runs, clusters, waiters
	return runs, clusters, waiters
}

// check checks the invariants that hold after every step.
func (s *Sim) check() {
	c := &s.checker
	if c.runs == nil {
		c.runs, c.held, c.endedAt, c.stepByName, c.firstSeen = map[string]runSnap{}, map[string]string{}, map[string]int{}, map[string]*fstep{}, map[string]int{}
		c.attemptOver, c.ready, c.shrunkAt = map[string]time.Time{}, map[string]bool{}, -1
	}
	// One step per attempt, from EMR's record of the steps added.
	for ; c.stepsSeen < len(s.added); c.stepsSeen++ {
		st := s.added[c.stepsSeen]
		if first, ok := c.stepByName[st.name]; ok {
			s.violate(InvOneStep, "a second step %s for %s (the first is %s)", st.id, st.name, first.id)
		}
		c.stepByName[st.name] = st
	}
	if s.checkedAt == s.writes && c.checked {
		return // nothing was written since: the checks of the records would find what they found
	}
	s.checkedAt, c.checked = s.writes, true
	runs, clusters, waiters := s.snapshot()
	byID := map[string]sparkflow.Run{}
	for _, r := range runs {
		byID[r.ID] = r
	}
	// Capacity, and one slot per run.
	held := map[string]string{}
	for _, cl := range clusters {
		if len(cl.Reservations) > cl.Capacity {
			s.violate(InvCapacity, "cluster %s holds %d runs on %d slots: %v", cl.ID, len(cl.Reservations), cl.Capacity, cl.Reservations)
		}
		for _, id := range cl.Reservations {
			if other, ok := held[id]; ok {
				s.violate(InvCapacity, "run %s holds slots on %s and %s", short(id), other, cl.ID)
			}
			held[id] = cl.ID
		}
	}
	// A FIFO place counts from when the run's attempt entered the FIFO (a retry enters anew, and so
	// does an attempt that left it and came back: one whose slot's cluster was lost before its step
	// was added waits again, from when it is back).
	now := map[string]bool{}
	for _, w := range waiters {
		k := fmt.Sprintf("%s/%d", w.RunID, byID[w.RunID].Attempt)
		if !c.inFIFO[k] {
			c.firstSeen[k] = s.step
		}
		now[k] = true
	}
	c.inFIFO = now
	for _, r := range runs {
		prev, seen := c.runs[r.ID]
		switch {
		case seen && prev.status.Terminal() && r.Version != prev.version:
			s.violate(InvEndedFinal, "run %s ended %s and was written again (now %s, version %d -> %d)", short(r.ID), prev.status, r.Status, prev.version, r.Version)
		case seen && prev.status.Terminal() && r.Status != prev.status:
			s.violate(InvForward, "run %s went from %s to %s", short(r.ID), prev.status, r.Status)
		case seen && (r.Attempt < prev.attempt || (r.Attempt == prev.attempt && r.Status.Rank() < prev.status.Rank())):
			s.violate(InvForward, "run %s went back from %s (attempt %d) to %s (attempt %d)", short(r.ID), prev.status, prev.attempt, r.Status, r.Attempt)
		}
		c.runs[r.ID] = runSnap{r.Status, r.Attempt, r.Version}
		for a := 1; a < r.Attempt || (a == r.Attempt && r.Status.Terminal()); a++ {
			if k := fmt.Sprintf("%s/%d", r.ID, a); c.attemptOver[k].IsZero() {
				c.attemptOver[k] = s.now
			}
		}
		if r.Status.Terminal() {
			if _, ok := c.endedAt[r.ID]; !ok {
				c.endedAt[r.ID] = s.step
				s.checkEnded(r)
			}
		}
	}
	// Max-concurrent: the runs of the transform under way (released from BLOCKED, not ended) are
	// never more than its limit, nor the places the store counts.
	if limit := s.maxConcurrent; limit > 0 {
		var under []string
		for _, r := range runs {
			if !r.Status.Terminal() && r.Status != sparkflow.RunBlocked {
				under = append(under, short(r.ID))
			}
		}
		if len(under) > limit {
			s.violate(InvConcurrent, "%d runs under way at once (%v); the transform's max-concurrent is %d", len(under), under, limit)
		}
		if places, err := s.db.Places(s.ctx(), "t"); err == nil && len(places) > limit {
			s.violate(InvConcurrent, "%d places held (%v); the transform's max-concurrent is %d", len(places), places, limit)
		}
	}
	// FIFO: a run that got a slot left enough free slots for the older runs of its pool still waiting
	// (runs are served in acceptance order: a newer one takes a slot only when the older ones can
	// have one too).
	free := 0
	for _, cl := range clusters {
		if cl.State.Ready() {
			free += cl.Free()
			// A slot held by a run that has ended or whose cancel was asked is on its way back.
			for _, id := range cl.Reservations {
				if r, ok := byID[id]; ok && (r.Status.Terminal() || r.CancelRequested) {
					free++
				}
			}
		} else if c.ready[cl.ID] {
			c.shrunkAt = s.step
		}
		c.ready[cl.ID] = cl.State.Ready()
	}
	// A slot taken by an invocation that looked before the capacity shrank (a cluster lost between
	// its look at the FIFO and its reservation) was fair when it looked: order is kept among the
	// runs that see the same capacity.
	looked := s.lastRan != nil && s.lastRan.born > c.shrunkAt
	for id, cl := range held {
		if c.held[id] != "" || !looked {
			continue
		}
		x := byID[id]
		var older []string
		for _, w := range waiters {
			y, ok := byID[w.RunID]
			// Older: stamped before it, and in the FIFO before it (a run stamped first that took its
			// place after the other had looked was not there to be served).
			first, queued := c.firstSeen[fmt.Sprintf("%s/%d", id, x.Attempt)]
			yFirst := c.firstSeen[fmt.Sprintf("%s/%d", w.RunID, y.Attempt)]
			if !ok || w.RunID == id || held[w.RunID] != "" || y.Status.Terminal() || y.CancelRequested || !w.Since.Before(x.CreatedAt) || !queued || yFirst >= first {
				continue
			}
			older = append(older, short(w.RunID))
		}
		if len(older) > free {
			s.violate(InvFIFO, "run %s got a slot on %s while %v, accepted before it, wait with %d free slots", short(id), cl, older, free)
		}
	}
	c.held = held
}

// checkEnded checks a run when it is first seen ended.
func (s *Sim) checkEnded(r sparkflow.Run) {
	if r.Status != sparkflow.RunSucceeded && r.Reason == "" {
		s.violate(InvReason, "run %s ended %s with no reason", short(r.ID), r.Status)
	}
	// EMR's truth: the step of the run's last attempt.
	var last *fstep
	for _, st := range s.added {
		if id, attempt, ok := core.ParseStepName(s.svc.NamePrefix, st.name); ok && id == r.ID && attempt == r.Attempt {
			last = st
		}
	}
	switch {
	case r.Status == sparkflow.RunSucceeded && (last == nil || last.state != sparkflow.StepCompleted):
		state := "no step"
		if last != nil {
			state = "its step " + string(last.state)
		}
		s.violate(InvEMRTruth, "run %s SUCCEEDED with %s", short(r.ID), state)
	case r.Status != sparkflow.RunSucceeded && last != nil && last.completed > 0:
		s.violate(InvEMRTruth, "run %s ended %s (%s) although its step %s COMPLETED", short(r.ID), r.Status, r.Reason, last.id)
	}
}

// stepEnded is told when EMR ends a step on its own (it ran to its end). A step whose attempt was
// over (its run ended, or went on to another attempt) must have been cancelled by then, or within
// two reconcile periods of the attempt's end (the reconciler cancels the steps of ended attempts).
func (s *Sim) stepEnded(st *fstep) {
	if s.phase == setup || st.cancelAsked || st.cluster.state.Ended() {
		return
	}
	id, attempt, ok := core.ParseStepName(s.svc.NamePrefix, st.name)
	if !ok {
		return
	}
	over := s.checker.attemptOver[fmt.Sprintf("%s/%d", id, attempt)]
	if !over.IsZero() && s.now.Sub(over) > 2*ReconcilePeriod {
		s.violate(InvWorksOn, "step %s of %s attempt %d ran on %s after its attempt was over, and no one cancelled it", st.id, short(id), attempt, s.now.Sub(over))
	}
}

// settled reports whether nothing is left to happen: no invocation, event or request under way, and
// every run ended.
func (s *Sim) settled() bool {
	// (A task to be tried again is work under way: a Finish cut off after the run's end retries.)
	if len(s.procs) > 0 || len(s.events) > 0 || len(s.requests) > 0 || s.flows.retryPending() {
		return false
	}
	for _, m := range s.emr.moves(s.outcome, false) {
		if !strings.HasPrefix(m.what, "ready ") {
			return false
		}
	}
	if !s.allEnded() {
		return false
	}
	_, clusters, waiters := s.snapshot()
	for _, cl := range clusters {
		if len(cl.Reservations) > 0 {
			return false
		}
	}
	// A place left by a run whose end was cut off is the reconciler's to free, as a slot is: the
	// heal goes on until it has (or settles fails).
	if places, err := s.db.Places(s.ctx(), "t"); err == nil && len(places) > 0 {
		return false
	}
	return len(waiters) == 0
}

func (s *Sim) allEnded() bool {
	if len(s.requests) > 0 {
		return false
	}
	runs, _, _ := s.snapshot()
	for _, r := range runs {
		if !r.Status.Terminal() {
			return false
		}
	}
	return true
}

func (s *Sim) activeRuns() []sparkflow.Run {
	all, _, _ := s.snapshot()
	var runs []sparkflow.Run
	for _, r := range all {
		if !r.Status.Terminal() {
			runs = append(runs, r)
		}
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].ID < runs[j].ID })
	return runs
}

// checkSettled checks what must hold once everything has settled.
func (s *Sim) checkSettled() {
	s.check()
	_, clusters, waiters := s.snapshot()
	for _, cl := range clusters {
		if len(cl.Reservations) > 0 {
			s.violate(InvNoSlotsLeft, "cluster %s still holds %v after every run ended", cl.ID, cl.Reservations)
		}
	}
	if len(waiters) > 0 {
		var ids []string
		for _, w := range waiters {
			ids = append(ids, short(w.RunID))
		}
		s.violate(InvNoSlotsLeft, "the FIFO still holds %v after every run ended", ids)
	}
	if places, err := s.db.Places(s.ctx(), "t"); err != nil || len(places) > 0 {
		s.violate(InvNoSlotsLeft, "the transform's places still hold %v after every run ended (%v)", places, err)
	}
}

// stuck says where a schedule that did not settle stands.
func (s *Sim) stuck() string {
	var b strings.Builder
	for _, r := range s.activeRuns() {
		ex := s.flows.execs[r.ID]
		exs := "no execution"
		if ex != nil {
			exs = "execution " + ex.status
			if tok := ex.x.Waits(); tok != "" {
				exs += " waiting on " + tok
			}
		}
		fmt.Fprintf(&b, "run %s %s attempt %d (cluster %s, step %s %s, token %s; %s); ", short(r.ID), r.Status, r.Attempt, r.ClusterID, r.StepID, r.StepState, r.Token, exs)
	}
	_, clusters, waiters := s.snapshot()
	for _, cl := range clusters {
		if len(cl.Reservations) > 0 {
			fmt.Fprintf(&b, "cluster %s %s holds %v; ", cl.ID, cl.State, cl.Reservations)
		}
	}
	if len(waiters) > 0 {
		fmt.Fprintf(&b, "%d in the FIFO; ", len(waiters))
	}
	fmt.Fprintf(&b, "%d procs, %d events, %d requests", len(s.procs), len(s.events), len(s.requests))
	return b.String()
}
