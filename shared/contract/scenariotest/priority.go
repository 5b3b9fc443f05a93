package scenariotest

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/sparkflow/sparkflow/shared/contract/backendtest"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// prioritiesScenario: on a pool of one slot held by a slow run, a low, a normal and a high run (in
// that order of submission, the low one by its transform's default) are granted the slot high first,
// then normal, then low (from their recorded reservation times).
func prioritiesScenario(t *T, w World) {
	ctx := context.Background()
	p := pool(t, w, 1, 1)
	slow := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 10")})
	quick := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("true"), Priority: sparkflow.PriorityLow})
	blocker := submit(t, w, slow.Name)
	backendtest.WaitStatus(t, w.Backend(), blocker.ID, w.Wait(), func(r sparkflow.Run) bool { return r.ReservedAt != nil }, "to hold the slot")
	ids := map[sparkflow.Priority]string{}
	for _, pr := range []sparkflow.Priority{"", sparkflow.PriorityNormal, sparkflow.PriorityHigh} {
		r, err := w.Backend().SubmitRun(ctx, sparkflow.RunRequest{ID: uuid.NewString(), Transform: quick.Name, Priority: pr})
		must(t, err)
		ids[pr.Or(sparkflow.PriorityLow)] = r.ID
	}
	// Each is waiting for the slot before the slow run lets it go.
	backendtest.Eventually(t, w.Wait(), "the three runs waiting", func() bool {
		for _, id := range ids {
			r, err := w.Backend().GetRun(ctx, id)
			if err != nil || r.ReservedAt != nil || r.Status.Terminal() {
				return false
			}
		}
		return true
	})
	if r, err := w.Backend().GetRun(ctx, blocker.ID); err != nil || r.Status.Terminal() {
		t.Fatalf("the slow run ended before the others waited (%v %s): the scenario proves nothing", err, r.Status)
	}
	at := map[sparkflow.Priority]time.Time{}
	for pr, id := range ids {
		r := ended(t, w, id, 3*w.Wait())
		if r.Status != sparkflow.RunSucceeded || r.ReservedAt == nil {
			t.Fatalf("%s run: %s %s", pr, r.Status, r.Reason)
		}
		if want := pr; r.Priority != want {
			t.Fatalf("run %s has priority %q, want %q", r.ID, r.Priority, want)
		}
		at[pr] = *r.ReservedAt
	}
	if !at[sparkflow.PriorityHigh].Before(at[sparkflow.PriorityNormal]) || !at[sparkflow.PriorityNormal].Before(at[sparkflow.PriorityLow]) {
		t.Fatalf("slots granted at high %v, normal %v, low %v: want high first, then normal, then low",
			at[sparkflow.PriorityHigh].Format(time.StampMilli), at[sparkflow.PriorityNormal].Format(time.StampMilli), at[sparkflow.PriorityLow].Format(time.StampMilli))
	}
}
