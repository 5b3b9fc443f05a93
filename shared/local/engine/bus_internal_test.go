package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// The backlog counts the events queued behind the one being handled, and dates the oldest.
func TestBusBacklog(t *testing.T) {
	b := newBus(nil, slog.New(slog.DiscardHandler))
	release := make(chan struct{})
	handling := make(chan struct{}, 10)
	b.start(context.Background(), func(context.Context, []byte) error {
		handling <- struct{}{}
		<-release
		return nil
	})
	defer b.close()
	if n, oldest := b.backlog(); n != 0 || !oldest.IsZero() {
		t.Fatalf("an idle bus has a backlog of %d since %v", n, oldest)
	}
	before := time.Now()
	// One step's events share a lane: the first is handled, the other four wait behind it.
	for i := 0; i < 5; i++ {
		b.publish([]byte(fmt.Sprintf(`{"source":"aws.emr","detail-type":"EMR Step Status Change","detail":{"stepId":"s-1","clusterId":"j-1","state":"RUNNING","n":%d}}`, i)))
	}
	<-handling
	n, oldest := b.backlog()
	if n != 4 || oldest.Before(before) || time.Since(oldest) > time.Second {
		t.Fatalf("backlog %d since %v, want 4 since just now", n, oldest)
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if n, _ := b.backlog(); n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the backlog never emptied")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A cluster's events are handled in order on a lane of their own, and its moves to RUNNING and
// WAITING that queue up unhandled behind one another leave only the last: a busy cluster's flapping
// neither grows the queue nor holds up a step's events, and no other event of it is dropped.
func TestBusClusterEvents(t *testing.T) {
	b := newBus(nil, slog.New(slog.DiscardHandler))
	release := make(chan struct{})
	var mu sync.Mutex
	var handled []string
	b.start(context.Background(), func(_ context.Context, ev []byte) error {
		var e struct {
			Detail struct{ ClusterID, StepID, State string }
		}
		if err := json.Unmarshal(ev, &e); err != nil {
			return err
		}
		mu.Lock()
		handled = append(handled, e.Detail.ClusterID+"/"+e.Detail.StepID+"/"+e.Detail.State)
		first := len(handled) == 1
		mu.Unlock()
		if first {
			<-release // the cluster's lane is busy with its first event
		}
		return nil
	})
	defer b.close()
	cluster := func(state string) {
		b.publish([]byte(fmt.Sprintf(`{"source":"aws.emr","detail-type":"EMR Cluster State Change","detail":{"clusterId":"j-1","state":%q}}`, state)))
	}
	cluster("RUNNING")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		n := len(handled)
		mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first event was not handled")
		}
	}
	for _, s := range []string{"WAITING", "RUNNING", "WAITING", "TERMINATING", "RUNNING", "WAITING", "TERMINATED"} {
		cluster(s)
	}
	// A step's event goes by while the cluster's lane waits.
	b.publish([]byte(`{"source":"aws.emr","detail-type":"EMR Step Status Change","detail":{"stepId":"s-1","clusterId":"j-1","state":"COMPLETED"}}`))
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		n := len(handled)
		mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the step's event waited behind the cluster's")
		}
	}
	close(release)
	want := []string{"j-1//RUNNING", "j-1/s-1/COMPLETED", "j-1//WAITING", "j-1//TERMINATING", "j-1//WAITING", "j-1//TERMINATED"}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		got := append([]string(nil), handled...)
		mu.Unlock()
		if len(got) >= len(want) {
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("handled %v, want %v", got, want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("handled %v, want %v", got, want)
		}
	}
}

// A step's events that queued up while an earlier one of its lane was handled are handed over
// together, in their order, and the other steps' events keep theirs.
func TestBusGroupsAStepsQueuedEvents(t *testing.T) {
	b := newBus(nil, slog.New(slog.DiscardHandler))
	release := make(chan struct{})
	var mu sync.Mutex
	var handled [][]string
	state := func(ev []byte) string {
		var e struct {
			Detail struct{ StepID, State string }
		}
		json.Unmarshal(ev, &e)
		return e.Detail.StepID + ":" + e.Detail.State
	}
	started := make(chan struct{}, 1)
	b.handleGroup = func(_ context.Context, evs [][]byte) error {
		var g []string
		for _, ev := range evs {
			g = append(g, state(ev))
		}
		mu.Lock()
		handled = append(handled, g)
		mu.Unlock()
		return nil
	}
	b.start(context.Background(), func(_ context.Context, ev []byte) error {
		select {
		case started <- struct{}{}:
			<-release // the first event holds its lane while the others queue
		default:
		}
		mu.Lock()
		handled = append(handled, []string{state(ev)})
		mu.Unlock()
		return nil
	})
	defer b.close()
	// Steps whose ids share the first's lane.
	lane := b.laneOf("s-0", false)
	var same []string
	for i := 1; len(same) < 2; i++ {
		if id := fmt.Sprintf("s-%d", i); b.laneOf(id, false) == lane {
			same = append(same, id)
		}
	}
	ev := func(step, st string) []byte {
		return []byte(fmt.Sprintf(`{"source":"aws.emr","detail-type":"EMR Step Status Change","detail":{"stepId":%q,"clusterId":"j-1","state":%q}}`, step, st))
	}
	b.publish(ev("s-0", "RUNNING"))
	<-started
	b.publish(ev(same[0], "RUNNING"))
	b.publish(ev(same[1], "RUNNING"))
	b.publish(ev(same[0], "COMPLETED"))
	b.publish(ev(same[1], "FAILED"))
	b.publish(ev("s-0", "COMPLETED"))
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(handled)
		mu.Unlock()
		if n == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("handled %v", handled)
		}
		time.Sleep(5 * time.Millisecond)
	}
	want := fmt.Sprint([][]string{{"s-0:RUNNING"}, {same[0] + ":RUNNING", same[0] + ":COMPLETED"}, {same[1] + ":RUNNING", same[1] + ":FAILED"}, {"s-0:COMPLETED"}})
	if got := fmt.Sprint(handled); got != want {
		t.Fatalf("handled %s, want %s", got, want)
	}
}
