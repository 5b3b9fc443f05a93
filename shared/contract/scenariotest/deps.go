package scenariotest

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sparkflow/sparkflow/shared/contract/backendtest"
	"github.com/sparkflow/sparkflow/shared/front/lineage"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func submitWith(t *T, w World, req sparkflow.RunRequest) sparkflow.Run {
	t.Helper()
	req.ID = uuid.NewString()
	r, err := w.Backend().SubmitRun(context.Background(), req)
	if err != nil {
		t.Fatalf("submit %s: %v", req.Transform, err)
	}
	return r
}

func day(d string) map[string]string { return map[string]string{"day": d} }

// notBefore fails unless a is at or after b (a run released by another's end starts after it).
func notBefore(t *T, what string, a *time.Time, b *time.Time) {
	t.Helper()
	if a == nil || b == nil || a.Before(*b) {
		t.Fatalf("%s: %v is before %v", what, a, b)
	}
}

func ids(runs []sparkflow.Run) map[string]bool {
	out := map[string]bool{}
	for _, r := range runs {
		out[r.ID] = true
	}
	return out
}

// dependenciesScenario: a run of a transform with an upstream waits BLOCKED, saying for what, until
// the upstream's run with the same day SUCCEEDS (a run of another day does not release it), and gets
// its slot only after that run ended; a run given --after waits for that run; the lineage pairs them;
// a cycle and an unknown upstream are refused when declared.
func dependenciesScenario(t *T, w World) {
	ctx := context.Background()
	b := w.Backend()
	p := pool(t, w, 1, 3)
	up := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 2"), Args: []string{"${day}"}, Params: day("2026-01-01")})
	down := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("true"), Args: []string{"${day}"}, Params: day("2026-01-01"), Upstream: []string{up.Name}})
	d1 := submitWith(t, w, sparkflow.RunRequest{Transform: down.Name, Params: day("2026-01-02")})
	blocked := backendtest.WaitStatus(t, b, d1.ID, w.Wait(), func(r sparkflow.Run) bool {
		return r.Status == sparkflow.RunBlocked && len(r.WaitsFor) == 1 && strings.Contains(r.WaitsFor[0], "no run yet")
	}, "BLOCKED, waiting for a run of its upstream")
	if !strings.Contains(blocked.WaitsFor[0], up.Name+" (day=2026-01-02)") {
		t.Fatalf("waits for %q, want the upstream with its day", blocked.WaitsFor)
	}
	other := ended(t, w, submitWith(t, w, sparkflow.RunRequest{Transform: up.Name, Params: day("2026-01-01")}).ID, 3*w.Wait())
	if other.Status != sparkflow.RunSucceeded {
		t.Fatalf("upstream run of another day: %s %s", other.Status, other.Reason)
	}
	if r, err := b.GetRun(ctx, d1.ID); err != nil || r.Status != sparkflow.RunBlocked {
		t.Fatalf("after an upstream run of another day: %v %s, want still BLOCKED", err, r.Status)
	}
	u1 := submitWith(t, w, sparkflow.RunRequest{Transform: up.Name, Params: day("2026-01-02")})
	u1 = ended(t, w, u1.ID, 3*w.Wait())
	d := ended(t, w, d1.ID, 3*w.Wait())
	if u1.Status != sparkflow.RunSucceeded || d.Status != sparkflow.RunSucceeded {
		t.Fatalf("upstream %s (%s), dependent %s (%s): want both SUCCEEDED", u1.Status, u1.Reason, d.Status, d.Reason)
	}
	notBefore(t, "the dependent's release", d.ReleasedAt, u1.EndedAt)
	notBefore(t, "the dependent's slot", d.ReservedAt, u1.EndedAt)
	// The lineage pairs them, and only them.
	l, err := lineage.Of(ctx, b, d)
	must(t, err)
	if got := ids(l.Upstream); !got[u1.ID] || got[other.ID] || len(got) != 1 {
		t.Fatalf("upstream of the dependent: %v, want only %s", got, u1.ID)
	}
	l, err = lineage.Of(ctx, b, u1)
	must(t, err)
	if got := ids(l.Downstream); !got[d.ID] || len(got) != 1 {
		t.Fatalf("downstream of the upstream run: %v, want only %s", got, d.ID)
	}
	// --after: a run of a transform without upstreams waits for a run given by id.
	x := submitWith(t, w, sparkflow.RunRequest{Transform: up.Name, Params: day("2026-01-03")})
	backendtest.WaitStatus(t, b, x.ID, w.Wait(), func(sparkflow.Run) bool { return true }, "recorded")
	y := submitWith(t, w, sparkflow.RunRequest{Transform: down.Name, Params: day("2026-01-03"), After: []string{x.ID}})
	x, y = ended(t, w, x.ID, 3*w.Wait()), ended(t, w, y.ID, 3*w.Wait())
	if y.Status != sparkflow.RunSucceeded || len(y.After) != 1 {
		t.Fatalf("run after %s: %s %s (after %v)", x.ID, y.Status, y.Reason, y.After)
	}
	notBefore(t, "the --after run's slot", y.ReservedAt, x.EndedAt)
	if _, err := b.SubmitRun(ctx, sparkflow.RunRequest{ID: uuid.NewString(), Transform: down.Name, After: []string{uuid.NewString()}}); !sparkflow.IsCode(err, sparkflow.NotFound) {
		t.Fatalf("--after a run that does not exist: %v, want not found", err)
	}
	// Declared cycles and unknown upstreams are refused.
	up.Upstream = []string{down.Name}
	if _, err := b.UpdateTransform(ctx, up); !sparkflow.IsCode(err, sparkflow.Invalid) || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("an upstream that closes a cycle: %v, want it refused as a cycle", err)
	}
	bad := sparkflow.Transform{Name: name("tr"), Pool: p, Command: backendtest.Sh("true"), Upstream: []string{"no-such-transform"}}
	if _, err := b.CreateTransform(ctx, bad); !sparkflow.IsCode(err, sparkflow.Invalid) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("an unknown upstream: %v, want it refused", err)
	}
}

