package scenariotest

import (
	"context"
	"time"

	"github.com/sparkflow/sparkflow/shared/contract/backendtest"
	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/front/backfill"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// backfillScenario: a backfill of 6 days with at most 2 runs active makes one run per day, never
// more than 2 active at once (from the recorded times), each ending as its day's command does;
// submitted again it creates nothing new; a backfill cancelled ends every run CANCELLED.
func backfillScenario(t *T, w World) {
	ctx := context.Background()
	p := pool(t, w, 1, 3)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 1; test ${day} != 2026-01-03"), MaxAttempts: 1, Params: map[string]string{"day": ""}})
	plan, err := core.PlanBackfill(tr.Name, map[string]string{"day": "2026-01-01..2026-01-06"}, "1d")
	must(t, err)
	rep, err := backfill.Submit(ctx, w.Backend(), plan, backfill.Options{MaxActive: 2, Poll: 100 * time.Millisecond})
	must(t, err)
	if rep.Runs != 6 || rep.Submitted != 6 || rep.Existing != 0 {
		t.Fatalf("first submit: %+v", rep)
	}
	var s backfill.Status
	backendtest.Eventually(t, 3*w.Wait(), "every run of the backfill ended", func() bool {
		s, err = backfill.Read(ctx, w.Backend(), plan)
		return err == nil && s.Done()
	})
	if s.ByStatus[sparkflow.RunSucceeded] != 5 || s.ByStatus[sparkflow.RunFailed] != 1 || s.NotSubmitted != 0 {
		t.Fatalf("by status %v (%d not submitted), want 5 SUCCEEDED and the 3rd day FAILED", s.ByStatus, s.NotSubmitted)
	}
	var iv [][2]time.Time
	for _, r := range s.Each {
		if r.Status == sparkflow.RunFailed && r.Params["day"] != "2026-01-03" {
			t.Fatalf("run of %s failed: %s", r.Params["day"], r.Reason)
		}
		iv = append(iv, [2]time.Time{r.CreatedAt, *r.EndedAt})
	}
	if n := maxOverlap(iv); n > 2 {
		t.Fatalf("%d runs of the backfill were active at once; --max-active is 2", n)
	}
	again, err := backfill.Submit(ctx, w.Backend(), plan, backfill.Options{})
	must(t, err)
	if again.Submitted != 0 || again.Existing != 6 {
		t.Fatalf("the same backfill again: %+v, want nothing new", again)
	}

	slow := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 60"), Params: map[string]string{"shard": ""}})
	plan2, err := core.PlanBackfill(slow.Name, map[string]string{"shard": "1..4"}, "")
	must(t, err)
	_, err = backfill.Submit(ctx, w.Backend(), plan2, backfill.Options{})
	must(t, err)
	backendtest.Eventually(t, w.Wait(), "every run of the slow backfill recorded", func() bool {
		s, err := backfill.Read(ctx, w.Backend(), plan2)
		return err == nil && s.NotSubmitted == 0
	})
	n, err := backfill.Cancel(ctx, w.Backend(), plan2)
	must(t, err)
	if n != 4 {
		t.Fatalf("cancelled %d runs, want the 4 active", n)
	}
	backendtest.Eventually(t, w.Wait(), "the cancelled backfill's runs ended CANCELLED", func() bool {
		s, err := backfill.Read(ctx, w.Backend(), plan2)
		return err == nil && s.ByStatus[sparkflow.RunCancelled] == 4
	})
}
