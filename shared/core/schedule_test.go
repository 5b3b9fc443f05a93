package core

import (
	"strings"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func mustSchedule(t *testing.T, expr, tz string) Schedule {
	t.Helper()
	s, err := ParseSchedule(expr, tz)
	if err != nil {
		t.Fatalf("ParseSchedule(%q, %q): %v", expr, tz, err)
	}
	return s
}

func stamps(ts []time.Time, loc *time.Location) string {
	var out []string
	for _, t := range ts {
		out = append(out, t.In(loc).Format("2006-01-02 15:04 Mon"))
	}
	return strings.Join(out, ", ")
}

func TestScheduleFirings(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	from := func(s string, loc *time.Location) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		expr, tz, after string
		want            string
	}{
		{"cron(0 2 * * ? *)", "UTC", "2026-03-01 01:00", "2026-03-01 02:00 Sun, 2026-03-02 02:00 Mon, 2026-03-03 02:00 Tue"},
		// EventBridge numbers days 1-7 from Sunday: 2 is Monday, 6#3 the third Friday.
		{"cron(30 9 ? * 2 *)", "UTC", "2026-03-01 00:00", "2026-03-02 09:30 Mon, 2026-03-09 09:30 Mon, 2026-03-16 09:30 Mon"},
		{"cron(0 9 ? * MON-FRI *)", "UTC", "2026-03-06 10:00", "2026-03-09 09:00 Mon, 2026-03-10 09:00 Tue, 2026-03-11 09:00 Wed"},
		{"cron(0 2 ? * 6#3 *)", "UTC", "2026-03-01 00:00", "2026-03-20 02:00 Fri, 2026-04-17 02:00 Fri, 2026-05-15 02:00 Fri"},
		{"cron(0 2 L * ? *)", "UTC", "2026-02-01 00:00", "2026-02-28 02:00 Sat, 2026-03-31 02:00 Tue, 2026-04-30 02:00 Thu"},
		// In Paris the night of 29 March 2026 has no 02:30 (clocks go 02:00 → 03:00): that firing does
		// not happen, as on EventBridge Scheduler; on 25 October 02:30 comes twice and fires once.
		{"cron(30 2 * * ? *)", "Europe/Paris", "2026-03-28 00:00", "2026-03-28 02:30 Sat, 2026-03-30 02:30 Mon, 2026-03-31 02:30 Tue"},
		{"cron(30 2 * * ? *)", "Europe/Paris", "2026-10-24 12:00", "2026-10-25 02:30 Sun, 2026-10-26 02:30 Mon, 2026-10-27 02:30 Tue"},
		{"cron(0 2 * * ? 2026)", "UTC", "2026-12-30 12:00", "2026-12-31 02:00 Thu"},
		{"rate(15 minutes)", "UTC", "2026-03-01 10:07", "2026-03-01 10:15 Sun, 2026-03-01 10:30 Sun, 2026-03-01 10:45 Sun"},
		{"rate(1 day)", "Europe/Paris", "2026-03-01 10:07", "2026-03-02 01:00 Mon, 2026-03-03 01:00 Tue, 2026-03-04 01:00 Wed"},
	}
	for _, c := range cases {
		s := mustSchedule(t, c.expr, c.tz)
		loc := time.UTC
		if c.tz != "UTC" {
			loc = paris
		}
		if got := stamps(s.NextN(from(c.after, loc), 3), loc); got != c.want {
			t.Errorf("%s in %s after %s:\n got %s\nwant %s", c.expr, c.tz, c.after, got, c.want)
		}
	}
	// Fall back: the repeated hour fires once.
	s := mustSchedule(t, "cron(30 2 * * ? *)", "Europe/Paris")
	if n := len(s.Firings(from("2026-10-25 00:00", paris), from("2026-10-25 04:00", paris), 10)); n != 1 {
		t.Errorf("%d firings on the night clocks go back, want 1", n)
	}
}

func TestScheduleRefusals(t *testing.T) {
	for _, c := range []struct{ expr, tz, want string }{
		{"0 2 * * *", "", "is not a schedule"},
		{"cron(0 2 * * *)", "", "has 5 fields"},
		{"cron(0 2 * * * *)", "", "must be ?"},
		{"cron(0 2 ? * ? *)", "", "must be ?"},
		{"cron(0 2 ? * 8 *)", "", "days are 1-7"},
		{"cron(0 25 * * ? *)", "", "not a valid expression"},
		{"rate(0 minutes)", "", "positive"},
		{"rate(5 minute)", "", "rate(N minutes)"},
		{"rate(1 weeks)", "", "is not a schedule"},
		{"rate(1 hour)", "Mars/Olympus", "IANA time zone"},
	} {
		_, err := ParseSchedule(c.expr, c.tz)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseSchedule(%q, %q) = %v, want an error saying %q", c.expr, c.tz, err, c.want)
		}
	}
}

func TestDueFollowsTheCatchUpPolicy(t *testing.T) {
	s := mustSchedule(t, "rate(1 hour)", "")
	last := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	h := func(n int) time.Time { return last.Add(time.Duration(n) * time.Hour) }
	cases := []struct {
		policy string
		now    time.Time
		want   []time.Time
	}{
		// Stopped for 3h20m: 11:00, 12:00 and 13:00 were missed.
		{CatchUpNone, h(3).Add(20 * time.Minute), nil},
		{CatchUpLatest, h(3).Add(20 * time.Minute), []time.Time{h(3)}},
		{CatchUpAll, h(3).Add(20 * time.Minute), []time.Time{h(1), h(2), h(3)}},
		// A firing handled within OnTime is on time whatever the policy, and missed ones come first.
		{CatchUpNone, h(1).Add(10 * time.Second), []time.Time{h(1)}},
		{CatchUpLatest, h(3).Add(30 * time.Second), []time.Time{h(2), h(3)}},
		{CatchUpAll, h(0).Add(30 * time.Minute), nil},
	}
	for _, c := range cases {
		got := Due(s, last, c.now, c.policy)
		if len(got) != len(c.want) {
			t.Fatalf("%s at %s: %v, want %v", c.policy, c.now.Format("15:04:05"), got, c.want)
		}
		for i := range got {
			if !got[i].Equal(c.want[i]) {
				t.Fatalf("%s at %s: %v, want %v", c.policy, c.now.Format("15:04:05"), got, c.want)
			}
		}
	}
}

func TestScheduleParamsAndIDs(t *testing.T) {
	s := mustSchedule(t, "cron(0 1 * * ? *)", "America/New_York")
	at := time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC) // 01:00 in New York
	tr := sparkflow.Transform{Name: "daily", Params: map[string]string{"day": "", "prev_day": "", "other": "x"}}
	p := ScheduleParams(tr, s, at)
	if len(p) != 2 || p["day"] != "2026-03-01" || p["prev_day"] != "2026-02-28" {
		t.Fatalf("params = %v, want day and prev_day in New York time, only those declared", p)
	}
	if ScheduledRunID("daily", at) != ScheduledRunID("daily", at.In(time.Local)) || ScheduledRunID("daily", at) == ScheduledRunID("daily", at.Add(time.Minute)) ||
		ScheduledRunID("daily", at) == ScheduledRunID("weekly", at) {
		t.Fatal("a firing's run id must depend on the transform and the instant only")
	}
}
