package main

import (
	"strings"
	"testing"
	"time"
)

// Schedules through the CLI: --schedule with --timezone on create, transform show with the next five
// firings in the zone, pause and resume, a bad expression or zone refused with exit 2 and the flag
// named, and --schedule ” removing it.
func TestScheduleCLI(t *testing.T) {
	addr := freeAddr(t)
	startLocal(t, t.TempDir(), addr)
	for _, args := range [][]string{
		{"pool", "create", "etl", "--tier", "tiny", "--clusters", "1", "--step-concurrency", "2", "--wait"},
		{"transform", "create", "nightly", "--pool", "etl", "--command", "echo ${day}", "--param", "day=", "--schedule", "cron(0 2 * * ? *)", "--timezone", "Asia/Tokyo"},
	} {
		if r := cli(t, addr, args...); r.code != 0 {
			t.Fatalf("%v: %+v", args, r)
		}
	}
	show := cli(t, addr, "transform", "show", "nightly")
	if !strings.Contains(show.stdout, "cron(0 2 * * ? *) in Asia/Tokyo") || !strings.Contains(show.stdout, "Catch-up:") {
		t.Fatalf("transform show: %+v", show)
	}
	// Five firings, each at 02:00 Tokyo time (17:00 UTC), on consecutive days.
	var firings []string
	for _, line := range strings.Split(show.stdout, "\n") {
		if strings.Contains(line, "02:00 JST") {
			firings = append(firings, line)
		}
	}
	if len(firings) != 5 || !strings.Contains(firings[0], "Next firings:") || !strings.Contains(firings[0], "(17:00 UTC)") {
		t.Fatalf("next firings: %q\n%s", firings, show.stdout)
	}
	first, err := time.Parse("2006-01-02", strings.Fields(strings.TrimPrefix(strings.TrimSpace(firings[0]), "Next firings:"))[0])
	if err != nil {
		t.Fatal(err)
	}
	if d := strings.Fields(strings.TrimSpace(firings[4]))[0]; d != first.AddDate(0, 0, 4).Format("2006-01-02") {
		t.Fatalf("the fifth firing is on %s, want four days after %s", d, first.Format("2006-01-02"))
	}
	if r := cli(t, addr, "transform", "pause", "nightly"); r.code != 0 || !strings.Contains(r.stdout, "PAUSED") || strings.Contains(r.stdout, "Next firings:") {
		t.Fatalf("pause: %+v", r)
	}
	if r := cli(t, addr, "transform", "resume", "nightly"); r.code != 0 || strings.Contains(r.stdout, "PAUSED") || !strings.Contains(r.stdout, "Next firings:") {
		t.Fatalf("resume: %+v", r)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"transform", "edit", "nightly", "--schedule", "cron(0 2 * * *)"}, "--schedule"},
		{[]string{"transform", "edit", "nightly", "--timezone", "Mars/Olympus"}, "--timezone"},
		{[]string{"transform", "edit", "nightly", "--catch-up", "some"}, "--catch-up"},
	} {
		if r := cli(t, addr, c.args...); r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Fatalf("%v: %+v", c.args, r)
		}
	}
	if r := cli(t, addr, "transform", "edit", "nightly", "--schedule", ""); r.code != 0 || strings.Contains(r.stdout, "Schedule:") {
		t.Fatalf("removing the schedule: %+v", r)
	}
	if r := cli(t, addr, "transform", "pause", "nightly"); r.code != 2 || !strings.Contains(r.stderr, "no schedule") {
		t.Fatalf("pause without a schedule: %+v", r)
	}
}
