package tasks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/emrevent"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tasks"
)

// storeWrites records the store's writes by method: a call that changes nothing (RemoveWaiter of a
// run not there) is not one.
type storeWrites struct {
	sparkflow.Store
	mu     sync.Mutex
	writes []string
}

func (s *storeWrites) note(what string) {
	s.mu.Lock()
	s.writes = append(s.writes, what)
	s.mu.Unlock()
}

// take returns the writes since the last take, in order.
func (s *storeWrites) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.writes
	s.writes = nil
	return w
}

func (s *storeWrites) CreateRun(ctx context.Context, r sparkflow.Run) (bool, error) {
	s.note("CreateRun")
	return s.Store.CreateRun(ctx, r)
}
func (s *storeWrites) CreateRunOn(ctx context.Context, r sparkflow.Run, c string) (bool, error) {
	s.note("CreateRunOn")
	return s.Store.CreateRunOn(ctx, r, c)
}
func (s *storeWrites) UpdateRun(ctx context.Context, r sparkflow.Run) (sparkflow.Run, error) {
	s.note("UpdateRun")
	return s.Store.UpdateRun(ctx, r)
}
func (s *storeWrites) UpdateRunSlot(ctx context.Context, r sparkflow.Run, ch sparkflow.SlotChange) (sparkflow.Run, error) {
	s.note("UpdateRunSlot")
	return s.Store.UpdateRunSlot(ctx, r, ch)
}

// Reserve is a write when it takes a slot (one held already is confirmed without one; a slot an ended
// attempt left taken over for the next is a write this does not see).
func (s *storeWrites) Reserve(ctx context.Context, runID string, attempt int, c string) (string, error) {
	before, _ := s.Store.ListClusters(ctx, "")
	got, err := s.Store.Reserve(ctx, runID, attempt, c)
	if err == nil {
		held := false
		for _, cl := range before {
			held = held || cl.Holds(runID)
		}
		if !held {
			s.note("Reserve")
		}
	}
	return got, err
}
func (s *storeWrites) Release(ctx context.Context, runID string, attempt int, c string, at time.Time) error {
	s.note("Release")
	return s.Store.Release(ctx, runID, attempt, c, at)
}
func (s *storeWrites) Enqueue(ctx context.Context, w sparkflow.Waiter) error {
	s.note("Enqueue")
	return s.Store.Enqueue(ctx, w)
}
func (s *storeWrites) RemoveWaiter(ctx context.Context, pool, runID string) (bool, error) {
	won, err := s.Store.RemoveWaiter(ctx, pool, runID)
	if won {
		s.note("RemoveWaiter")
	}
	return won, err
}
func (s *storeWrites) UpdateCluster(ctx context.Context, c sparkflow.Cluster) (sparkflow.Cluster, error) {
	s.note("UpdateCluster")
	return s.Store.UpdateCluster(ctx, c)
}

// emrCalls plays EMR for the task logic: it adds steps (running nothing) and counts the calls.
type emrCalls struct {
	sparkflow.Clusters
	mu    sync.Mutex
	calls []string
	n     int
}

func (e *emrCalls) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.calls
	e.calls = nil
	return c
}

func (e *emrCalls) AddStep(ctx context.Context, clusterID string, step sparkflow.StepSpec) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, "AddJobFlowSteps")
	e.n++
	return fmt.Sprintf("s-%d", e.n), nil
}

func (e *emrCalls) ListSteps(ctx context.Context, clusterID string) ([]sparkflow.StepInfo, error) {
	e.mu.Lock()
	e.calls = append(e.calls, "ListSteps")
	e.mu.Unlock()
	return nil, nil
}

