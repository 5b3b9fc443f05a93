package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/front/lineage"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// GET /api/runs/{id}/lineage pairs a run with the upstream run it waited for, both ways.
func TestLineageEndpoint(t *testing.T) {
	srv, c := setup(t)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.CreatePool(ctx, sparkflow.Pool{Name: "p", Tier: "tiny", Clusters: 1})
	must(err)
	day := map[string]string{"day": "2026-01-01"}
	_, err = c.CreateTransform(ctx, sparkflow.Transform{Name: "up", Pool: "p", Command: []string{"true"}, Args: []string{"${day}"}, Params: day})
	must(err)
	_, err = c.CreateTransform(ctx, sparkflow.Transform{Name: "down", Pool: "p", Command: []string{"true"}, Args: []string{"${day}"}, Params: day, Upstream: []string{"up"}})
	must(err)
	wait := func(id string) sparkflow.Run {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			r, err := c.GetRun(ctx, id)
			must(err)
			if r.Status.Terminal() {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %s did not end: %s", id, r.Status)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	d, err := c.SubmitRun(ctx, sparkflow.RunRequest{Transform: "down", Params: map[string]string{"day": "2026-01-02"}})
	must(err)
	if d.Status != sparkflow.RunBlocked {
		t.Fatalf("a run with an upstream is %s at submit, want BLOCKED", d.Status)
	}
	u, err := c.SubmitRun(ctx, sparkflow.RunRequest{Transform: "up", Params: map[string]string{"day": "2026-01-02"}})
	must(err)
	u, d = wait(u.ID), wait(d.ID)
	if d.Status != sparkflow.RunSucceeded {
		t.Fatalf("dependent %s %s", d.Status, d.Reason)
	}
	get := func(id string) lineage.Lineage {
		t.Helper()
		resp, err := http.Get(srv.URL + "/api/runs/" + id + "/lineage")
		must(err)
		defer resp.Body.Close()
		var l lineage.Lineage
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&l) != nil {
			t.Fatalf("GET lineage of %s: %s", id, resp.Status)
		}
		return l
	}
	if l := get(d.ID); len(l.Upstream) != 1 || l.Upstream[0].ID != u.ID || len(l.Downstream) != 0 {
		t.Fatalf("lineage of the dependent: %+v", l)
	}
	if l := get(u.ID[:8]); len(l.Downstream) != 1 || l.Downstream[0].ID != d.ID || len(l.Upstream) != 0 {
		t.Fatalf("lineage of the upstream run (by prefix): %+v", l)
	}
}
