package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// The engine's scheduler fires the transforms' schedules: it sleeps until the next firing of any of
// them (a timer, no polling), submits the firing's run (its id derived from the transform and the
// time, so a firing handled twice is one run) and remembers the firing in the store, so that a
// restarted engine submits what it missed as each transform's catch-up policy says.

// marks is where the scheduler remembers each schedule's last firing (sqlitestore; in memory on a
// store without them).
type marks interface {
	ScheduleMark(ctx context.Context, transform string) (time.Time, string, bool, error)
	SetScheduleMark(ctx context.Context, transform string, last time.Time, spec string) error
	DeleteScheduleMark(ctx context.Context, transform string) error
}

type memMarks struct {
	mu sync.Mutex
	m  map[string]struct {
		last time.Time
		spec string
	}
}

func (m *memMarks) ScheduleMark(_ context.Context, t string) (time.Time, string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.m[t]
	return v.last, v.spec, ok, nil
}

func (m *memMarks) SetScheduleMark(_ context.Context, t string, last time.Time, spec string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]struct {
			last time.Time
			spec string
		}{}
	}
	m.m[t] = struct {
		last time.Time
		spec string
	}{last, spec}
	return nil
}

func (m *memMarks) DeleteScheduleMark(_ context.Context, t string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, t)
	return nil
}

type scheduler struct {
	e     *Engine
	marks marks
	now   func() time.Time
	wake  chan struct{}
}

func newScheduler(e *Engine, now func() time.Time) *scheduler {
	m, ok := e.Store.(marks)
	if !ok {
		m = &memMarks{}
	}
	if now == nil {
		now = func() time.Time { return time.Now().UTC() }
	}
	return &scheduler{e: e, marks: m, now: now, wake: make(chan struct{}, 1)}
}

// spec is what a mark was made for: a change of it (a new expression or zone, a pause or a resume)
// starts the schedule afresh from now, so that a resumed schedule does not catch up its pause.
func spec(t sparkflow.Transform) string {
	return fmt.Sprintf("%s|%s|%v", t.Schedule, t.Timezone, t.Paused)
}

// PutSchedule (sparkflow.Schedules) starts a schedule that is new or changed from now, and wakes the
// scheduler.
func (s *scheduler) PutSchedule(ctx context.Context, t sparkflow.Transform) error {
	defer s.poke()
	if t.Schedule == "" {
		return s.marks.DeleteScheduleMark(ctx, t.Name)
	}
	_, was, ok, err := s.marks.ScheduleMark(ctx, t.Name)
	if err != nil || (ok && was == spec(t)) {
		return err
	}
	return s.marks.SetScheduleMark(ctx, t.Name, s.now(), spec(t))
}

// DeleteSchedule (sparkflow.Schedules) forgets the schedule.
func (s *scheduler) DeleteSchedule(ctx context.Context, transform string) error {
	defer s.poke()
	return s.marks.DeleteScheduleMark(ctx, transform)
}

