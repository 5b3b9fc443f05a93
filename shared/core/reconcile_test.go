package core

import (
	"testing"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func TestReconcileOrder(t *testing.T) {
	clusters := []sparkflow.Cluster{
		cl("j-idle", sparkflow.ClusterWaiting, 2),
		cl("j-gone", sparkflow.ClusterTerminated, 2),
		cl("j-busy", sparkflow.ClusterRunning, 2),
		cl("j-one", sparkflow.ClusterRunning, 2),
	}
	runs := []sparkflow.Run{
		{ID: "a", ClusterID: "j-busy", Status: sparkflow.RunRunning},
		{ID: "b", ClusterID: "j-busy", Status: sparkflow.RunSubmitted},
		{ID: "c", ClusterID: "j-one", Status: sparkflow.RunRunning},
		{ID: "d", ClusterID: "j-idle", Status: sparkflow.RunWaiting}, // holds a slot, no step yet
		{ID: "e", ClusterID: "j-gone", Status: sparkflow.RunRunning},
	}
	order, byCluster := ReconcileOrder(clusters, runs)
	var ids []string
	for _, c := range order {
		ids = append(ids, c.ID)
	}
	if got := join(ids); got != "j-busy j-one j-idle" {
		t.Fatalf("order %s, want the busiest first and no terminated cluster", got)
	}
	if len(byCluster["j-busy"]) != 2 || len(byCluster["j-idle"]) != 0 {
		t.Fatalf("runs by cluster %v", byCluster)
	}
}

func TestDrifts(t *testing.T) {
	for _, c := range []struct {
		record, emr sparkflow.ClusterState
		drifted     bool
	}{
		{sparkflow.ClusterStarting, sparkflow.ClusterWaiting, true},
		{sparkflow.ClusterWaiting, sparkflow.ClusterRunning, false}, // ready either way: not recorded
		{sparkflow.ClusterRunning, sparkflow.ClusterTerminated, true},
		{sparkflow.ClusterWaiting, sparkflow.ClusterWaiting, false},
		{sparkflow.ClusterTerminating, sparkflow.ClusterRunning, false},
	} {
		if got := ClusterDrifted(cl("j", c.record, 1), sparkflow.ClusterInfo{State: c.emr}); got != c.drifted {
			t.Errorf("record %s, EMR %s: drifted %v", c.record, c.emr, got)
		}
	}
	runs := []sparkflow.Run{
		{ID: "a", StepID: "s-1", StepState: sparkflow.StepRunning},
		{ID: "b", StepID: "s-2", StepState: sparkflow.StepCompleted},
		{ID: "c", StepID: "s-3", StepState: sparkflow.StepPending},
		{ID: "d", StepID: "s-4", StepState: sparkflow.StepRunning},
		// Steps whose ids are not recorded yet (their first event records them): found by name.
		{ID: "e", Attempt: 2, StepState: sparkflow.StepPending},
		{ID: "f", Attempt: 2, StepState: sparkflow.StepPending},
	}
	steps := []sparkflow.StepInfo{
		{ID: "s-1", State: sparkflow.StepCompleted},                                  // ahead: repaired
		{ID: "s-2", State: sparkflow.StepRunning},                                    // behind the record: left
		{ID: "s-3", State: sparkflow.StepPending},                                    // equal: left
		{ID: "s-5", Name: StepName("sf", "e", 2, "t"), State: sparkflow.StepRunning}, // e's, by name: repaired
		{ID: "s-6", Name: StepName("sf", "f", 1, "t"), State: sparkflow.StepFailed},  // f's earlier attempt: left
		{ID: "s-7", Name: StepName("other", "f", 2, "t"), State: sparkflow.StepFailed},
	}
	got := StepDrifts("sf", runs, steps)
	if len(got) != 2 || got[0].ID != "s-1" || got[1].ID != "s-5" {
		t.Fatalf("drifts %+v, want s-1 and s-5", got)
	}
}

func join(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += " "
		}
		out += v
	}
	return out
}