// TestTheWritesOfARunThatFindsAFreeSlot follows a run through the task logic, as its workflow and
// EMR's events drive it, and checks what each step writes: accepted with a free slot, its record and
// its slot are one write (on DynamoDB, one transaction of two items); its Reserve finds the grant and
// writes nothing; its Submit records its token and claim in one write and makes one EMR call; the
// step's PENDING event changes nothing, its RUNNING event is one write, its COMPLETED event ends the
// run and frees its slot in one write (two items on DynamoDB); the workflow's Finish writes nothing.
// Six DynamoDB write requests in all (counted on DynamoDB itself by the crosshome tests). No cluster
// record is written: EMR's moves of a ready cluster between RUNNING and WAITING are not recorded.
func TestTheWritesOfARunThatFindsAFreeSlot(t *testing.T) {
	e := openEngine(t, nil)
	readyPool(t, e, "p", 1)
	ctx := context.Background()
	if _, err := e.Service.CreateTransform(ctx, sparkflow.Transform{Name: "t", Pool: "p", Command: []string{"true"}, MaxAttempts: 2}); err != nil {
		t.Fatal(err)
	}
	store := &storeWrites{Store: e.Store}
	emr := &emrCalls{Clusters: e.Service.Clusters}
	calls := &resumes{Callbacks: e.Service.Callbacks, sent: map[string]string{}}
	svc := tasks.New(tasks.Service{Store: store, Clusters: emr, Callbacks: calls, Tiers: e.Service.Tiers, NamePrefix: e.Service.NamePrefix})
	step := func(what string, want string, fn func() error) {
		t.Helper()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := strings.Join(store.take(), " "); got != want {
			t.Errorf("%s wrote [%s], want [%s]", what, got, want)
		}
	}

	var r sparkflow.Run
	step("Accept", "CreateRunOn", func() (err error) {
		r, _, err = svc.Accept(ctx, sparkflow.RunRequest{ID: "0d6b7a1e-8f43-4c2a-9b5e-1f2a3b4c5d6e", Transform: "t"})
		return err
	})
	if r.ClusterID == "" || r.ReservedAt == nil {
		t.Fatalf("accepted with a free slot, the run holds none: %+v", r)
	}
	if ws, err := e.Store.Waiters(ctx, "p", 0); err != nil || len(ws) != 0 {
		t.Fatalf("a run granted at once took a FIFO place: %+v %v", ws, err)
	}
	cluster := r.ClusterID
	step("Reserve", "", func() error {
		return svc.Reserve(ctx, r.ID, "tok-reserve", sparkflow.Fence{Epoch: 1, Attempt: 1, Task: sparkflow.FenceReserve})
	})
	var grant tasks.Grant
	if err := json.Unmarshal([]byte(calls.sent["tok-reserve"]), &grant); err != nil || grant.ClusterID != cluster {
		t.Fatalf("Reserve resumed with %q, want its grant on %s", calls.sent["tok-reserve"], cluster)
	}
	step("Submit", "UpdateRun", func() error {
		return svc.Submit(ctx, r.ID, "tok-submit", sparkflow.Fence{Epoch: 1, Attempt: 1, Task: sparkflow.FenceSubmit})
	})
	if got := strings.Join(emr.take(), " "); got != "AddJobFlowSteps" {
		t.Errorf("Submit called EMR: [%s], want [AddJobFlowSteps]", got)
	}
	got, _ := e.Store.GetRun(ctx, r.ID)
	if got.Status != sparkflow.RunSubmitted || got.Token != "tok-submit" || got.StepState != sparkflow.StepPending {
		t.Fatalf("after Submit the run is %s, token %q, step %s; want SUBMITTED, its token, PENDING", got.Status, got.Token, got.StepState)
	}
	name := core.StepName(e.Service.NamePrefix, r.ID, 1, "t")
	event := func(state sparkflow.StepState) func() error {
		return func() error {
			return svc.HandleStepChange(ctx, emrevent.StepChange{ClusterID: cluster, StepID: "s-1", Name: name, State: state, Time: time.Now()})
		}
	}
	step("the PENDING event", "", event(sparkflow.StepPending))
	step("the RUNNING event", "UpdateRun", event(sparkflow.StepRunning))
	if got, _ = e.Store.GetRun(ctx, r.ID); got.Status != sparkflow.RunRunning || got.StepID != "s-1" || got.StartedAt == nil {
		t.Fatalf("after the RUNNING event: %s, step %q, started %v; want RUNNING, its step's id recorded", got.Status, got.StepID, got.StartedAt)
	}
	step("the COMPLETED event", "UpdateRunSlot", event(sparkflow.StepCompleted))
	got, _ = e.Store.GetRun(ctx, r.ID)
	if got.Status != sparkflow.RunSucceeded || got.EndedAt == nil {
		t.Fatalf("after the completed step's event the run is %s (ended %v), want SUCCEEDED", got.Status, got.EndedAt)
	}
	c, err := e.Store.GetCluster(ctx, cluster)
	if err != nil || c.Holds(r.ID) {
		t.Fatalf("the succeeded run still holds its slot: %+v %v", c.Reservations, err)
	}
	var o core.Outcome
	if err := json.Unmarshal([]byte(calls.sent["tok-submit"]), &o); err != nil || o.StepState != sparkflow.StepCompleted {
		t.Fatalf("the workflow was resumed with %q", calls.sent["tok-submit"])
	}
	var res any
	step("Finish", "", func() error {
		out, err := svc.FinishAttempt(ctx, r.ID, 1, o)
		res = out
		if err == nil && (out.Status != sparkflow.RunSucceeded || out.Retry) {
			err = fmt.Errorf("result %+v, want SUCCEEDED", out)
		}
		return err
	})
	_ = res
	if n := len(emr.take()); n != 0 {
		t.Errorf("the events and Finish made %d EMR calls, want none", n)
	}

	// A retried Submit of the attempt (its first try's response lost) arriving after the event ended
	// the run is resumed with the step's end, so that its workflow goes on to Finish.
	step("a retried Submit after the end", "", func() error {
		return svc.Submit(ctx, r.ID, "tok-retried-submit", sparkflow.Fence{Epoch: 1, Attempt: 1, Task: sparkflow.FenceSubmit, Retry: 1})
	})
	if err := json.Unmarshal([]byte(calls.sent["tok-retried-submit"]), &o); err != nil || o.StepState != sparkflow.StepCompleted {
		t.Fatalf("the retried Submit resumed %q; want the step's completion", calls.sent["tok-retried-submit"])
	}
	// A redelivery of the event changes nothing and resumes again (its first resume may be lost).
	delete(calls.sent, "tok-submit")
	step("a redelivered COMPLETED event", "", event(sparkflow.StepCompleted))
	if calls.sent["tok-submit"] == "" {
		t.Error("a redelivered end event did not resume the workflow again")
	}
}

