// Package lineage finds a run's upstream and downstream runs, through the Backend face (so the CLI and
// the UI show the same on every home): the runs of its transform's upstream transforms with the
// values they share, the runs it waits for by id (--after), and, the other way, the runs of the
// transforms downstream of its transform with those values and the runs that wait for it by id.
package lineage

import (
	"context"
	"sort"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// Lineage is a run's upstream and downstream runs, newest first within each transform.
type Lineage struct {
	Upstream   []sparkflow.Run `json:"upstream"`
	Downstream []sparkflow.Run `json:"downstream"`
}

// PerTransform bounds how many runs of one transform are read to find matches.
const PerTransform = 2000

// Of returns r's lineage.
func Of(ctx context.Context, b sparkflow.Backend, r sparkflow.Run) (Lineage, error) {
	var l Lineage
	ts, err := b.ListTransforms(ctx, "")
	if err != nil {
		return l, err
	}
	byName := map[string]sparkflow.Transform{}
	for _, t := range ts {
		byName[t.Name] = t
	}
	seen := map[string]bool{r.ID: true}
	add := func(list *[]sparkflow.Run, runs ...sparkflow.Run) {
		for _, c := range runs {
			if !seen[c.ID] {
				seen[c.ID] = true
				*list = append(*list, c)
			}
		}
	}
	matching := func(transform string, shared map[string]string) ([]sparkflow.Run, error) {
		runs, err := b.ListRuns(ctx, sparkflow.RunFilter{Transform: transform, Limit: PerTransform})
		if err != nil {
			return nil, err
		}
		var out []sparkflow.Run
		for _, c := range runs {
			if core.Matches(c, shared) {
				out = append(out, c)
			}
		}
		return out, nil
	}
	for _, u := range byName[r.Transform].Upstream {
		ut, ok := byName[u]
		if !ok {
			continue
		}
		runs, err := matching(u, core.SharedValues(ut, r))
		if err != nil {
			return l, err
		}
		add(&l.Upstream, runs...)
	}
	byID := func(list *[]sparkflow.Run, ids []string) error {
		for _, id := range ids {
			c, err := b.GetRun(ctx, id)
			if sparkflow.IsCode(err, sparkflow.NotFound) {
				continue
			}
			if err != nil {
				return err
			}
			add(list, c)
		}
		return nil
	}
	if err := byID(&l.Upstream, r.After); err != nil {
		return l, err
	}
	me := byName[r.Transform]
	names := make([]string, 0, len(ts))
	for _, t := range ts {
		names = append(names, t.Name)
	}
	sort.Strings(names)
	for _, n := range names {
		t := byName[n]
		if !contains(t.Upstream, r.Transform) {
			continue
		}
		runs, err := b.ListRuns(ctx, sparkflow.RunFilter{Transform: t.Name, Limit: PerTransform})
		if err != nil {
			return l, err
		}
		for _, d := range runs {
			// d is downstream of r when r has the values d shares with r's transform.
			if core.Matches(r, core.SharedValues(me, d)) {
				add(&l.Downstream, d)
			}
		}
	}
	return l, byID(&l.Downstream, r.Dependents)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
