package engine_test

import (
	"context"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/emrevent"
	"github.com/sparkflow/sparkflow/shared/local/engine"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// stepCounter watches step events and keeps, per cluster, how many steps SparkFlow had added and not
// yet seen end, and the most ever: a cluster is over capacity when that exceeds its slots.
type stepCounter struct {
	mu      sync.Mutex
	open    map[string]map[string]bool
	maxOpen map[string]int
}

func newStepCounter() *stepCounter {
	return &stepCounter{open: map[string]map[string]bool{}, maxOpen: map[string]int{}}
}

func (c *stepCounter) see(raw []byte) {
	ev, err := emrevent.Parse(raw, true)
	if err != nil || ev.DetailType != emrevent.StepDetailType {
		return
	}
	ch, err := ev.Step(true)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[ch.ClusterID] == nil {
		c.open[ch.ClusterID] = map[string]bool{}
	}
	if ch.State.Terminal() {
		delete(c.open[ch.ClusterID], ch.StepID)
	} else {
		c.open[ch.ClusterID][ch.StepID] = true
	}
	if n := len(c.open[ch.ClusterID]); n > c.maxOpen[ch.ClusterID] {
		c.maxOpen[ch.ClusterID] = n
	}
}

func TestBurstOf200RunsNeverExceedsCapacity(t *testing.T) {
	counter := newStepCounter()
	e := newEngine(t, func(c *engine.Config) {
		c.EventFilter = func(ev []byte) [][]byte { counter.see(ev); return [][]byte{ev} }
	})
	createPool(t, e, "burst", 3, 4)
	createTransform(t, e, sparkflow.Transform{Name: "quick", Pool: "burst", Command: sh("sleep 0.05")})
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.Submit(context.Background(), sparkflow.RunRequest{Transform: "quick"}); err != nil {
				t.Error(err)
			}
		}()
	}
	// Sample the reservations while the burst runs.
	stop := make(chan struct{})
	sampled := make(chan int)
	go func() {
		worst := 0
		for {
			select {
			case <-stop:
				sampled <- worst
				return
			case <-time.After(5 * time.Millisecond):
			}
			cs, err := e.Store.ListClusters(context.Background(), "burst")
			if err != nil {
				continue
			}
			for _, c := range cs {
				worst = max(worst, len(c.Reservations))
			}
		}
	}()
	wg.Wait()
	runs := waitAll(t, e, 20*time.Second)
	close(stop)
	if worst := <-sampled; worst > 4 {
		t.Fatalf("a cluster held %d reservations, capacity 4", worst)
	}
	if len(runs) != 200 {
		t.Fatalf("%d runs recorded, want 200", len(runs))
	}
	perCluster := map[string]int{}
	for _, r := range runs {
		if r.Status != sparkflow.RunSucceeded || r.Attempt != 1 {
			t.Fatal(describe(r))
		}
		perCluster[r.ClusterID]++
	}
	if len(perCluster) != 3 {
		t.Fatalf("runs landed on %d clusters, want all 3: %v", len(perCluster), perCluster)
	}
	counter.mu.Lock()
	defer counter.mu.Unlock()
	for id, n := range counter.maxOpen {
		if n > 4 {
			t.Fatalf("cluster %s had %d steps submitted at once, capacity 4", id, n)
		}
	}
	if len(counter.maxOpen) != 3 {
		t.Fatalf("step events seen on %d clusters", len(counter.maxOpen))
	}
}

// chaos duplicates, delays (so later events overtake them) and drops events, deterministically.
type chaos struct {
	mu      sync.Mutex
	rng     *rand.Rand
	held    [][]byte
	dropped int
	dupes   int
	late    int
	drop    func(ev emrevent.Event) bool
}

