// Package tiers holds the catalogue of cluster size tiers: the built-in tiny … xlarge, shipped as an
// embedded JSON file, which a user's own file can extend with new tiers or override by name.
package tiers

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

//go:embed tiers.json
var defaultFile []byte

// EMR's spot provisioning timeout bounds (SpotProvisioningSpecification.TimeoutDurationMinutes).
const (
	minSpotTimeout = 5
	maxSpotTimeout = 1440
)

// File is the shape of a tier file.
type File struct {
	Tiers []sparkflow.Tier `json:"tiers"`
}

// Catalog is a validated set of tiers.
type Catalog struct {
	tiers map[string]sparkflow.Tier
	order []string
}

// Default returns the built-in catalogue.
func Default() *Catalog {
	c, err := Parse(defaultFile, nil)
	if err != nil {
		panic(fmt.Sprintf("built-in tiers.json is invalid: %v", err)) // caught by the package's tests
	}
	return c
}

// Load returns the built-in catalogue extended or overridden by the tier file at path ("" for none).
func Load(path string) (*Catalog, error) {
	base := Default()
	if path == "" {
		return base, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tier file: %w", err)
	}
	c, err := Parse(data, base)
	if err != nil {
		return nil, fmt.Errorf("tier file %s: %w", path, err)
	}
	return c, nil
}

// Parse reads a tier file on top of base (nil for none), validating every tier.
func Parse(data []byte, base *Catalog) (*Catalog, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, sparkflow.Wrap(sparkflow.Invalid, err, "not a tier file ({\"tiers\": [...]})")
	}
	c := &Catalog{tiers: map[string]sparkflow.Tier{}}
	if base != nil {
		for _, n := range base.order {
			c.tiers[n] = base.tiers[n]
		}
		c.order = append(c.order, base.order...)
	}
	seen := map[string]bool{}
	for i, t := range f.Tiers {
		if err := Validate(t); err != nil {
			return nil, fmt.Errorf("tier %d (%s): %w", i+1, t.Name, err)
		}
		if seen[t.Name] {
			return nil, sparkflow.FieldError("name", "tier %q is defined twice", t.Name)
		}
		seen[t.Name] = true
		if _, ok := c.tiers[t.Name]; !ok {
			c.order = append(c.order, t.Name)
		}
		c.tiers[t.Name] = t
	}
	return c, nil
}

// Validate checks one tier.
func Validate(t sparkflow.Tier) error {
	if err := sparkflow.ValidateName("name", t.Name); err != nil {
		return err
	}
	if len(t.Primary.InstanceTypes) == 0 || t.Primary.OnDemandCapacity != 1 || t.Primary.SpotCapacity != 0 {
		return sparkflow.FieldError("primary", "the primary fleet is one on-demand node (onDemandCapacity 1, spotCapacity 0) with at least one instance type")
	}
	if len(t.Core.InstanceTypes) == 0 || t.Core.OnDemandCapacity+t.Core.SpotCapacity < 1 {
		return sparkflow.FieldError("core", "the core fleet needs at least one instance type and a capacity of at least 1")
	}
	for _, f := range []struct {
		name  string
		fleet sparkflow.InstanceFleet
	}{{"primary", t.Primary}, {"core", t.Core}, {"task", t.Task}} {
		if f.fleet.OnDemandCapacity < 0 || f.fleet.SpotCapacity < 0 {
			return sparkflow.FieldError(f.name, "capacities cannot be negative")
		}
		if len(f.fleet.InstanceTypes) > 30 {
			return sparkflow.FieldError(f.name, "EMR allows at most 30 instance types per fleet")
		}
		if f.fleet.OnDemandCapacity+f.fleet.SpotCapacity > 0 && len(f.fleet.InstanceTypes) == 0 {
			return sparkflow.FieldError(f.name, "a fleet with capacity needs at least one instance type")
		}
		for _, it := range f.fleet.InstanceTypes {
			if it == "" {
				return sparkflow.FieldError(f.name, "an instance type is empty")
			}
		}
	}
	if t.SpotTimeoutMinutes < minSpotTimeout || t.SpotTimeoutMinutes > maxSpotTimeout {
		return sparkflow.FieldError("spotTimeoutMinutes", "must be between %d and %d (EMR's spot provisioning timeout), got %d", minSpotTimeout, maxSpotTimeout, t.SpotTimeoutMinutes)
	}
	if t.StepConcurrency < 1 || t.StepConcurrency > sparkflow.MaxStepConcurrency {
		return sparkflow.FieldError("stepConcurrency", "must be between 1 and %d, got %d", sparkflow.MaxStepConcurrency, t.StepConcurrency)
	}
	return nil
}

// Get returns the named tier or a NotFound error listing the known tiers.
func (c *Catalog) Get(name string) (sparkflow.Tier, error) {
	t, ok := c.tiers[name]
	if !ok {
		return sparkflow.Tier{}, &sparkflow.Error{Code: sparkflow.Invalid, Field: "tier", Message: fmt.Sprintf("unknown tier %q; known tiers: %s", name, c.names())}
	}
	return t, nil
}

// All returns the tiers, built-in ones first in size order, then user tiers in file order.
func (c *Catalog) All() []sparkflow.Tier {
	out := make([]sparkflow.Tier, 0, len(c.order))
	for _, n := range c.order {
		out = append(out, c.tiers[n])
	}
	return out
}

func (c *Catalog) names() string {
	n := append([]string(nil), c.order...)
	sort.Strings(n)
	s := ""
	for i, x := range n {
		if i > 0 {
			s += ", "
		}
		s += x
	}
	return s
}
