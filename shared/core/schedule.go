package core

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/adhocore/gronx"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// Schedule is a transform's schedule in EventBridge Scheduler's syntax, "cron(minutes hours
// day-of-month month day-of-week year)" or "rate(N minutes|hours|days)", evaluated in a time zone as
// EventBridge Scheduler evaluates it: a cron firing at a local time that a spring-forward skips does
// not happen, one in the hour a fall-back repeats happens once; a rate fires every N units from the
// Unix epoch (the AWS schedule is given that start date), whatever the zone.
type Schedule struct {
	Expr string
	loc  *time.Location
	cron string        // gronx's form: seconds minutes hours day-of-month month day-of-week year
	rate time.Duration // or the rate
}

var (
	cronRE = regexp.MustCompile(`^cron\((.*)\)$`)
	rateRE = regexp.MustCompile(`^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$`)
)

// ParseSchedule parses expr in the IANA time zone tz ("" is UTC).
func ParseSchedule(expr, tz string) (Schedule, error) {
	s := Schedule{Expr: strings.TrimSpace(expr)}
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil || tz == "Local" {
		return s, sparkflow.FieldError("timezone", "%q is not an IANA time zone (e.g. UTC, Europe/Paris, America/New_York)", tz)
	}
	s.loc = loc
	if m := rateRE.FindStringSubmatch(s.Expr); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n < 1 {
			return s, sparkflow.FieldError("schedule", "rate(%s %s): the value must be a positive whole number", m[1], m[2])
		}
		if (n == 1) != !strings.HasSuffix(m[2], "s") {
			return s, sparkflow.FieldError("schedule", "rate(%s %s): EventBridge writes rate(1 %s) and rate(N %ss)", m[1], m[2], strings.TrimSuffix(m[2], "s"), strings.TrimSuffix(m[2], "s"))
		}
		unit := map[string]time.Duration{"minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}[strings.TrimSuffix(m[2], "s")]
		s.rate = time.Duration(n) * unit
		return s, nil
	}
	m := cronRE.FindStringSubmatch(s.Expr)
	if m == nil {
		return s, sparkflow.FieldError("schedule", "%q is not a schedule: use cron(minutes hours day-of-month month day-of-week year), e.g. cron(0 2 * * ? *), or rate(N minutes|hours|days), e.g. rate(15 minutes)", expr)
	}
	f := strings.Fields(m[1])
	if len(f) != 6 {
		return s, sparkflow.FieldError("schedule", "cron(%s) has %d fields; EventBridge's cron has 6: minutes hours day-of-month month day-of-week year, e.g. cron(0 2 * * ? *)", m[1], len(f))
	}
	if (f[2] == "?") == (f[4] == "?") {
		return s, sparkflow.FieldError("schedule", "cron(%s): one of day-of-month and day-of-week must be ?, the other not (e.g. cron(0 2 * * ? *) daily, cron(0 2 ? * MON *) on Mondays)", m[1])
	}
	dow, err := weekdays(f[4])
	if err != nil {
		return s, sparkflow.FieldError("schedule", "cron(%s): day-of-week %q: %v", m[1], f[4], err)
	}
	q := func(v string) string {
		if v == "?" {
			return "*"
		}
		return v
	}
	s.cron = strings.Join([]string{"0", f[0], f[1], q(f[2]), f[3], dow, f[5]}, " ")
	if !gronx.New().IsValid(s.cron) {
		return s, sparkflow.FieldError("schedule", "cron(%s) is not a valid expression (fields: minutes hours day-of-month month day-of-week year)", m[1])
	}
	return s, nil
}

var dayNumber = regexp.MustCompile(`\d+`)

// weekdays turns EventBridge's day-of-week (1-7 for SUN-SAT, names, ranges, L and #) into the usual
// 0-6 numbering; the part after # (which week) and a step after / stay as they are.
func weekdays(f string) (string, error) {
	if f == "?" || f == "*" {
		return "*", nil
	}
	if f == "L" {
		return "6", nil // the last day of the week
	}
	var out []string
	for _, tok := range strings.Split(f, ",") {
		head, tail := tok, ""
		if i := strings.IndexAny(tok, "#/"); i >= 0 {
			head, tail = tok[:i], tok[i:]
		}
		var bad error
		head = dayNumber.ReplaceAllStringFunc(head, func(d string) string {
			n, _ := strconv.Atoi(d)
			if n < 1 || n > 7 {
				bad = fmt.Errorf("days are 1-7 (SUN-SAT) or SUN, MON, …, got %d", n)
			}
			return strconv.Itoa(n - 1)
		})
		if bad != nil {
			return "", bad
		}
		out = append(out, head+tail)
	}
	return strings.Join(out, ","), nil
}

// Location is the schedule's time zone.
func (s Schedule) Location() *time.Location { return s.loc }

// Rate is a rate schedule's interval (0 for cron).
func (s Schedule) Rate() time.Duration { return s.rate }

// Next is the first firing strictly after after (in UTC), or the zero time when there is none (a cron
// whose years have passed).
func (s Schedule) Next(after time.Time) time.Time {
	if s.rate > 0 {
		k := after.UnixNano()/int64(s.rate) + 1
		return time.Unix(0, k*int64(s.rate)).UTC()
	}
	// gronx works on wall-clock fields: walk them in UTC (no gaps or repeats there), then place each
	// candidate in the zone, passing over the local times that do not exist.
	w := after.In(s.loc)
	wall := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), 0, 0, time.UTC)
	for i := 0; i < 2000; i++ {
		n, err := gronx.NextTickAfter(s.cron, wall, false)
		if err != nil || !n.After(wall) {
			return time.Time{} // no firing left (gronx gives its start back when it finds none)
		}
		wall = n
		at := time.Date(n.Year(), n.Month(), n.Day(), n.Hour(), n.Minute(), 0, 0, s.loc)
		if at.Hour() != n.Hour() || at.Minute() != n.Minute() || at.Day() != n.Day() {
			continue // skipped by a spring-forward
		}
		if at.After(after) {
			return at.UTC()
		}
	}
	return time.Time{}
}