func (c *chaos) filter(raw []byte) [][]byte {
	ev, err := emrevent.Parse(raw, true)
	if err != nil {
		return [][]byte{raw}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := [][]byte{}
	if c.drop != nil && c.drop(ev) && c.rng.Intn(3) == 0 {
		c.dropped++
		return append(out, c.held...)
	}
	switch c.rng.Intn(4) {
	case 0: // hold back: released after the next event, i.e. out of order
		c.late++
		c.held = append(c.held, raw)
		return out
	case 1:
		c.dupes++
		out = append(out, raw, raw)
	default:
		out = append(out, raw)
	}
	out = append(out, c.held...)
	c.held = nil
	if c.rng.Intn(5) == 0 && len(out) > 0 { // a duplicate of a late event, even later
		out = append(out, out[0])
	}
	return out
}

func TestDuplicateReorderedAndDroppedEvents(t *testing.T) {
	ch := &chaos{rng: rand.New(rand.NewSource(7)), drop: func(ev emrevent.Event) bool {
		if ev.DetailType != emrevent.StepDetailType {
			return false
		}
		s, _ := ev.Step(true)
		return s.State.Terminal() // losing an end event is what would leave a run waiting
	}}
	e := newEngine(t, func(c *engine.Config) {
		c.EventFilter = ch.filter
		c.ReconcileInterval = 300 * time.Millisecond
	})
	createPool(t, e, "chaos", 2, 3)
	createTransform(t, e, sparkflow.Transform{Name: "ok", Pool: "chaos", Command: sh("sleep 0.05")})
	createTransform(t, e, sparkflow.Transform{Name: "bad", Pool: "chaos", Command: sh("exit 1")})
	want := map[string]sparkflow.RunStatus{}
	for i := 0; i < 40; i++ {
		name, status := "ok", sparkflow.RunSucceeded
		if i%4 == 3 {
			name, status = "bad", sparkflow.RunFailed
		}
		want[submit(t, e, name, nil).ID] = status
	}
	runs := waitAll(t, e, 60*time.Second)
	for _, r := range runs {
		if r.Status != want[r.ID] {
			t.Fatalf("%s, want %s", describe(r), want[r.ID])
		}
		if r.Attempt != 1 {
			t.Fatalf("chaos in events made a second attempt: %s", describe(r))
		}
		if (r.Status == sparkflow.RunSucceeded) != (r.StepState == sparkflow.StepCompleted) {
			t.Fatalf("run %s is %s with step %s", r.ID, r.Status, r.StepState)
		}
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.dropped == 0 || ch.dupes == 0 || ch.late == 0 {
		t.Fatalf("the chaos did not happen: dropped %d, duplicated %d, late %d", ch.dropped, ch.dupes, ch.late)
	}
	// No slot is left held.
	cs, _ := e.Store.ListClusters(context.Background(), "chaos")
	for _, c := range cs {
		if len(c.Reservations) != 0 {
			t.Fatalf("cluster %s still holds %v", c.ID, c.Reservations)
		}
	}
}

func TestClusterLostMidRunReroutesOrFails(t *testing.T) {
	for _, tc := range []struct {
		name        string
		maxAttempts int
		want        sparkflow.RunStatus
	}{
		{"retried on another cluster", 2, sparkflow.RunSucceeded},
		{"failed when no attempts remain", 1, sparkflow.RunFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, nil)
			createPool(t, e, "fragile", 2, 1)
			createTransform(t, e, sparkflow.Transform{Name: "slow", Pool: "fragile", Command: sh(`[ "$0" = 2 ] || sleep 30`), Args: []string{"${attempt}"}, MaxAttempts: tc.maxAttempts})
			r := submit(t, e, "slow", nil)
			waitFor(t, 10*time.Second, "run to start", func() bool {
				r, _ = e.Store.GetRun(context.Background(), r.ID)
				return r.Status == sparkflow.RunRunning
			})
			lost := r.ClusterID
			if err := e.Clusters.Fail(lost, "INSTANCE_FAILURE"); err != nil {
				t.Fatal(err)
			}
			r = waitRun(t, e, r.ID, 20*time.Second)
			if r.Status != tc.want {
				t.Fatal(describe(r))
			}
			if tc.want == sparkflow.RunSucceeded && (r.ClusterID == lost || r.Attempt != 2) {
				t.Fatalf("retry stayed on the lost cluster or did not count: %s on %s", describe(r), r.ClusterID)
			}
			if tc.want == sparkflow.RunFailed && !strings.Contains(r.Reason, "lost") && !strings.Contains(r.Reason, "cluster terminated") {
				t.Fatalf("reason does not say the cluster was lost: %s", describe(r))
			}
			// The pool heals back to two ready clusters.
			waitFor(t, 10*time.Second, "replacement cluster", func() bool {
				p, err := e.Service.GetPool(context.Background(), "fragile")
				return err == nil && p.Ready == 2 && p.Status == sparkflow.PoolReady
			})
		})
	}
}

