package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/cost"
	"github.com/sparkflow/sparkflow/shared/front/httpapi"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// GET /api/cost reports what the window's runs and the pools cost, by pool or transform, and refuses
// a bad window or grouping with a 400 naming the field.
func TestCostEndpoint(t *testing.T) {
	srv, c := setup(t)
	ctx := context.Background()
	if _, err := c.CreatePool(ctx, sparkflow.Pool{Name: "p", Tier: "tiny", Clusters: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTransform(ctx, sparkflow.Transform{Name: "nap", Pool: "p", Command: []string{"sleep", "0.3"}}); err != nil {
		t.Fatal(err)
	}
	r, err := c.SubmitRun(ctx, sparkflow.RunRequest{Transform: "nap"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for !r.Status.Terminal() {
		if time.Now().After(deadline) {
			t.Fatalf("run did not end: %s", r.Status)
		}
		time.Sleep(50 * time.Millisecond)
		if r, err = c.GetRun(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	get := func(q string) (int, cost.Report, httpapi.ErrorBody) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/api/cost" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var rep cost.Report
		var e httpapi.ErrorBody
		if resp.StatusCode == http.StatusOK {
			json.NewDecoder(resp.Body).Decode(&rep)
		} else {
			json.NewDecoder(resp.Body).Decode(&e)
		}
		return resp.StatusCode, rep, e
	}
	code, rep, _ := get("?since=1h&by=transform")
	if code != http.StatusOK || len(rep.Lines) != 1 || rep.Lines[0].Key != "nap" || rep.Lines[0].Runs != 1 || rep.Lines[0].RunCost <= 0 || rep.Currency != "USD" {
		t.Fatalf("GET /api/cost: %d %+v", code, rep)
	}
	if code, rep, _ = get(""); code != http.StatusOK || rep.By != "pool" || len(rep.Lines) != 1 || rep.Lines[0].ClusterCost <= 0 {
		t.Fatalf("GET /api/cost (defaults): %d %+v", code, rep)
	}
	for q, field := range map[string]string{"?since=soon": "since", "?by=team": "by"} {
		if code, _, e := get(q); code != http.StatusBadRequest || e.Error.Field != field {
			t.Errorf("GET /api/cost%s: %d %+v, want 400 naming %s", q, code, e, field)
		}
	}
}