// TestTheWritesOfARunThatWaits: a run accepted while its pool is full takes its FIFO place with its
// record; its Reserve records its token and the run WAITING in one write (its place is there: no
// write); the end of the run ahead frees the slot and its Dispatch grants the waiter, writing its
// grant with the slot taken; then as a run that found a slot.
func TestTheWritesOfARunThatWaits(t *testing.T) {
	e := openEngine(t, nil)
	readyPool(t, e, "p", 1)
	ctx := context.Background()
	if _, err := e.Service.CreateTransform(ctx, sparkflow.Transform{Name: "t", Pool: "p", Command: []string{"true"}, MaxAttempts: 2}); err != nil {
		t.Fatal(err)
	}
	fillSlots(t, e, "p")
	cs, _ := e.Store.ListClusters(ctx, "p")
	holder := cs[0].Reservations[0]
	store := &storeWrites{Store: e.Store}
	calls := &resumes{Callbacks: e.Service.Callbacks, sent: map[string]string{}}
	svc := tasks.New(tasks.Service{Store: store, Clusters: &emrCalls{Clusters: e.Service.Clusters}, Callbacks: calls, Tiers: e.Service.Tiers, NamePrefix: e.Service.NamePrefix})
	step := func(what string, want string, fn func() error) {
		t.Helper()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		got := store.take()
		sort.Strings(got)
		if strings.Join(got, " ") != want {
			t.Errorf("%s wrote [%s], want [%s]", what, strings.Join(got, " "), want)
		}
	}
	var r sparkflow.Run
	step("Accept", "CreateRun Enqueue", func() (err error) {
		r, _, err = svc.Accept(ctx, sparkflow.RunRequest{ID: "7a1c2e3f-4b5d-4e6f-8a9b-0c1d2e3f4a5b", Transform: "t"})
		return err
	})
	step("Reserve", "Enqueue UpdateRun", func() error {
		return svc.Reserve(ctx, r.ID, "tok-reserve", sparkflow.Fence{Epoch: 1, Attempt: 1, Task: sparkflow.FenceReserve})
	})
	if got, _ := e.Store.GetRun(ctx, r.ID); got.Status != sparkflow.RunWaiting || got.Token != "tok-reserve" {
		t.Fatalf("waiting, the run is %s with token %q", got.Status, got.Token)
	}
	if ws, _ := e.Store.Waiters(ctx, "p", 0); len(ws) != 1 || ws[0].RunID != r.ID {
		t.Fatalf("the FIFO holds %+v, want the waiting run", ws)
	}
	// The run ahead ends: its slot goes to the waiter.
	step("the grant, once the slot ahead is freed", "RemoveWaiter UpdateRunSlot", func() error {
		if err := store.Store.Release(ctx, holder, 0, cs[0].ID, time.Now()); err != nil {
			return err
		}
		if err := svc.Dispatch(ctx, "p"); err != nil {
			return err
		}
		svc.WaitBackground()
		return nil
	})
	var grant tasks.Grant
	if err := json.Unmarshal([]byte(calls.sent["tok-reserve"]), &grant); err != nil || grant.ClusterID != cs[0].ID {
		t.Fatalf("the waiter was resumed with %q, want its grant on %s", calls.sent["tok-reserve"], cs[0].ID)
	}
	if ws, _ := e.Store.Waiters(ctx, "p", 0); len(ws) != 0 {
		t.Fatalf("the granted run is still in the FIFO: %+v", ws)
	}
}

