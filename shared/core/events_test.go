package core

import (
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/emrevent"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func TestApplyCluster(t *testing.T) {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	ev := func(state sparkflow.ClusterState, s int) emrevent.ClusterChange {
		return emrevent.ClusterChange{ClusterID: "j-1", State: state, Time: at(s), Reason: sparkflow.StateReason{Code: "X"}}
	}
	base := sparkflow.Cluster{ID: "j-1", State: sparkflow.ClusterStarting, StateTime: at(0)}
	ready, eff := ApplyCluster(base, ev(sparkflow.ClusterWaiting, 10))
	if !eff.Changed || !eff.BecameReady || ready.ReadyAt == nil || !ready.ReadyAt.Equal(at(10)) {
		t.Fatalf("STARTING→WAITING: %+v %+v", ready, eff)
	}
	tests := []struct {
		name  string
		from  sparkflow.Cluster
		event emrevent.ClusterChange
		want  sparkflow.ClusterState
		eff   ClusterEffect
	}{
		{"duplicate", ready, ev(sparkflow.ClusterWaiting, 10), sparkflow.ClusterWaiting, ClusterEffect{}},
		{"stale lower rank", ready, ev(sparkflow.ClusterStarting, 5), sparkflow.ClusterWaiting, ClusterEffect{}},
		{"a ready cluster's move to RUNNING is not recorded", ready, ev(sparkflow.ClusterRunning, 20), sparkflow.ClusterWaiting, ClusterEffect{}},
		{"older same-rank event ignored", ready, ev(sparkflow.ClusterRunning, 9), sparkflow.ClusterWaiting, ClusterEffect{}},
		{"lost", ready, ev(sparkflow.ClusterTerminatedWithErrors, 30), sparkflow.ClusterTerminatedWithErrors, ClusterEffect{Changed: true, Ended: true}},
		{"terminating then terminated ends once", sparkflow.Cluster{State: sparkflow.ClusterTerminating, StateTime: at(1)}, ev(sparkflow.ClusterTerminated, 2), sparkflow.ClusterTerminated, ClusterEffect{Changed: true}},
		{"terminal is final", sparkflow.Cluster{State: sparkflow.ClusterTerminated, StateTime: at(50)}, ev(sparkflow.ClusterWaiting, 60), sparkflow.ClusterTerminated, ClusterEffect{}},
		{"terminal is final even for the other terminal", sparkflow.Cluster{State: sparkflow.ClusterTerminated}, ev(sparkflow.ClusterTerminatedWithErrors, 60), sparkflow.ClusterTerminated, ClusterEffect{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, eff := ApplyCluster(tc.from, tc.event)
			if got.State != tc.want || eff != tc.eff {
				t.Fatalf("got %s %+v, want %s %+v", got.State, eff, tc.want, tc.eff)
			}
			if got.State.Terminal() && eff.Changed && got.EndedAt == nil {
				t.Fatal("terminal without EndedAt")
			}
		})
	}
}