// Firings lists the firings in (from, to], at most max (the newest are kept when there are more).
func (s Schedule) Firings(from, to time.Time, max int) []time.Time {
	var out []time.Time
	for t := s.Next(from); !t.IsZero() && !t.After(to); t = s.Next(t) {
		out = append(out, t)
		if len(out) > max {
			out = out[1:]
		}
	}
	return out
}

// NextN lists the next n firings after after.
func (s Schedule) NextN(after time.Time, n int) []time.Time {
	var out []time.Time
	for t := s.Next(after); !t.IsZero() && len(out) < n; t = s.Next(t) {
		out = append(out, t)
	}
	return out
}

// Catch-up policies: what a local engine that was stopped does with the firings it missed.
const (
	CatchUpNone   = "none"   // none of them
	CatchUpLatest = "latest" // the newest one only (the default)
	CatchUpAll    = "all"    // every one, oldest first (at most MaxCatchUp)
)

// MaxCatchUp bounds the missed firings submitted at once under CatchUpAll.
const MaxCatchUp = 1000

// OnTime is how late a firing may be handled and still count as on time: a scheduler that wakes up
// later than that (the engine was stopped, the machine slept) missed it, and its schedule's catch-up
// policy decides.
const OnTime = time.Minute

// Due is what a scheduler that last fired at last submits now: the firings since on time, and of
// those it missed, what policy keeps (none; the newest; all, oldest first, at most MaxCatchUp).
func Due(s Schedule, last, now time.Time, policy string) []time.Time {
	all := s.Firings(last, now, MaxCatchUp)
	var missed, onTime []time.Time
	for _, t := range all {
		if now.Sub(t) > OnTime {
			missed = append(missed, t)
		} else {
			onTime = append(onTime, t)
		}
	}
	switch {
	case len(missed) == 0 || policy == CatchUpNone:
		missed = nil
	case policy == CatchUpAll:
	default:
		missed = missed[len(missed)-1:]
	}
	return append(missed, onTime...)
}

// ScheduleParams are the parameters a firing at t fills, among those the transform declares:
// scheduled_time (RFC 3339 in the schedule's zone), day (2006-01-02), prev_day (the day before),
// month (2006-01) and hour (2006-01-02T15), all in the schedule's zone.
func ScheduleParams(t sparkflow.Transform, s Schedule, at time.Time) map[string]string {
	l := at.In(s.loc)
	all := map[string]string{
		"scheduled_time": l.Format(time.RFC3339),
		"day":            l.Format("2006-01-02"),
		"prev_day":       l.AddDate(0, 0, -1).Format("2006-01-02"),
		"month":          l.Format("2006-01"),
		"hour":           l.Format("2006-01-02T15"),
	}
	out := map[string]string{}
	for k := range t.Params {
		if v, ok := all[k]; ok {
			out[k] = v
		}
	}
	return out
}

// ScheduledRunID is the id of the run of transform's firing at t: the same for a firing delivered
// twice (EventBridge Scheduler delivers at least once) or submitted again after a restart.
func ScheduledRunID(transform string, at time.Time) string {
	return RunID(transform, map[string]string{"@scheduled": at.UTC().Format(time.RFC3339)})
}
