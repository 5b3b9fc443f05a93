package tiers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuiltinTiers(t *testing.T) {
	c := Default()
	var names []string
	prev := 0
	for _, tier := range c.All() {
		names = append(names, tier.Name)
		if tier.StepConcurrency <= prev {
			t.Errorf("tier %s: step concurrency %d does not grow with size", tier.Name, tier.StepConcurrency)
		}
		prev = tier.StepConcurrency
		for _, it := range append(tier.Core.InstanceTypes, tier.Task.InstanceTypes...) {
			if !strings.Contains(it, "g.") {
				t.Errorf("tier %s: %s is not a Graviton type", tier.Name, it)
			}
		}
	}
	if strings.Join(names, ",") != "tiny,small,medium,large,xlarge" {
		t.Fatalf("built-in tiers = %v", names)
	}
}

func TestUserFileExtendsAndOverrides(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tiers.json")
	os.WriteFile(path, []byte(`{"tiers": [
	  {"name": "small", "description": "ours", "primary": {"instanceTypes": ["m7g.xlarge"], "onDemandCapacity": 1, "spotCapacity": 0},
	   "core": {"instanceTypes": ["m7g.xlarge"], "onDemandCapacity": 3, "spotCapacity": 0}, "task": {"instanceTypes": [], "onDemandCapacity": 0, "spotCapacity": 0},
	   "spotTimeoutMinutes": 10, "stepConcurrency": 6},
	  {"name": "gpu", "description": "for ML", "primary": {"instanceTypes": ["m7g.xlarge"], "onDemandCapacity": 1, "spotCapacity": 0},
	   "core": {"instanceTypes": ["g5g.2xlarge"], "onDemandCapacity": 2, "spotCapacity": 0}, "task": {"instanceTypes": [], "onDemandCapacity": 0, "spotCapacity": 0},
	   "spotTimeoutMinutes": 10, "stepConcurrency": 2}]}`), 0o644)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := c.Get("small")
	if s.StepConcurrency != 6 || s.Description != "ours" {
		t.Fatalf("small not overridden: %+v", s)
	}
	if _, err := c.Get("gpu"); err != nil {
		t.Fatal(err)
	}
	if n := len(c.All()); n != 6 {
		t.Fatalf("%d tiers, want 6", n)
	}
	if _, err := c.Get("huge"); err == nil || !strings.Contains(err.Error(), "known tiers: gpu, large, medium, small, tiny, xlarge") {
		t.Fatalf("unknown tier error: %v", err)
	}
}

func TestInvalidTierFiles(t *testing.T) {
	tests := []struct{ name, body, msg string }{
		{"unknown field", `{"tiers": [{"name": "x", "cores": 3}]}`, "unknown field"},
		{"spot timeout", `{"tiers": [{"name": "x", "primary": {"instanceTypes": ["a"], "onDemandCapacity": 1}, "core": {"instanceTypes": ["a"], "onDemandCapacity": 1}, "spotTimeoutMinutes": 1, "stepConcurrency": 1}]}`, "spotTimeoutMinutes"},
		{"primary", `{"tiers": [{"name": "x", "primary": {"instanceTypes": ["a"], "onDemandCapacity": 2}, "core": {"instanceTypes": ["a"], "onDemandCapacity": 1}, "spotTimeoutMinutes": 10, "stepConcurrency": 1}]}`, "primary fleet is one on-demand node"},
		{"task without types", `{"tiers": [{"name": "x", "primary": {"instanceTypes": ["a"], "onDemandCapacity": 1}, "core": {"instanceTypes": ["a"], "onDemandCapacity": 1}, "task": {"spotCapacity": 4}, "spotTimeoutMinutes": 10, "stepConcurrency": 1}]}`, "needs at least one instance type"},
		{"twice", `{"tiers": [{"name": "x", "primary": {"instanceTypes": ["a"], "onDemandCapacity": 1}, "core": {"instanceTypes": ["a"], "onDemandCapacity": 1}, "spotTimeoutMinutes": 10, "stepConcurrency": 1}, {"name": "x", "primary": {"instanceTypes": ["a"], "onDemandCapacity": 1}, "core": {"instanceTypes": ["a"], "onDemandCapacity": 1}, "spotTimeoutMinutes": 10, "stepConcurrency": 1}]}`, "defined twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.body), Default())
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want one saying %q", err, tc.msg)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Fatal("a missing tier file was accepted")
	}
}
