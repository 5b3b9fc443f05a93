package events

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/emrevent"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tiers"
)

func strict(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestEveryClusterStateHasAFixture(t *testing.T) {
	seen := map[sparkflow.ClusterState]bool{}
	files, _ := filepath.Glob("emr-cluster-*.json")
	for _, f := range files {
		data, _ := os.ReadFile(f)
		ev, err := emrevent.Parse(data, true)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		ch, err := ev.Cluster(true)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if want := strings.ToUpper(strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(f, "emr-cluster-"), ".json"), "-", "_")); string(ch.State) != want {
			t.Fatalf("%s holds state %s", f, ch.State)
		}
		if ch.ClusterID == "" || ch.Time.IsZero() {
			t.Fatalf("%s: %+v", f, ch)
		}
		if ch.State.Ended() && ch.Reason.Code == "" {
			t.Fatalf("%s: an ending cluster event without a reason code", f)
		}
		seen[ch.State] = true
	}
	for _, s := range sparkflow.ClusterStates {
		if !seen[s] {
			t.Errorf("no fixture for cluster state %s", s)
		}
	}
}

func TestEveryStepStateHasAFixture(t *testing.T) {
	seen := map[sparkflow.StepState]bool{}
	files, _ := filepath.Glob("emr-step-*.json")
	for _, f := range files {
		data, _ := os.ReadFile(f)
		ev, err := emrevent.Parse(data, true)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		ch, err := ev.Step(true)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		runID, attempt, ok := core.ParseStepName(core.DefaultNamePrefix, ch.Name)
		if !ok || runID == "" || attempt != 1 {
			t.Fatalf("%s: step name %q is not a SparkFlow step name", f, ch.Name)
		}
		seen[ch.State] = true
	}
	for _, s := range sparkflow.StepStates {
		if !seen[s] {
			t.Errorf("no fixture for step state %s", s)
		}
	}
}

func TestBuilderMatchesFixtureShape(t *testing.T) {
	// What the local clusters emit decodes strictly into the same shapes as the fixtures.
	raw, err := emrevent.DefaultBuilder.ClusterEvent(mustTime(t), "j-1", "sparkflow:etl:x", sparkflow.ClusterWaiting, sparkflow.StateReason{Message: "ready"})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := emrevent.Parse(raw, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ev.Cluster(true); err != nil {
		t.Fatal(err)
	}
	var fixture, built map[string]any
	data, _ := os.ReadFile("emr-cluster-waiting.json")
	json.Unmarshal(data, &fixture)
	json.Unmarshal(raw, &built)
	for k := range fixture {
		if _, ok := built[k]; !ok {
			t.Errorf("built event lacks envelope field %q", k)
		}
	}
	for k := range fixture["detail"].(map[string]any) {
		if _, ok := built["detail"].(map[string]any)[k]; !ok {
			t.Errorf("built event lacks detail field %q", k)
		}
	}
}

func TestRequestsAreValid(t *testing.T) {
	var req sparkflow.RunRequest
	strict(t, "run-request.json", &req)
	if err := req.Validate(); err != nil {
		t.Fatal(err)
	}
	var p sparkflow.Pool
	strict(t, "pool-request.json", &p)
	tier, err := tiers.Default().Get(p.Tier)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Normalize(tier); err != nil {
		t.Fatal(err)
	}
	var tr sparkflow.Transform
	strict(t, "transform-request.json", &tr)
	if err := tr.Normalize(); err != nil {
		t.Fatal(err)
	}
	step, err := core.Step(tr, sparkflow.Run{ID: req.ID, Attempt: 1, Params: req.Params})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(step.Args, " "); !strings.Contains(got, "--day 2026-11-22") || !strings.HasPrefix(got, "spark-submit --deploy-mode cluster --class com.acme.sales.Daily --conf spark.executor.memory=4g") {
		t.Fatalf("step args: %s", got)
	}
}
func mustTime(t *testing.T) time.Time {
	t.Helper()
	return time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
}
