package core

import (
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func TestDrainingClustersTakeNoNewRun(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	at := func(s int) *time.Time { v := t0.Add(time.Duration(s) * time.Second); return &v }
	idle := func(id string, timeout int, waitingSince int, freed *time.Time, held ...string) sparkflow.Cluster {
		c := cl(id, sparkflow.ClusterWaiting, 2, held...)
		c.IdleTimeoutSeconds, c.StateTime, c.ReadyAt, c.FreedAt = timeout, *at(waitingSince), at(0), freed
		return c
	}
	for _, tc := range []struct {
		name     string
		c        sparkflow.Cluster
		now      int
		draining bool
	}{
		{"idle, far from its end", idle("a", 600, 0, nil), 500, false},
		{"idle, within the last minute of 10", idle("a", 600, 0, nil), 540, true},
		{"idle past its end (EMR is ending it)", idle("a", 600, 0, nil), 700, true},
		{"a slot freed since it went WAITING restarts the clock", idle("a", 600, 0, at(300)), 839, false},
		{"and it drains a minute before the end counted from then", idle("a", 600, 0, at(300)), 840, true},
		{"a later move to WAITING restarts it too", idle("a", 600, 400, at(300)), 900, false},
		{"a short timeout drains for a quarter of it", idle("a", 60, 0, nil), 44, false},
		{"a short timeout drains for a quarter of it, at 45 s", idle("a", 60, 0, nil), 45, true},
		{"a held slot: busy, not draining", idle("a", 600, 0, nil, "r1"), 900, false},
		{"no idle timeout (kept, or a pool without one)", idle("a", 0, 0, nil), 100000, false},
	} {
		if got := Draining(tc.c, t0.Add(time.Duration(tc.now)*time.Second)); got != tc.draining {
			t.Errorf("%s: Draining at %ds = %v, want %v", tc.name, tc.now, got, tc.draining)
		}
	}
	// Busy or idle is told by the slots, not by EMR's RUNNING and WAITING (not recorded): a cluster
	// whose record says RUNNING (a record of an older version) and that holds no slot is idle since
	// its last freed slot, and drains. (Should EMR still run a step whose slot was freed early, the
	// drain comes early: the safe side.)
	running := idle("b", 600, 0, at(100))
	running.State = sparkflow.ClusterRunning
	if Draining(running, t0.Add(639*time.Second)) || !Draining(running, t0.Add(640*time.Second)) {
		t.Error("a cluster recorded RUNNING that holds no slot does not drain from its last freed slot")
	}

	// ChooseCluster and FreeSlots pass a draining cluster by, even the least loaded one.
	now := t0.Add(590 * time.Second)
	draining, busy := idle("drain", 600, 0, nil), idle("busy", 0, 0, nil, "r1")
	busy.State = sparkflow.ClusterRunning
	got, ok := ChooseCluster([]sparkflow.Cluster{draining, busy}, "run", now)
	if !ok || got.ID != "busy" {
		t.Fatalf("ChooseCluster chose %q (ok %v), want the busy cluster over the draining one", got.ID, ok)
	}
	if n := FreeSlots([]sparkflow.Cluster{draining, busy}, now); n != 1 {
		t.Fatalf("FreeSlots counts %d, want 1 (the draining cluster's 2 slots are not free)", n)
	}
	if _, ok := ChooseCluster([]sparkflow.Cluster{draining}, "run", now); ok {
		t.Fatal("ChooseCluster chose a draining cluster")
	}
	if _, ok := ChooseCluster([]sparkflow.Cluster{draining}, "run", t0.Add(500*time.Second)); !ok {
		t.Fatal("ChooseCluster passed by an idle cluster far from its end")
	}
}
