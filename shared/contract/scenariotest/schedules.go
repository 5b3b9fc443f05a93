package scenariotest

import (
	"context"
	"time"

	"github.com/sparkflow/sparkflow/shared/contract/backendtest"
	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// scheduleScenario: a transform's schedule, fired twice for one time, makes one run, whose id comes
// from the transform and the time and whose day is the scheduled date in the schedule's zone; a
// paused schedule fires nothing, a resumed one fires again; a deleted transform's schedule is gone.
func scheduleScenario(t *T, w World) {
	ctx := context.Background()
	s := w.(Scheduler)
	p := pool(t, w, 1, 2)
	// 02:00 in Paris is 01:00 UTC in winter: the day is Paris's.
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("test ${day} = ${expect}"), MaxAttempts: 1,
		Params: map[string]string{"day": "", "expect": ""}, Schedule: "cron(30 0 * * ? *)", Timezone: "Europe/Paris"})
	if tr.Schedule != "cron(30 0 * * ? *)" || tr.Timezone != "Europe/Paris" || tr.CatchUp != "latest" {
		t.Fatalf("the transform as created: schedule %q, zone %q, catch-up %q", tr.Schedule, tr.Timezone, tr.CatchUp)
	}
	// The firing of 2026-01-15 00:30 Paris time is 2026-01-14 23:30 UTC: its day is the 15th.
	at := time.Date(2026, 1, 14, 23, 30, 0, 0, time.UTC)
	tr.Params = map[string]string{"day": "", "expect": "2026-01-15"}
	tr, err := w.Backend().UpdateTransform(ctx, tr)
	must(t, err)
	for i := 0; i < 2; i++ { // delivered twice: one run
		fired, err := s.FireSchedule(ctx, tr.Name, at)
		must(t, err)
		if !fired {
			t.Fatalf("firing %d of an active schedule fired nothing", i+1)
		}
	}
	id := core.ScheduledRunID(tr.Name, at)
	r := ended(t, w, id, w.Wait())
	if r.Status != sparkflow.RunSucceeded || r.Params["day"] != "2026-01-15" || r.ScheduledFor == nil || !r.ScheduledFor.Equal(at) {
		t.Fatalf("the scheduled run: %s %q, params %v, scheduled for %v", r.Status, r.Reason, r.Params, r.ScheduledFor)
	}
	time.Sleep(2 * time.Second) // a second run, if any, would be recorded by now
	runs, err := w.Backend().ListRuns(ctx, sparkflow.RunFilter{Transform: tr.Name})
	must(t, err)
	if len(runs) != 1 {
		t.Fatalf("one firing delivered twice made %d runs", len(runs))
	}

	// Paused: a firing's time comes and nothing is sent.
	tr.Paused = true
	tr, err = w.Backend().UpdateTransform(ctx, tr)
	must(t, err)
	next := at.Add(24 * time.Hour)
	fired, err := s.FireSchedule(ctx, tr.Name, next)
	must(t, err)
	if fired {
		t.Fatal("a paused schedule fired")
	}
	// Resumed: it fires again.
	tr.Paused = false
	tr.Params = map[string]string{"day": "", "expect": "2026-01-16"}
	tr, err = w.Backend().UpdateTransform(ctx, tr)
	must(t, err)
	fired, err = s.FireSchedule(ctx, tr.Name, next)
	must(t, err)
	if !fired {
		t.Fatal("a resumed schedule fired nothing")
	}
	if r := ended(t, w, core.ScheduledRunID(tr.Name, next), w.Wait()); r.Status != sparkflow.RunSucceeded || r.Params["day"] != "2026-01-16" {
		t.Fatalf("the run after the resume: %s %q, params %v", r.Status, r.Reason, r.Params)
	}
	runs, err = w.Backend().ListRuns(ctx, sparkflow.RunFilter{Transform: tr.Name})
	must(t, err)
	if len(runs) != 2 {
		t.Fatalf("%d runs after the pause and the resume, want 2 (none while paused)", len(runs))
	}

	// Deleted with its transform.
	must(t, w.Backend().DeleteTransform(ctx, tr.Name))
	if _, err := s.FireSchedule(ctx, tr.Name, next.Add(24*time.Hour)); err == nil {
		t.Fatal("the schedule of a deleted transform still fires")
	}
}