func TestApplyStep(t *testing.T) {
	submitted := sparkflow.Run{ID: "r", Attempt: 2, Status: sparkflow.RunSubmitted, StepID: "s-2", StepState: sparkflow.StepPending, ClusterID: "j-1"}
	step := func(id string, state sparkflow.StepState) emrevent.StepChange {
		return emrevent.StepChange{ClusterID: "j-1", StepID: id, State: state, Message: "boom", Time: t0}
	}
	tests := []struct {
		name       string
		run        sparkflow.Run
		event      emrevent.StepChange
		attempt    int
		wantStatus sparkflow.RunStatus
		wantStep   sparkflow.StepState
		eff        StepEffect
	}{
		{"running", submitted, step("s-2", sparkflow.StepRunning), 2, sparkflow.RunRunning, sparkflow.StepRunning, StepEffect{Changed: true}},
		{"completed", submitted, step("s-2", sparkflow.StepCompleted), 2, sparkflow.RunSubmitted, sparkflow.StepCompleted, StepEffect{Changed: true, Ended: true}},
		{"failed ends the attempt", submitted, step("s-2", sparkflow.StepFailed), 2, sparkflow.RunSubmitted, sparkflow.StepFailed, StepEffect{Changed: true, Ended: true}},
		{"older attempt ignored", submitted, step("s-1", sparkflow.StepFailed), 1, sparkflow.RunSubmitted, sparkflow.StepPending, StepEffect{}},
		{"other step ignored", submitted, step("s-9", sparkflow.StepFailed), 2, sparkflow.RunSubmitted, sparkflow.StepPending, StepEffect{}},
		{"duplicate ignored", submitted, step("s-2", sparkflow.StepPending), 2, sparkflow.RunSubmitted, sparkflow.StepPending, StepEffect{}},
		{"stale after end ignored", sparkflow.Run{ID: "r", Attempt: 1, Status: sparkflow.RunRunning, StepID: "s", StepState: sparkflow.StepCompleted, StartedAt: &t0}, step("s", sparkflow.StepRunning), 1, sparkflow.RunRunning, sparkflow.StepCompleted, StepEffect{}},
		{"a late RUNNING only fills in a missing start", sparkflow.Run{ID: "r", Attempt: 1, Status: sparkflow.RunSubmitted, StepID: "s", StepState: sparkflow.StepCompleted}, step("s", sparkflow.StepRunning), 1, sparkflow.RunSubmitted, sparkflow.StepCompleted, StepEffect{Changed: true}},
		{"ended run ignored", sparkflow.Run{ID: "r", Attempt: 1, Status: sparkflow.RunSucceeded, StepID: "s"}, step("s", sparkflow.StepFailed), 1, sparkflow.RunSucceeded, "", StepEffect{}},
		{"event before submit recorded the step", sparkflow.Run{ID: "r", Attempt: 1, Status: sparkflow.RunWaiting, ClusterID: "j-1"}, step("s-new", sparkflow.StepRunning), 1, sparkflow.RunRunning, sparkflow.StepRunning, StepEffect{Changed: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, eff := ApplyStep(tc.run, tc.event, tc.attempt, t0)
			if got.Status != tc.wantStatus || got.StepState != tc.wantStep || eff != tc.eff {
				t.Fatalf("got %s/%s %+v, want %s/%s %+v", got.Status, got.StepState, eff, tc.wantStatus, tc.wantStep, tc.eff)
			}
		})
	}
}

// Submit records the run SUBMITTED before it adds the step, without its id: the step's first event
// records the id, on the run and on the attempt's SUBMITTED transition (where a later attempt's look
// for the step of this one finds it), leaving the history it was given as it was.
func TestApplyStepNamesTheStepSubmitAdded(t *testing.T) {
	r := sparkflow.Run{ID: "r", Attempt: 1, Status: sparkflow.RunWaiting, ClusterID: "j-1", History: []sparkflow.Transition{}}
	r.SetStatus(sparkflow.RunSubmitted, t0, "submitting its step to j-1")
	r.StepState = sparkflow.StepPending
	given := r.History
	got, eff := ApplyStep(r, emrevent.StepChange{ClusterID: "j-1", StepID: "s-7", State: sparkflow.StepPending, Time: t0}, 1, t0)
	if eff.Changed || got.StepID != "" {
		t.Fatalf("a PENDING event after Submit changed the run: %+v, step %q", eff, got.StepID)
	}
	got, eff = ApplyStep(r, emrevent.StepChange{ClusterID: "j-1", StepID: "s-7", State: sparkflow.StepRunning, Time: t0}, 1, t0)
	if !eff.Changed || got.StepID != "s-7" || got.Status != sparkflow.RunRunning {
		t.Fatalf("after RUNNING: %+v, step %q, %s", eff, got.StepID, got.Status)
	}
	if step, cluster := got.AttemptStep(1); step != "s-7" || cluster != "j-1" {
		t.Fatalf("the attempt's step is %q on %q", step, cluster)
	}
	got.Attempt = 2 // gone on: its first attempt's step is found in its history
	if step, _ := got.AttemptStep(1); step != "s-7" {
		t.Fatalf("after the run went on, attempt 1's step is %q, want s-7", step)
	}
	if given[len(given)-1].Step != "" {
		t.Fatal("ApplyStep wrote into the history it was given")
	}
	// A terminal event as the first: named as well.
	got, _ = ApplyStep(r, emrevent.StepChange{ClusterID: "j-1", StepID: "s-8", State: sparkflow.StepFailed, Time: t0}, 1, t0)
	got.Attempt = 2
	if step, _ := got.AttemptStep(1); step != "s-8" {
		t.Fatalf("named by a FAILED event, attempt 1's step is %q, want s-8", step)
	}
}
