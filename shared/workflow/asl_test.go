package workflow

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden ASL files under testdata")

const fn = "arn:aws:lambda:us-east-1:123456789012:function:"

// The rendered state machines are pinned by golden files: a change to the workflow shows up as a
// reviewed change of its ASL (go test ./shared/workflow -update rewrites them).
func TestASLGolden(t *testing.T) {
	for _, c := range []struct {
		file string
		def  Definition
		fns  map[string]string
	}{
		{"run.asl.json", Run(), map[string]string{TaskHold: fn + "reserve", TaskReserve: fn + "reserve", TaskSubmit: fn + "submit", TaskFinish: fn + "finish"}},
		{"pool.asl.json", Pool(), map[string]string{TaskPool: fn + "pool"}},
	} {
		t.Run(c.file, func(t *testing.T) {
			got, err := c.def.ASL(c.fns)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", c.file)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("the rendered %s differs from testdata/%s (run with -update if the change is meant):\n%s", c.file, c.file, got)
			}
			var v map[string]any
			if err := json.Unmarshal(got, &v); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestASLRefusesWhatCannotRun(t *testing.T) {
	ok := Run()
	for _, c := range []struct {
		name string
		mod  func(d *Definition)
		fns  map[string]string
		want string
	}{
		{"a task without its function", func(d *Definition) {}, map[string]string{TaskReserve: "r"}, "no function given"},
		{"a transition to no state", func(d *Definition) { stateOf(d, StateReserve).Next = "Nowhere" }, nil, "which is no state"},
		{"a wait with no timeout", func(d *Definition) { stateOf(d, StateReserve).TimeoutSecondsPath = "" }, nil, "no timeout"},
		{"a missing start", func(d *Definition) { d.StartAt = "Begin" }, nil, "StartAt"},
		{"a state defined twice", func(d *Definition) { d.States = append(d.States, d.States[0]) }, nil, "twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := ok
			d.States = append([]State{}, ok.States...)
			c.mod(&d)
			fns := c.fns
			if fns == nil {
				fns = map[string]string{TaskHold: "r", TaskReserve: "r", TaskSubmit: "s", TaskFinish: "f"}
			}
			_, err := d.ASL(fns)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error saying %q", err, c.want)
			}
		})
	}
}

// stateOf is the named state of d, to change.
func stateOf(d *Definition, name string) *State {
	for i := range d.States {
		if d.States[i].Name == name {
			return &d.States[i]
		}
	}
	panic("no state " + name)
}
