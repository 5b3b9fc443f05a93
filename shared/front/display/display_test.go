package display

import (
	"strings"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func TestFormats(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{845 * time.Millisecond, "845ms"},
		{1234567 * time.Microsecond, "1.2s"},
		{90*time.Second + 400*time.Millisecond, "1m30s"},
	} {
		if got := Duration(c.d); got != c.want {
			t.Errorf("Duration(%v) = %q, want %q", c.d, got, c.want)
		}
	}
	if got := Truncate("héllo wörld", 6); got != "héllo…" {
		t.Errorf("Truncate cut %q", got)
	}
	if got := Truncate("short", 6); got != "short" {
		t.Errorf("Truncate changed %q", got)
	}
	now := time.Date(2026, 11, 24, 12, 0, 10, 0, time.UTC)
	start := now.Add(-3 * time.Second)
	if got := RunTime(now, sparkflow.Run{StartedAt: &start}); got != "3s" {
		t.Errorf("RunTime of a running run = %q", got)
	}
	if got := RunTime(now, sparkflow.Run{}); got != "-" {
		t.Errorf("RunTime before start = %q", got)
	}
	if got := Ago(now, time.Time{}); got != "-" {
		t.Errorf("Ago of no time = %q", got)
	}
	if got := KV(map[string]string{"b": "2", "a": "1"}); got != "a=1\nb=2\n" {
		t.Errorf("KV = %q", got)
	}
	if got := ShortID("6f1c2b8e-3d4a-4b5c"); got != "6f1c2b8e" {
		t.Errorf("ShortID = %q", got)
	}
}

func TestStepStateOfAnEndedRunIsLastSeen(t *testing.T) {
	for _, c := range []struct {
		run  sparkflow.Run
		want string
	}{
		{sparkflow.Run{Status: sparkflow.RunTimedOut, StepState: sparkflow.StepCancelPending}, "CANCEL_PENDING (last seen)"},
		{sparkflow.Run{Status: sparkflow.RunTimedOut, StepState: sparkflow.StepRunning}, "RUNNING (last seen)"},
		{sparkflow.Run{Status: sparkflow.RunRunning, StepState: sparkflow.StepRunning}, "RUNNING"},
		{sparkflow.Run{Status: sparkflow.RunCancelled, StepState: sparkflow.StepCancelled}, "CANCELLED"},
		{sparkflow.Run{Status: sparkflow.RunWaiting}, "-"},
	} {
		if got := StepState(c.run); got != c.want {
			t.Errorf("%s with step %q: %q, want %q", c.run.Status, c.run.StepState, got, c.want)
		}
	}
}

func TestDrainSaysWhenEMREndsTheCluster(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	c := sparkflow.Cluster{State: sparkflow.ClusterWaiting, IdleTimeoutSeconds: 600, StateTime: t0, Reservations: []string{}}
	if got := Drain(t0.Add(500*time.Second), c); got != "" {
		t.Fatalf("far from its idle end: %q", got)
	}
	if got, want := Drain(t0.Add(570*time.Second), c), "draining: takes no new run; EMR ends it idle in 30s"; got != want {
		t.Fatalf("30 s before its idle end: %q, want %q", got, want)
	}
	if got := Drain(t0.Add(700*time.Second), c); !strings.Contains(got, "its idle timeout has passed") {
		t.Fatalf("past its idle end: %q", got)
	}
}
