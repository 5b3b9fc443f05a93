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
		{sparkflow.ClusterWaiting, sparkflow.ClusterRunning, true},
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
	}
	steps := []sparkflow.StepInfo{
		{ID: "s-1", State: sparkflow.StepCompleted}, // ahead: repaired
		{ID: "s-2", State: sparkflow.StepRunning},   // behind the record: left
		{ID: "s-3", State: sparkflow.StepPending},   // equal: left
	}
	got := StepDrifts(runs, steps)
	if len(got) != 1 || got[0].ID != "s-1" {
		t.Fatalf("drifts %+v, want s-1 only", got)
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