// upstreamFailedScenario: when an upstream run fails, the runs waiting for it end UPSTREAM_FAILED with
// the reason, down the chain, without ever taking a slot; a run submitted after that fails at once;
// a BLOCKED run can be cancelled.
func upstreamFailedScenario(t *T, w World) {
	ctx := context.Background()
	p := pool(t, w, 1, 3)
	bad := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 2; exit 3"), Args: []string{"${day}"}, Params: day("2026-01-01"), MaxAttempts: 1})
	mid := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("true"), Args: []string{"${day}"}, Params: day("2026-01-01"), Upstream: []string{bad.Name}})
	last := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("true"), Args: []string{"${day}"}, Params: day("2026-01-01"), Upstream: []string{mid.Name}})
	b1 := submitWith(t, w, sparkflow.RunRequest{Transform: bad.Name, Params: day("2026-02-01")})
	m1 := submitWith(t, w, sparkflow.RunRequest{Transform: mid.Name, Params: day("2026-02-01")})
	l1 := submitWith(t, w, sparkflow.RunRequest{Transform: last.Name, Params: day("2026-02-01")})
	backendtest.WaitStatus(t, w.Backend(), m1.ID, w.Wait(), status(sparkflow.RunBlocked), "BLOCKED")
	if r := ended(t, w, b1.ID, 3*w.Wait()); r.Status != sparkflow.RunFailed {
		t.Fatalf("the failing upstream: %s", r.Status)
	}
	for _, c := range []struct {
		id, cause string
	}{{m1.ID, bad.Name}, {l1.ID, mid.Name}} {
		r := ended(t, w, c.id, 2*w.Wait())
		if r.Status != sparkflow.RunUpstreamFailed || !strings.Contains(r.Reason, c.cause) || r.ReservedAt != nil || r.StepID != "" {
			t.Fatalf("run %s: %s %q (slot %v, step %q), want UPSTREAM_FAILED naming %s, never placed", r.ID, r.Status, r.Reason, r.ReservedAt, r.StepID, c.cause)
		}
	}
	again := ended(t, w, submitWith(t, w, sparkflow.RunRequest{Transform: mid.Name, Params: day("2026-02-01")}).ID, 2*w.Wait())
	if again.Status != sparkflow.RunUpstreamFailed {
		t.Fatalf("a run submitted after its upstream failed: %s %s", again.Status, again.Reason)
	}
	waiting := submitWith(t, w, sparkflow.RunRequest{Transform: last.Name, Params: day("2026-03-01")})
	backendtest.WaitStatus(t, w.Backend(), waiting.ID, w.Wait(), status(sparkflow.RunBlocked), "BLOCKED")
	if _, err := w.Backend().CancelRun(ctx, waiting.ID); err != nil {
		t.Fatalf("cancel a BLOCKED run: %v", err)
	}
	if r := ended(t, w, waiting.ID, w.Wait()); r.Status != sparkflow.RunCancelled {
		t.Fatalf("a cancelled BLOCKED run: %s %s", r.Status, r.Reason)
	}
}

// maxConcurrentScenario: a transform with --max-concurrent 2 on a pool with 4 free slots never has
// more than 2 runs under way (from their recorded release and end times), the others wait BLOCKED
// and are released in acceptance order, and the places come back: a run submitted after all ended
// runs at once.
func maxConcurrentScenario(t *T, w World) {
	p := pool(t, w, 1, 4)
	tr := transform(t, w, p, sparkflow.Transform{Command: backendtest.Sh("sleep 1"), MaxConcurrent: 2})
	var runs []sparkflow.Run
	for i := 0; i < 5; i++ {
		runs = append(runs, submit(t, w, tr.Name))
	}
	var iv [][2]time.Time
	for i, r := range runs {
		runs[i] = ended(t, w, r.ID, 6*w.Wait())
		r = runs[i]
		if r.Status != sparkflow.RunSucceeded || r.EndedAt == nil {
			t.Fatalf("run %s: %s %s", r.ID, r.Status, r.Reason)
		}
		if r.ReleasedAt == nil {
			t.Fatalf("run %s was never released from BLOCKED", r.ID)
		}
		iv = append(iv, [2]time.Time{*r.ReleasedAt, *r.EndedAt})
	}
	if n := maxOverlap(iv); n > 2 {
		t.Fatalf("%d runs under way at once, the transform's limit is 2", n)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].CreatedAt.Before(runs[j].CreatedAt) })
	for i := 1; i < len(runs); i++ {
		if runs[i].ReleasedAt.Before(*runs[i-1].ReleasedAt) {
			t.Fatalf("run %s (accepted %d) was released before run %s (accepted %d): want acceptance order", runs[i].ID, i, runs[i-1].ID, i-1)
		}
	}
	if r := ended(t, w, submit(t, w, tr.Name).ID, 2*w.Wait()); r.Status != sparkflow.RunSucceeded {
		t.Fatalf("a run after the others ended: %s %s (places not given back?)", r.Status, r.Reason)
	}
}