// stepsListed is emrCalls whose ListSteps lists the steps it added (named as added), and records the
// steps cancelled.
type stepsListed struct {
	emrCalls
	added     []sparkflow.StepInfo
	cancelled []string
}

func (e *stepsListed) AddStep(ctx context.Context, clusterID string, step sparkflow.StepSpec) (string, error) {
	id, _ := e.emrCalls.AddStep(ctx, clusterID, step)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.added = append([]sparkflow.StepInfo{{ID: id, Name: step.Name, State: sparkflow.StepRunning}}, e.added...)
	return id, nil
}

func (e *stepsListed) ListSteps(ctx context.Context, clusterID string) ([]sparkflow.StepInfo, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]sparkflow.StepInfo(nil), e.added...), nil
}

func (e *stepsListed) CancelStep(ctx context.Context, clusterID, stepID string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cancelled = append(e.cancelled, stepID)
	return nil
}

// A cancel that comes after Submit added the step and read the run, before the step's first event
// recorded its id, finds the step by its name and cancels it: nothing else would (Submit has looked
// already, and the events do not cancel).
func TestACancelBeforeTheStepsIDIsRecordedCancelsTheStep(t *testing.T) {
	e := openEngine(t, nil)
	readyPool(t, e, "p", 1)
	ctx := context.Background()
	if _, err := e.Service.CreateTransform(ctx, sparkflow.Transform{Name: "t", Pool: "p", Command: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	emr := &stepsListed{}
	calls := &resumes{Callbacks: e.Service.Callbacks, sent: map[string]string{}}
	svc := tasks.New(tasks.Service{Store: e.Store, Clusters: emr, Callbacks: calls, Tiers: e.Service.Tiers, NamePrefix: e.Service.NamePrefix})
	r, _, err := svc.Accept(ctx, sparkflow.RunRequest{ID: "5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e", Transform: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Reserve(ctx, r.ID, "tok-r", sparkflow.Fence{Attempt: 1, Task: sparkflow.FenceReserve}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Submit(ctx, r.ID, "tok-s", sparkflow.Fence{Attempt: 1, Task: sparkflow.FenceSubmit}); err != nil {
		t.Fatal(err)
	}
	if len(emr.added) != 1 || len(emr.cancelled) != 0 {
		t.Fatalf("Submit added %v and cancelled %v", emr.added, emr.cancelled)
	}
	got, err := svc.Cancel(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.CancelRequested || len(emr.cancelled) != 1 || emr.cancelled[0] != emr.added[0].ID {
		t.Fatalf("cancelled %v (run %+v), want the step Submit added, %s", emr.cancelled, got, emr.added[0].ID)
	}
}

// A step's RUNNING and COMPLETED handled together (they queued up together) are one write: the run
// ends SUCCEEDED, its slot freed, with its RUNNING transition and start time kept.
func TestAStepsQueuedEventsAreOneWrite(t *testing.T) {
	e := openEngine(t, nil)
	readyPool(t, e, "p", 1)
	ctx := context.Background()
	if _, err := e.Service.CreateTransform(ctx, sparkflow.Transform{Name: "t", Pool: "p", Command: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	store := &storeWrites{Store: e.Store}
	calls := &resumes{Callbacks: e.Service.Callbacks, sent: map[string]string{}}
	svc := tasks.New(tasks.Service{Store: store, Clusters: &emrCalls{Clusters: e.Service.Clusters}, Callbacks: calls, Tiers: e.Service.Tiers, NamePrefix: e.Service.NamePrefix})
	r, _, err := svc.Accept(ctx, sparkflow.RunRequest{ID: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", Transform: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Reserve(ctx, r.ID, "tok-r", sparkflow.Fence{Attempt: 1, Task: sparkflow.FenceReserve}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Submit(ctx, r.ID, "tok-s", sparkflow.Fence{Attempt: 1, Task: sparkflow.FenceSubmit}); err != nil {
		t.Fatal(err)
	}
	store.take()
	name := core.StepName(e.Service.NamePrefix, r.ID, 1, "t")
	started := time.Now().UTC().Add(-time.Second).Truncate(time.Second)
	chs := []emrevent.StepChange{
		{ClusterID: r.ClusterID, StepID: "s-1", Name: name, State: sparkflow.StepRunning, Time: started},
		{ClusterID: r.ClusterID, StepID: "s-1", Name: name, State: sparkflow.StepCompleted, Time: time.Now()},
	}
	if err := svc.HandleStepChanges(ctx, chs); err != nil {
		t.Fatal(err)
	}
	if w := store.take(); strings.Join(w, " ") != "UpdateRunSlot" {
		t.Fatalf("the two events wrote %v, want one UpdateRunSlot", w)
	}
	got, _ := e.Store.GetRun(ctx, r.ID)
	ran := false
	for _, tr := range got.History {
		ran = ran || tr.Status == sparkflow.RunRunning
	}
	if got.Status != sparkflow.RunSucceeded || !ran || got.StartedAt == nil || got.StartedAt.Before(*got.ReservedAt) || got.StartedAt.After(*got.EndedAt) || got.StepID != "s-1" {
		t.Fatalf("after both: %s, ran %v, started %v (reserved %v, ended %v), step %q", got.Status, ran, got.StartedAt, got.ReservedAt, got.EndedAt, got.StepID)
	}
	if c, _ := e.Store.GetCluster(ctx, r.ClusterID); c.Holds(r.ID) {
		t.Fatal("the run still holds its slot")
	}
	if calls.sent["tok-s"] == "" {
		t.Fatal("the workflow was not resumed")
	}
}
