package core

import (
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func TestSlotTime(t *testing.T) {
	at := func(s int) *time.Time { v := t0.Add(time.Duration(s) * time.Second); return &v }
	run := func(status sparkflow.RunStatus, reserved, ended *time.Time) sparkflow.Run {
		return sparkflow.Run{Status: status, ReservedAt: reserved, EndedAt: ended}
	}
	runs := []sparkflow.Run{
		run(sparkflow.RunSucceeded, at(0), at(600)),
		run(sparkflow.RunFailed, at(100), at(400)),
		run(sparkflow.RunRunning, at(0), nil),          // not ended
		run(sparkflow.RunCancelled, nil, at(50)),       // never held a slot
		run(sparkflow.RunSucceeded, at(500), at(400)),  // clock skew: left out
		run(sparkflow.RunTimedOut, at(1000), at(1900)), // 900 s
	}
	took, n := SlotTime(runs)
	if n != 3 || took != 600*time.Second {
		t.Fatalf("SlotTime = %s over %d runs, want 10m0s over 3 (600, 300 and 900 s)", took, n)
	}
	if took, n := SlotTime(nil); took != 0 || n != 0 {
		t.Fatalf("SlotTime of no runs = %s, %d", took, n)
	}
	// Only the newest SlotSamples count.
	var many []sparkflow.Run
	for i := 0; i < SlotSamples; i++ {
		many = append(many, run(sparkflow.RunSucceeded, at(10000+i), at(10060+i))) // 60 s, newer
	}
	many = append(many, run(sparkflow.RunSucceeded, at(0), at(6000))) // old and long
	if took, n := SlotTime(many); n != SlotSamples || took != time.Minute {
		t.Fatalf("SlotTime of %d runs = %s over %d, want 1m0s over the newest %d", len(many), took, n, SlotSamples)
	}
	p := sparkflow.Pool{SlotSeconds: 600}
	for _, tc := range []struct {
		measured time.Duration
		want     bool
	}{{0, false}, {600 * time.Second, false}, {650 * time.Second, false}, {661 * time.Second, true}, {539 * time.Second, true}} {
		if got := SlotTimeChanged(p, tc.measured); got != tc.want {
			t.Errorf("SlotTimeChanged(600 s, %s) = %v, want %v", tc.measured, got, tc.want)
		}
	}
	if !SlotTimeChanged(sparkflow.Pool{}, time.Second) {
		t.Error("a pool with no slot time yet takes the first measure")
	}
}

// TestSoonFreed: the waiting runs held slots take within a start-up: held × start-up / slot time.
func TestSoonFreed(t *testing.T) {
	ready := func(id string, held ...string) sparkflow.Cluster {
		c := cl(id, sparkflow.ClusterWaiting, 4, held...)
		c.CreatedAt = t0
		r := t0.Add(7 * time.Minute) // started in 7 minutes
		c.ReadyAt = &r
		return c
	}
	busy := []sparkflow.Cluster{ready("a", "1", "2", "3", "4"), ready("b", "5", "6", "7", "8"), ready("c", "9", "10", "11", "12")}
	p := sparkflow.Pool{SlotSeconds: 600}
	// 12 slots held, each freed in 10 minutes on average: 12 × 7 / 10 = 8.4 within a start-up.
	if n := SoonFreed(p, busy); n != 8 {
		t.Fatalf("SoonFreed = %d, want 8", n)
	}
	if n := SoonFreed(sparkflow.Pool{}, busy); n != 0 {
		t.Fatalf("SoonFreed with no slot time measured = %d, want 0", n)
	}
	unstarted := []sparkflow.Cluster{cl("a", sparkflow.ClusterWaiting, 4, "1")}
	if n := SoonFreed(p, unstarted); n != 0 {
		t.Fatalf("SoonFreed with no start-up measured = %d, want 0", n)
	}
	// In the plan: 12 waiting beyond the free slots, 8 served by slots freed before a new cluster
	// is ready: one cluster (4 slots) for the other 4, not three.
	min := 0
	elastic := sparkflow.Pool{Clusters: 6, MinClusters: &min, StepConcurrency: 4, IdleTimeoutSeconds: 600, Status: sparkflow.PoolReady, SlotSeconds: 600}
	if plan := PlanPool(elastic, busy, 12, t0.Add(time.Hour)); plan.Launch != 1 {
		t.Fatalf("12 waiting, 8 soon served: launch %d, want 1", plan.Launch)
	}
	elastic.SlotSeconds = 0
	if plan := PlanPool(elastic, busy, 12, t0.Add(time.Hour)); plan.Launch != 3 {
		t.Fatalf("12 waiting, slot time unknown: launch %d, want 3", plan.Launch)
	}
}
