package webui_test

import (
	"context"
	"encoding/xml"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/cost"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tiers"
)

// TestCostColumnAndPlot: the Job Runs page shows what each run cost, the Clusters page what each pool
// costs an hour, and /cost.svg a pool's cost per hour whose bars add up to what its clusters cost in
// the window.
func TestCostColumnAndPlot(t *testing.T) {
	f := setup(t)
	f.readyPool(t)
	ctx := context.Background()
	if _, err := f.e.CreateTransform(ctx, sparkflow.Transform{Name: "nap", Pool: "etl", Command: []string{"sleep", "0.2"}}); err != nil {
		t.Fatal(err)
	}
	r, err := f.e.SubmitRun(ctx, sparkflow.RunRequest{Transform: "nap"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !r.Status.Terminal() {
		if time.Now().After(deadline) {
			t.Fatal("run did not end")
		}
		time.Sleep(20 * time.Millisecond)
		r, _ = f.e.GetRun(ctx, r.ID)
	}
	if _, page := f.get(t, "/runs"); !regexp.MustCompile(`(?s)data-run="` + r.ID + `".*?<td class="cost">(&lt;\$0\.01|\$[0-9.]+)</td>`).MatchString(page) {
		i := strings.Index(page, `data-run="`+r.ID)
		t.Fatalf("the Job Runs page shows no cost for the run: %s", page[max(i, 0):min(len(page), max(i, 0)+800)])
	}
	tiny, _ := tiers.Default().Get("tiny")
	rate := cost.Default().ClusterRate(tiny, "")
	if _, page := f.get(t, "/clusters"); !strings.Contains(page, `<td class="cost">$`+strconv.FormatFloat(2*rate.PerHour, 'f', 2, 64)+`/h</td>`) {
		t.Fatalf("the Clusters page does not show the pool's 2 clusters at %.2f/h", 2*rate.PerHour)
	}
	if _, page := f.get(t, "/clusters"); len(regexp.MustCompile(`(?s)<tr data-cluster="j-[^"]+">.*?<td class="cost">(&lt;\$0\.01|\$[0-9.]+)</td></tr>`).FindAllString(page, -1)) != 2 {
		t.Fatal("the Clusters page does not show what each of the pool's 2 clusters has cost")
	}
	before := time.Now()
	status, svg := f.get(t, "/cost.svg?pool=etl&hours=3")
	after := time.Now()
	if status != 200 {
		t.Fatalf("cost plot: %d %s", status, svg)
	}
	// Well-formed, as a browser needs it to draw it at all (an amount may read "<$0.01").
	for dec := xml.NewDecoder(strings.NewReader(svg)); ; {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("the cost plot is not well-formed SVG: %v\n%s", err, svg)
		}
	}
	bars := regexp.MustCompile(`data-cost="([0-9.]+)"`).FindAllStringSubmatch(svg, -1)
	if len(bars) != 3 {
		t.Fatalf("%d bars for 3 hours", len(bars))
	}
	sum := 0.0
	for _, b := range bars {
		v, _ := strconv.ParseFloat(b[1], 64)
		sum += v
	}
	p, _ := f.e.GetPool(ctx, "etl")
	lo, hi := cost.Window(p.ClusterRecords, cost.Rates{Tier: rate}, before.Add(-3*time.Hour), before), cost.Window(p.ClusterRecords, cost.Rates{Tier: rate}, before.Add(-3*time.Hour), after)
	if sum <= 0 || sum < lo-1e-6 || sum > hi+1e-6 || math.IsNaN(sum) {
		t.Fatalf("the bars add up to %v, want what the clusters cost since their launch: %v to %v", sum, lo, hi)
	}
	if status, _ := f.get(t, "/cost.svg?pool=nosuch"); status != 404 {
		t.Fatalf("an unknown pool's plot: %d", status)
	}
	if status, _ := f.get(t, "/cost.svg?pool=etl&hours=0"); status != 400 {
		t.Fatalf("hours=0: %d", status)
	}
}
