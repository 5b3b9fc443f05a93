package core

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// MaxBackfillRuns bounds one backfill: a range that expands to more is refused (split it).
const MaxBackfillRuns = 10000

// Backfill is a set of runs of one transform, one per combination of its ranged arguments' values.
type Backfill struct {
	ID        string                 `json:"id"`
	Transform string                 `json:"transform"`
	Runs      []sparkflow.RunRequest `json:"runs"`
}

// PlanBackfill expands a backfill's arguments into its runs, in order. Each argument is a single
// value, a list (a,b,c), a range of dates (2026-01-01..2026-03-31, by step: Nd or Nw, default 1d) or a
// range of integers (1..10, by step: N, default 1). Several ranged arguments give every combination
// (the first argument's value changes slowest). Each run's id is derived from the transform and its
// parameters (RunID), and the backfill's from the transform and its runs' ids, so planning the same
// backfill again gives the same runs and ids: submitting it twice creates nothing new.
func PlanBackfill(transform string, args map[string]string, step string) (Backfill, error) {
	if len(args) == 0 {
		return Backfill{}, sparkflow.FieldError("arg", "a backfill needs at least one --arg NAME=RANGE (e.g. day=2026-01-01..2026-03-31)")
	}
	names := make([]string, 0, len(args))
	for k := range args {
		names = append(names, k)
	}
	sort.Strings(names)
	values := make([][]string, len(names))
	ranged := 0
	total := 1
	for i, k := range names {
		vs, isRange, err := expand(k, args[k], step)
		if err != nil {
			return Backfill{}, err
		}
		if isRange {
			ranged++
		}
		values[i] = vs
		total *= len(vs)
		if total > MaxBackfillRuns {
			return Backfill{}, sparkflow.FieldError("arg", "the backfill would make more than %d runs; split it into smaller ranges", MaxBackfillRuns)
		}
	}
	if step != "" && ranged == 0 {
		return Backfill{}, sparkflow.FieldError("step", "--step %s needs a range (--arg NAME=FROM..TO)", step)
	}
	b := Backfill{Transform: transform}
	idx := make([]int, len(names))
	for {
		p := make(map[string]string, len(names))
		for i, k := range names {
			p[k] = values[i][idx[i]]
		}
		b.Runs = append(b.Runs, sparkflow.RunRequest{ID: RunID(transform, p), Transform: transform, Params: p})
		i := len(idx) - 1
		for ; i >= 0; i-- {
			idx[i]++
			if idx[i] < len(values[i]) {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			break
		}
	}
	ids := make([]string, len(b.Runs))
	for i, r := range b.Runs {
		ids[i] = r.ID
	}
	b.ID = "bf-" + uuid.NewSHA1(runIDSpace, []byte(transform+"\x00"+strings.Join(ids, ","))).String()[:8]
	return b, nil
}

// runIDSpace is the UUID namespace of derived run ids.
var runIDSpace = uuid.MustParse("3f0b7a52-9a43-4f59-a1c2-6d1f1b0e7c25")

// RunID is the id of the run of transform with params: the same for the same transform and parameter
// values, wherever it is computed (a backfill, a scheduled firing), so that one of them asked twice is
// one run.
func RunID(transform string, params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pairs := [][2]string{{"transform", transform}} // JSON: no value can pass for another's
	for _, k := range keys {
		pairs = append(pairs, [2]string{k, params[k]})
	}
	b, _ := json.Marshal(pairs)
	return uuid.NewSHA1(runIDSpace, b).String()
}

const dateLayout = "2006-01-02"

// expand gives the values of one argument and whether it was a range or a list.
func expand(name, spec, step string) ([]string, bool, error) {
	bad := func(format string, a ...any) ([]string, bool, error) {
		return nil, false, sparkflow.FieldError("arg", "--arg %s=%s: %s", name, spec, fmt.Sprintf(format, a...))
	}
	if from, to, ok := strings.Cut(spec, ".."); ok {
		if d0, err := time.Parse(dateLayout, from); err == nil {
			d1, err := time.Parse(dateLayout, to)
			if err != nil {
				return bad("the range's end %q is not a date like %s", to, from)
			}
			days, err := dateStep(step)
			if err != nil {
				return bad("%v", err)
			}
			if d1.Before(d0) {
				return bad("the range ends before it begins")
			}
			var out []string
			for d := d0; !d.After(d1); d = d.AddDate(0, 0, days) {
				out = append(out, d.Format(dateLayout))
				if len(out) > MaxBackfillRuns {
					return bad("more than %d values", MaxBackfillRuns)
				}
			}
			return out, true, nil
		}
		n0, err0 := strconv.Atoi(from)
		n1, err1 := strconv.Atoi(to)
		if err0 != nil || err1 != nil {
			return bad("a range is of dates (2026-01-01..2026-03-31) or of integers (1..10)")
		}
		by := 1
		if step != "" {
			var err error
			if by, err = strconv.Atoi(step); err != nil || by < 1 {
				return bad("--step %s: an integer range steps by a positive integer", step)
			}
		}
		if n1 < n0 {
			return bad("the range ends before it begins")
		}
		if (n1-n0)/by+1 > MaxBackfillRuns {
			return bad("more than %d values", MaxBackfillRuns)
		}
		var out []string
		for n := n0; n <= n1; n += by {
			out = append(out, strconv.Itoa(n))
		}
		return out, true, nil
	}
	if strings.Contains(spec, ",") {
		var out []string
		seen := map[string]bool{}
		for _, v := range strings.Split(spec, ",") {
			if v = strings.TrimSpace(v); v == "" {
				return bad("an empty value in the list")
			}
			if !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
		return out, true, nil
	}
	return []string{spec}, false, nil
}

// dateStep reads a date range's step: Nd or Nw (default 1d).
func dateStep(step string) (int, error) {
	if step == "" {
		return 1, nil
	}
	unit := 1
	switch {
	case strings.HasSuffix(step, "d"):
	case strings.HasSuffix(step, "w"):
		unit = 7
	default:
		return 0, fmt.Errorf("--step %s: a date range steps by days (1d) or weeks (1w)", step)
	}
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSuffix(step, "d"), "w"))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("--step %s: a date range steps by days (1d) or weeks (1w)", step)
	}
	return n * unit, nil
}