func TestCancelRunningAndWaitingRuns(t *testing.T) {
	e := newEngine(t, nil)
	createPool(t, e, "one", 1, 1)
	createTransform(t, e, sparkflow.Transform{Name: "long", Pool: "one", Command: sh("sleep 60")})
	running := submit(t, e, "long", nil)
	waitFor(t, 10*time.Second, "run to start", func() bool {
		r, _ := e.Store.GetRun(context.Background(), running.ID)
		return r.Status == sparkflow.RunRunning
	})
	waiting := submit(t, e, "long", nil)
	waitFor(t, 10*time.Second, "second run to wait", func() bool {
		r, _ := e.Store.GetRun(context.Background(), waiting.ID)
		return r.Status == sparkflow.RunWaiting
	})
	if _, err := e.Service.Cancel(context.Background(), waiting.ID); err != nil {
		t.Fatal(err)
	}
	if r := waitRun(t, e, waiting.ID, 5*time.Second); r.Status != sparkflow.RunCancelled || r.StepID != "" {
		t.Fatalf("waiting run: %s step %q", describe(r), r.StepID)
	}
	if _, err := e.Service.Cancel(context.Background(), running.ID); err != nil {
		t.Fatal(err)
	}
	r := waitRun(t, e, running.ID, 10*time.Second)
	if r.Status != sparkflow.RunCancelled || r.StepState != sparkflow.StepCancelled {
		t.Fatalf("running run: %s step %s", describe(r), r.StepState)
	}
	if _, err := e.Service.Cancel(context.Background(), running.ID); !sparkflow.IsCode(err, sparkflow.Conflict) {
		t.Fatalf("cancelling an ended run: want a conflict, got %v", err)
	}
	// The slot is free again: a new run gets it.
	createTransform(t, e, sparkflow.Transform{Name: "quick", Pool: "one", Command: sh("true")})
	if r := waitRun(t, e, submit(t, e, "quick", nil).ID, 10*time.Second); r.Status != sparkflow.RunSucceeded {
		t.Fatal(describe(r))
	}
}

func TestTimeouts(t *testing.T) {
	e := newEngine(t, nil)
	createPool(t, e, "one", 1, 1)
	createTransform(t, e, sparkflow.Transform{Name: "hang", Pool: "one", Command: sh("sleep 60"), TimeoutSeconds: 3, QueueTimeoutSeconds: 1})
	first := submit(t, e, "hang", nil)
	second := submit(t, e, "hang", nil)
	r1 := waitRun(t, e, first.ID, 15*time.Second)
	if r1.Status != sparkflow.RunTimedOut || !strings.Contains(r1.Reason, "timeout of 3s") {
		t.Fatalf("run over its timeout: %s", describe(r1))
	}
	r2 := waitRun(t, e, second.ID, 15*time.Second)
	if r2.Status != sparkflow.RunTimedOut || !strings.Contains(r2.Reason, "no free slot") || r2.StepID != "" {
		t.Fatalf("run over its queue timeout: %s", describe(r2))
	}
	// The timed-out step was cancelled on the cluster.
	waitFor(t, 10*time.Second, "timed-out step cancelled", func() bool {
		steps, err := e.Clusters.ListSteps(context.Background(), r1.ClusterID)
		return err == nil && len(steps) > 0 && steps[len(steps)-1].State == sparkflow.StepCancelled
	})
}

func TestRunsServedInAcceptanceOrder(t *testing.T) {
	e := newEngine(t, nil)
	createPool(t, e, "fifo", 1, 1)
	createTransform(t, e, sparkflow.Transform{Name: "step", Pool: "fifo", Command: sh("sleep 0.05")})
	var ids []string
	for i := 0; i < 8; i++ {
		ids = append(ids, submit(t, e, "step", nil).ID)
	}
	waitAll(t, e, 30*time.Second)
	var last time.Time
	for i, id := range ids {
		r, _ := e.Store.GetRun(context.Background(), id)
		if r.Status != sparkflow.RunSucceeded || r.StartedAt == nil {
			t.Fatal(describe(r))
		}
		if i > 0 && r.ReservedAt.Before(last) {
			t.Fatalf("run %d got its slot before run %d", i, i-1)
		}
		last = *r.ReservedAt
	}
}

func TestRestartOnSameDataDirLosesNothing(t *testing.T) {
	dir := t.TempDir()
	e := openEngine(t, dir, nil)
	createPool(t, e, "durable", 2, 2)
	createTransform(t, e, sparkflow.Transform{Name: "work", Pool: "durable", Command: sh("sleep 0.4"), MaxAttempts: 3})
	var ids []string
	for i := 0; i < 20; i++ {
		ids = append(ids, submit(t, e, "work", nil).ID)
	}
	waitFor(t, 10*time.Second, "some runs to be running", func() bool {
		rs, _ := e.Store.ListRuns(context.Background(), sparkflow.RunFilter{Status: sparkflow.RunRunning})
		return len(rs) >= 2
	})
	e.Close() // kills the steps as a crash would; the state stays on disk
	e = openEngine(t, dir, nil)
	defer e.Close()
	runs := waitAll(t, e, 60*time.Second)
	if len(runs) != len(ids) {
		t.Fatalf("%d runs after restart, want %d", len(runs), len(ids))
	}
	interrupted := 0
	for _, r := range runs {
		if r.Status != sparkflow.RunSucceeded {
			t.Fatal(describe(r))
		}
		if r.Attempt > 1 {
			interrupted++
		}
	}
	if interrupted == 0 {
		t.Fatal("no run was interrupted by the restart: the test did not test a restart mid-run")
	}
}
