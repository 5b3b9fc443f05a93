package scenariotest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sparkflow/sparkflow/shared/contract/backendtest"
	"github.com/sparkflow/sparkflow/shared/metrics"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func duplicatedEvents(t *T, w World) {
	p := pool(t, w, 1, 2)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 0.5"), MaxAttempts: 1})
	id := uuid.NewString()
	must(t, w.DuplicateStepEvents(id, 10))
	if _, err := w.Backend().SubmitRun(context.Background(), sparkflow.RunRequest{ID: id, Transform: tr.Name}); err != nil {
		t.Fatal(err)
	}
	r := ended(t, w, id, w.Wait())
	if r.Status != sparkflow.RunSucceeded || r.Attempt != 1 {
		t.Fatalf("run with duplicated events %s attempt %d: %s", r.Status, r.Attempt, r.Reason)
	}
}

func droppedEvent(t *T, w World) {
	p := pool(t, w, 1, 1)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 1")})
	id := uuid.NewString()
	must(t, w.DropStepEvents(id, sparkflow.StepCompleted, 1))
	if _, err := w.Backend().SubmitRun(context.Background(), sparkflow.RunRequest{ID: id, Transform: tr.Name}); err != nil {
		t.Fatal(err)
	}
	backendtest.WaitStatus(t, w.Backend(), id, w.Wait(), status(sparkflow.RunRunning), "to run")
	time.Sleep(3 * time.Second) // the step ends; its COMPLETED event is lost
	if r, _ := w.Backend().GetRun(context.Background(), id); r.Status.Terminal() {
		t.Fatalf("the run ended (%s) although its step's end event was dropped", r.Status)
	}
	must(t, w.Reconcile(context.Background()))
	if r := ended(t, w, id, w.Wait()); r.Status != sparkflow.RunSucceeded {
		t.Fatalf("repaired run %s: %s", r.Status, r.Reason)
	}
}

func lostResume(t *T, w World) {
	p := pool(t, w, 1, 1)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 1")})
	r := submit(t, w, tr.Name)
	backendtest.WaitStatus(t, w.Backend(), r.ID, w.Wait(), status(sparkflow.RunRunning), "to run")
	must(t, w.LoseResumes(3))
	backendtest.WaitStatus(t, w.Backend(), r.ID, w.Wait(), func(r sparkflow.Run) bool { return r.StepState == sparkflow.StepCompleted }, "to record its step's end")
	time.Sleep(2 * time.Second)
	must(t, w.Reconcile(context.Background()))
	if done := ended(t, w, r.ID, w.Wait()); done.Status != sparkflow.RunSucceeded {
		t.Fatalf("run whose resume was lost: %s %s", done.Status, done.Reason)
	}
}

func deliveredTwice(t *T, w World, withID bool) {
	q := w.(Queue)
	p := pool(t, w, 1, 1)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("true")})
	body := fmt.Sprintf(`{"transform": %q}`, tr.Name)
	if withID {
		body = fmt.Sprintf(`{"id": %q, "transform": %q}`, uuid.NewString(), tr.Name)
	}
	must(t, q.DeliverNextTwice())
	must(t, q.SendRaw(context.Background(), body))
	var runs []sparkflow.Run
	backendtest.Eventually(t, w.Wait(), "the run to end", func() bool {
		runs, _ = w.Backend().ListRuns(context.Background(), sparkflow.RunFilter{Transform: tr.Name})
		return len(runs) > 0 && runs[0].Status.Terminal()
	})
	time.Sleep(2 * time.Second) // a second run, if any, would be recorded by now
	runs, _ = w.Backend().ListRuns(context.Background(), sparkflow.RunFilter{Transform: tr.Name})
	if len(runs) != 1 || runs[0].Status != sparkflow.RunSucceeded {
		var got []string
		for _, r := range runs {
			got = append(got, fmt.Sprintf("%s %s attempt %d %q", r.ID, r.Status, r.Attempt, r.Reason))
		}
		t.Fatalf("one message delivered twice made %d runs, not one SUCCEEDED: %v", len(runs), got)
	}
}

func malformed(t *T, w World) {
	q := w.(Queue)
	ctx := context.Background()
	before, err := q.DeadLetters(ctx)
	must(t, err)
	marker := name("bad")
	var m0 metrics.Reading
	if _, ok := w.(Meter); ok {
		m0 = reading(t, w)
	}
	must(t, q.SendRaw(ctx, `{"transform": "`+marker+`", "parmas": {}}`))
	rejectedWith(t, w, marker, "parmas", "a rejected record, listed through the Backend face")
	backendtest.Eventually(t, 2*w.Wait(), "the message in the dead-letter queue", func() bool {
		n, err := q.DeadLetters(ctx)
		return err == nil && n == before+1
	})
	if _, ok := w.(Meter); ok {
		// Redeliveries before the dead-letter queue reject it again: at least once, by its reason.
		backendtest.Eventually(t, w.Wait(), "requests_rejected{reason=invalid} counted", func() bool {
			return reading(t, w).Get(metrics.RequestsRejected, map[string]string{"reason": "invalid"}) > m0.Get(metrics.RequestsRejected, map[string]string{"reason": "invalid"})
		})
	}
}