func (s *scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// maxSleep bounds a sleep, so that a wall clock set forward is noticed.
const maxSleep = time.Hour

func (s *scheduler) loop(ctx context.Context) {
	for {
		next := s.pass(ctx)
		wait := maxSleep
		if !next.IsZero() {
			wait = min(maxSleep, max(0, next.Sub(s.now())))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// pass submits every firing due now and returns when the next one is.
func (s *scheduler) pass(ctx context.Context) time.Time {
	ts, err := s.e.Store.ListTransforms(ctx, "")
	if err != nil {
		s.e.log.Warn("scheduler: list transforms", "err", err)
		return s.now().Add(10 * time.Second)
	}
	var next time.Time
	soonest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, t := range ts {
		if t.Schedule == "" {
			continue
		}
		sch, err := core.ParseSchedule(t.Schedule, t.Timezone)
		if err != nil {
			s.e.log.Warn("scheduler: a transform's schedule does not parse", "transform", t.Name, "err", err)
			continue
		}
		now := s.now()
		last, was, ok, err := s.marks.ScheduleMark(ctx, t.Name)
		if err != nil {
			s.e.log.Warn("scheduler: read a schedule's mark", "transform", t.Name, "err", err)
			soonest(now.Add(10 * time.Second))
			continue
		}
		if !ok || was != spec(t) {
			// A schedule never seen (made while the engine was stopped, or before marks) starts now.
			if err := s.marks.SetScheduleMark(ctx, t.Name, now, spec(t)); err != nil {
				s.e.log.Warn("scheduler: start a schedule", "transform", t.Name, "err", err)
			}
			last = now
		}
		if t.Paused {
			continue
		}
		if retry := s.fire(ctx, t, sch, last, now); retry {
			soonest(now.Add(5 * time.Second))
		}
		soonest(sch.Next(now))
	}
	return next
}

// fire submits the transform's firings due between last and now and moves its mark past them (and
// past the missed firings its policy leaves out). retry: a submit failed, the mark stays before it.
func (s *scheduler) fire(ctx context.Context, t sparkflow.Transform, sch core.Schedule, last, now time.Time) (retry bool) {
	due := core.Due(sch, last, now, t.CatchUp)
	mark := last
	for _, at := range due {
		at := at
		r, err := s.e.Submit(ctx, sparkflow.RunRequest{Transform: t.Name, ScheduledTime: &at})
		if err != nil && !sparkflow.IsCode(err, sparkflow.Invalid) && !sparkflow.IsCode(err, sparkflow.NotFound) && !sparkflow.IsCode(err, sparkflow.Conflict) {
			s.e.log.Warn("scheduler: submit a firing (again shortly)", "transform", t.Name, "at", at, "err", err)
			s.setMark(ctx, t, mark)
			return true
		}
		if err != nil {
			// Refused for good (its queue full, say): kept as rejected, the schedule goes on.
			s.e.log.Warn("scheduler: a firing was refused", "transform", t.Name, "at", at, "err", err)
			s.e.Service.Reject(ctx, core.ScheduledRunID(t.Name, at), fmt.Sprintf(`{"transform":%q,"scheduledTime":%q}`, t.Name, at.Format(time.RFC3339)), err)
		} else {
			s.e.log.Info("scheduled run submitted", "transform", t.Name, "run_id", r.ID, "scheduled_time", at)
		}
		mark = at
	}
	if passed := sch.Firings(last, now, 1); len(passed) > 0 && passed[0].After(mark) {
		mark = passed[0] // missed firings the policy left out are passed for good
	}
	if !mark.Equal(last) {
		s.setMark(ctx, t, mark)
	}
	return false
}

func (s *scheduler) setMark(ctx context.Context, t sparkflow.Transform, at time.Time) {
	if err := s.marks.SetScheduleMark(ctx, t.Name, at, spec(t)); err != nil {
		s.e.log.Warn("scheduler: record a firing", "transform", t.Name, "err", err)
	}
}

// FireSchedule does what the scheduler does when transform's schedule comes due at at (tests and the
// scenario suite use it to fire a schedule without waiting for it): it submits the firing's run, or
// nothing when the schedule is paused (fired false). A transform without a schedule is NotFound.
func (e *Engine) FireSchedule(ctx context.Context, transform string, at time.Time) (run sparkflow.Run, fired bool, err error) {
	t, err := e.Store.GetTransform(ctx, transform)
	if err != nil {
		return sparkflow.Run{}, false, err
	}
	if t.Schedule == "" {
		return sparkflow.Run{}, false, sparkflow.Errorf(sparkflow.NotFound, "transform %s has no schedule", transform)
	}
	if t.Paused {
		return sparkflow.Run{}, false, nil
	}
	r, err := e.Submit(ctx, sparkflow.RunRequest{Transform: transform, ScheduledTime: &at})
	return r, err == nil, err
}