func stoppedExecution(t *T, w World) {
	x := w.(Executions)
	p := pool(t, w, 1, 1)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 60")})
	r := submit(t, w, tr.Name)
	backendtest.WaitStatus(t, w.Backend(), r.ID, w.Wait(), status(sparkflow.RunRunning), "to run")
	must(t, x.StopExecution(context.Background(), r.ID))
	done := ended(t, w, r.ID, w.Wait())
	if done.Status == sparkflow.RunSucceeded || done.Reason == "" {
		t.Fatalf("run whose execution was stopped: %s %q", done.Status, done.Reason)
	}
	// Its slot is free: the next run goes through.
	quick := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("true")})
	if r := ended(t, w, submit(t, w, quick.Name).ID, w.Wait()); r.Status != sparkflow.RunSucceeded {
		t.Fatalf("the run after: %s %s", r.Status, r.Reason)
	}
}

// stoppedExecutionUnseen: an execution stopped from outside whose status event is lost leaves its run
// active until the reconciler looks at the execution, ends the run and frees its slot.
func stoppedExecutionUnseen(t *T, w World) {
	x := w.(Executions)
	ctx := context.Background()
	p := pool(t, w, 1, 1)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 60")})
	r := submit(t, w, tr.Name)
	backendtest.WaitStatus(t, w.Backend(), r.ID, w.Wait(), status(sparkflow.RunRunning), "to run")
	must(t, x.LoseExecutionEvents(1))
	must(t, x.StopExecution(ctx, r.ID))
	time.Sleep(2 * time.Second)
	if got, err := w.Backend().GetRun(ctx, r.ID); err != nil || got.Status.Terminal() {
		t.Fatalf("with the execution's event lost the run should still be active: %s %v", got.Status, err)
	}
	must(t, w.Reconcile(ctx))
	done := ended(t, w, r.ID, w.Wait())
	if done.Status != sparkflow.RunCancelled || !strings.Contains(done.Reason, "status event was lost") {
		t.Fatalf("run whose stopped execution the reconciler found: %s %q", done.Status, done.Reason)
	}
	quick := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("true")})
	if r := ended(t, w, submit(t, w, quick.Name).ID, w.Wait()); r.Status != sparkflow.RunSucceeded {
		t.Fatalf("the run after: %s %s", r.Status, r.Reason)
	}
}

// reorderedEvents: a step's RUNNING event comes after its COMPLETED one; the run ends SUCCEEDED with
// its start recorded all the same.
func reorderedEvents(t *T, w World) {
	p := pool(t, w, 1, 1)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 0.5")})
	id := uuid.NewString()
	must(t, w.DelayStepEvents(id, sparkflow.StepRunning, 1, 3*time.Second))
	if _, err := w.Backend().SubmitRun(context.Background(), sparkflow.RunRequest{ID: id, Transform: tr.Name}); err != nil {
		t.Fatal(err)
	}
	r := ended(t, w, id, w.Wait())
	if r.Status != sparkflow.RunSucceeded || r.Attempt != 1 {
		t.Fatalf("run with its RUNNING event late: %s attempt %d: %s", r.Status, r.Attempt, r.Reason)
	}
	backendtest.Eventually(t, w.Wait(), "the run's start time", func() bool {
		r, _ = w.Backend().GetRun(context.Background(), id)
		return r.StartedAt != nil
	})
	if r.StartedAt.After(*r.EndedAt) || (r.ReservedAt != nil && r.StartedAt.Before(*r.ReservedAt)) {
		t.Fatalf("start %v outside reserved %v .. ended %v", r.StartedAt, r.ReservedAt, r.EndedAt)
	}
}

// throttledEMR: a third of the functions' EMR calls are throttled; every run still succeeds, with
// exactly one step per attempt (a retried submit looks for its step before adding one).
func throttledEMR(t *T, w World) {
	th := w.(Throttler)
	p := pool(t, w, 1, 3)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("true")})
	var m0 metrics.Reading
	if _, ok := w.(Meter); ok {
		m0 = reading(t, w)
	}
	must(t, th.ThrottleEMR(0.35))
	defer th.ThrottleEMR(0)
	var ids []string
	for i := 0; i < 6; i++ {
		ids = append(ids, submit(t, w, tr.Name).ID)
	}
	for _, id := range ids {
		r := ended(t, w, id, 2*w.Wait())
		if r.Status != sparkflow.RunSucceeded {
			t.Fatalf("run %s under throttling: %s %s", id, r.Status, r.Reason)
		}
		n, err := th.StepsAdded(context.Background(), id)
		must(t, err)
		if n != r.Attempt {
			t.Fatalf("run %s: %d steps added for %d attempts", id, n, r.Attempt)
		}
	}
	if _, ok := w.(Meter); ok {
		m1 := reading(t, w)
		throttled := m1.Get(metrics.EMRThrottles, nil) - m0.Get(metrics.EMRThrottles, nil)
		calls := m1.Get(metrics.EMRCalls, nil) - m0.Get(metrics.EMRCalls, nil)
		if throttled < 1 || calls < throttled+6 {
			t.Fatalf("with a third of EMR's calls throttled, 6 runs counted %v EMR calls of which %v throttled", calls, throttled)
		}
	}
}

// rejectedWith waits for the rejected record of the request whose body contains marker, with a
// reason that contains reason.
func rejectedWith(t *T, w World, marker, reason, what string) {
	t.Helper()
	backendtest.Eventually(t, w.Wait(), what, func() bool {
		rej, _ := w.Backend().ListRejected(context.Background(), 100)
		for _, r := range rej {
			if strings.Contains(r.Body, marker) && strings.Contains(r.Reason, reason) {
				return true
			}
		}
		return false
	})
}
