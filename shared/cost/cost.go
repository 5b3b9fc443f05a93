// Package cost says what clusters, pools and runs cost: a price catalogue as data (the on-demand EC2
// price and the EMR price per instance-hour, by region and instance type, and an estimated spot
// discount), shipped as an embedded JSON file with its source and date and overridable by the user's
// own file, applied to the instances of a cluster's tier. Every figure is an estimate: the tier says
// which instance types a fleet may use, not which EMR picked, and spot prices move.
package cost

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

//go:embed prices.json
var defaultFile []byte

// Price is what one instance of a type costs an hour: EC2's on-demand price and EMR's own.
type Price struct {
	EC2 float64 `json:"ec2"`
	EMR float64 `json:"emr"`
}

// File is the shape of a price file.
type File struct {
	Currency     string                      `json:"currency,omitempty"`
	Date         string                      `json:"date,omitempty"`
	Source       string                      `json:"source,omitempty"`
	SpotDiscount *float64                    `json:"spotDiscount,omitempty"`
	SpotSource   string                      `json:"spotSource,omitempty"`
	Regions      map[string]map[string]Price `json:"regions"`
}

// Catalogue is a validated price file.
type Catalogue struct {
	Currency, Date, Source, SpotSource string
	// SpotDiscount is the share of the on-demand EC2 price a spot instance saves (EMR's price is
	// the same for both).
	SpotDiscount float64
	regions      map[string]map[string]Price
}

// DefaultRegion is the region whose prices stand in for a region the catalogue has none for (and for
// the local clusters, which have no region).
const DefaultRegion = "us-east-1"

// builtIn is the built-in catalogue, read once.
var builtIn = sync.OnceValue(func() *Catalogue {
	c, err := Parse(defaultFile, nil)
	if err != nil {
		panic(fmt.Sprintf("built-in prices.json is invalid: %v", err)) // caught by the package's tests
	}
	return c
})

// Default returns the built-in catalogue (a copy of its fields; its prices are shared and never
// changed: Parse copies them before laying a file over them).
func Default() *Catalogue {
	c := *builtIn()
	return &c
}

// Load returns the built-in catalogue with the price file at path ("" for none) laid over it: its
// prices replace or add to the built-in ones type by type, its date, source and spot discount replace
// theirs when it gives them.
func Load(path string) (*Catalogue, error) {
	if path == "" {
		return Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, sparkflow.Wrap(sparkflow.Invalid, err, "read price file")
	}
	c, err := Parse(data, Default())
	if err != nil {
		return nil, sparkflow.Wrap(sparkflow.Invalid, err, "price file %s", path)
	}
	return c, nil
}

// Parse reads a price file on top of base (nil for none).
func Parse(data []byte, base *Catalogue) (*Catalogue, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, sparkflow.Wrap(sparkflow.Invalid, err, `not a price file ({"regions": {"us-east-1": {"m7g.xlarge": {"ec2": 0.1632, "emr": 0.0408}}}})`)
	}
	c := &Catalogue{Currency: "USD", regions: map[string]map[string]Price{}}
	if base != nil {
		*c = *base
		c.regions = map[string]map[string]Price{}
		for r, types := range base.regions {
			c.regions[r] = map[string]Price{}
			for t, p := range types {
				c.regions[r][t] = p
			}
		}
	}
	for _, v := range []struct {
		dst *string
		src string
	}{{&c.Currency, f.Currency}, {&c.Date, f.Date}, {&c.Source, f.Source}, {&c.SpotSource, f.SpotSource}} {
		if v.src != "" {
			*v.dst = v.src
		}
	}
	if f.SpotDiscount != nil {
		if *f.SpotDiscount < 0 || *f.SpotDiscount >= 1 {
			return nil, sparkflow.FieldError("spotDiscount", "is the share of the on-demand price spot saves, from 0 to below 1, got %v", *f.SpotDiscount)
		}
		c.SpotDiscount = *f.SpotDiscount
	}
	for r, types := range f.Regions {
		if c.regions[r] == nil {
			c.regions[r] = map[string]Price{}
		}
		for t, p := range types {
			if t == "" || p.EC2 < 0 || p.EMR < 0 {
				return nil, sparkflow.FieldError("regions."+r, "instance type %q: a name and prices of at least 0", t)
			}
			c.regions[r][t] = p
		}
	}
	return c, nil
}

// Rate is what a cluster costs an hour, and what that was worked out from.
type Rate struct {
	PerHour float64 `json:"perHour"`
	// Region whose prices were used; Types the instance type priced for each fleet (the first of the
	// fleet's types the catalogue prices); Missing the fleets none of whose types it prices (counted 0).
	Region  string            `json:"region"`
	Types   map[string]string `json:"types"`
	Missing []string          `json:"missing,omitempty"`
	// FromEMR: priced from the instances EMR says the cluster runs (Types then maps each priced type
	// to its count and market, Missing lists the types the catalogue has no price for), not its tier.
	FromEMR bool `json:"fromEMR,omitempty"`
}

// InstancesRate is what a cluster running these instances costs an hour in region: each on-demand
// instance at EC2's and EMR's price, each spot one at EC2's less the spot discount plus EMR's.
func (c *Catalogue) InstancesRate(in []sparkflow.InstanceCount, region string) Rate {
	if c.regions[region] == nil {
		region = DefaultRegion
	}
	prices := c.regions[region]
	r := Rate{Region: region, Types: map[string]string{}, FromEMR: true}
	for _, i := range in {
		p, ok := prices[i.Type]
		if !ok {
			r.Missing = append(r.Missing, i.Type)
			continue
		}
		ec2, market := p.EC2, "on-demand"
		if i.Spot {
			ec2, market = p.EC2*(1-c.SpotDiscount), "spot"
		}
		r.PerHour += float64(i.Count) * (ec2 + p.EMR)
		k := i.Type
		if i.Spot {
			k += " (spot)"
		}
		r.Types[k] = fmt.Sprintf("%d %s", i.Count, market)
	}
	return r
}

// Rates prices one pool's clusters: a cluster whose instances EMR listed at those, the others at the
// pool's tier (an estimate: the tier's first priced type of each fleet).
type Rates struct {
	Tier     Rate
	Clusters map[string]Rate // by cluster id, the ones priced from EMR's instances
}

// PoolRates is the Rates of clusters of tier t in region.
func (c *Catalogue) PoolRates(t sparkflow.Tier, clusters []sparkflow.Cluster, region string) Rates {
	rs := Rates{Tier: c.ClusterRate(t, region), Clusters: map[string]Rate{}}
	for _, cl := range clusters {
		if len(cl.Instances) > 0 {
			rs.Clusters[cl.ID] = c.InstancesRate(cl.Instances, region)
		}
	}
	return rs
}

// Of is the rate of a cluster (the tier's when EMR did not list its instances, or it is unknown).
func (rs Rates) Of(clusterID string) Rate {
	if r, ok := rs.Clusters[clusterID]; ok {
		return r
	}
	return rs.Tier
}

// ClusterRate is what a cluster of tier t costs an hour in region ("" or a region the catalogue has
// no prices for: DefaultRegion's): each fleet's on-demand instances at EC2's and EMR's price, its spot
// ones at EC2's less the spot discount plus EMR's.
func (c *Catalogue) ClusterRate(t sparkflow.Tier, region string) Rate {
	if c.regions[region] == nil {
		region = DefaultRegion
	}
	prices := c.regions[region]
	r := Rate{Region: region, Types: map[string]string{}}
	for _, f := range []struct {
		name  string
		fleet sparkflow.InstanceFleet
	}{{"primary", t.Primary}, {"core", t.Core}, {"task", t.Task}} {
		n := f.fleet.OnDemandCapacity + f.fleet.SpotCapacity
		if n == 0 {
			continue
		}
		priced := ""
		for _, it := range f.fleet.InstanceTypes {
			if _, ok := prices[it]; ok {
				priced = it
				break
			}
		}
		if priced == "" {
			r.Missing = append(r.Missing, f.name)
			continue
		}
		p := prices[priced]
		r.Types[f.name] = priced
		r.PerHour += float64(f.fleet.OnDemandCapacity)*(p.EC2+p.EMR) + float64(f.fleet.SpotCapacity)*(p.EC2*(1-c.SpotDiscount)+p.EMR)
	}
	return r
}

// hours is the time from start to end (now when end is nil) in hours, 0 when it has not started.
func hours(start, end *time.Time, now time.Time) float64 {
	if start == nil || start.IsZero() {
		return 0
	}
	to := now
	if end != nil {
		to = *end
	}
	return max(to.Sub(*start).Hours(), 0)
}

// Cluster is what a cluster has cost so far (to its end, or now), billed from its launch.
func Cluster(c sparkflow.Cluster, r Rate, now time.Time) float64 {
	created := c.CreatedAt
	return hours(&created, c.EndedAt, now) * r.PerHour
}

// Run is what a run cost: its cluster's cost over the run's time (from its step's start to its end,
// or now) times its share of the cluster's slots (one of capacity).
func Run(run sparkflow.Run, r Rate, capacity int, now time.Time) float64 {
	return hours(run.StartedAt, run.EndedAt, now) * r.PerHour / float64(max(capacity, 1))
}

// Window is what clusters cost within [from, to): each from its launch (or from) to its end (or to),
// at its own rate.
func Window(clusters []sparkflow.Cluster, rs Rates, from, to time.Time) float64 {
	sum := 0.0
	for _, c := range clusters {
		start, end := c.CreatedAt, to
		if c.EndedAt != nil && c.EndedAt.Before(end) {
			end = *c.EndedAt
		}
		if start.Before(from) {
			start = from
		}
		if end.After(start) {
			sum += end.Sub(start).Hours() * rs.Of(c.ID).PerHour
		}
	}
	return sum
}

// Line is one row of a cost report: a pool's or a transform's runs and what they cost.
type Line struct {
	Key      string  `json:"key"`
	Runs     int     `json:"runs"`
	RunHours float64 `json:"runHours"`
	// RunCost is the runs' share of their clusters; ClusterCost (by pool only) is what the pool's
	// clusters cost in the window, busy or idle.
	RunCost     float64 `json:"runCost"`
	ClusterCost float64 `json:"clusterCost,omitempty"`
}

// Report is what runs and pools cost since a time, by pool or by transform.
type Report struct {
	Since    time.Time `json:"since"`
	Until    time.Time `json:"until"`
	By       string    `json:"by"`
	Currency string    `json:"currency"`
	Lines    []Line    `json:"lines"`
	// Notes say what the figures rest on (the catalogue's date and source, regions and fleets
	// without prices).
	Notes []string `json:"notes"`
}

// Build makes the report of the runs that started in [since, now) on pools (each with its tier),
// by "pool" or "transform".
func (c *Catalogue) Build(pools []sparkflow.PoolView, tierOf func(sparkflow.PoolView) (sparkflow.Tier, bool), runs []sparkflow.Run, region, by string, since, now time.Time) (Report, error) {
	if by != "pool" && by != "transform" {
		return Report{}, sparkflow.FieldError("by", "is pool or transform, got %q", by)
	}
	rep := Report{Since: since, Until: now, By: by, Currency: c.Currency}
	rep.Notes = append(rep.Notes, fmt.Sprintf("estimates from the price catalogue of %s (%s)", c.Date, c.Source))
	rates := map[string]Rates{}
	fromEMR, fromTier := 0, 0
	capacity := map[string]int{}
	lines := map[string]*Line{}
	line := func(k string) *Line {
		if lines[k] == nil {
			lines[k] = &Line{Key: k}
		}
		return lines[k]
	}
	for _, p := range pools {
		t, ok := tierOf(p)
		if !ok {
			rep.Notes = append(rep.Notes, fmt.Sprintf("pool %s: tier %s is unknown here: not priced", p.Name, p.Tier))
			continue
		}
		rs := c.PoolRates(t, p.ClusterRecords, region)
		r := rs.Tier
		if r.Region != region && region != "" {
			rep.Notes = append(rep.Notes, fmt.Sprintf("no prices for %s: %s's used", region, r.Region))
			region = r.Region
		}
		for _, m := range r.Missing {
			rep.Notes = append(rep.Notes, fmt.Sprintf("pool %s: no price for any instance type of its %s fleet: counted 0", p.Name, m))
		}
		for _, cl := range p.ClusterRecords {
			er, ok := rs.Clusters[cl.ID]
			if !ok {
				fromTier++
				continue
			}
			fromEMR++
			for _, m := range er.Missing {
				rep.Notes = append(rep.Notes, fmt.Sprintf("cluster %s: no price for its %s instances: counted 0", cl.ID, m))
			}
		}
		rates[p.Name], capacity[p.Name] = rs, p.StepConcurrency
		if by == "pool" {
			line(p.Name).ClusterCost = Window(p.ClusterRecords, rs, since, now)
		}
	}
	for _, run := range runs {
		if run.StartedAt == nil || run.StartedAt.Before(since) {
			continue
		}
		rs, ok := rates[run.Pool]
		if !ok {
			continue
		}
		r := rs.Of(run.ClusterID)
		k := run.Pool
		if by == "transform" {
			k = run.Transform
		}
		l := line(k)
		l.Runs++
		l.RunHours += hours(run.StartedAt, run.EndedAt, now)
		l.RunCost += Run(run, r, capacity[run.Pool], now)
	}
	if fromEMR > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("clusters priced from the instances EMR runs for them: %d; from their pool's tier: %d", fromEMR, fromTier))
	} else if fromTier > 0 {
		rep.Notes = append(rep.Notes, "clusters priced from their pool's tier (the first priced type of each fleet)")
	}
	for _, l := range lines {
		rep.Lines = append(rep.Lines, *l)
	}
	sort.Slice(rep.Lines, func(i, j int) bool {
		a, b := rep.Lines[i], rep.Lines[j]
		if a.RunCost+a.ClusterCost != b.RunCost+b.ClusterCost {
			return a.RunCost+a.ClusterCost > b.RunCost+b.ClusterCost
		}
		return a.Key < b.Key
	})
	return rep, nil
}

// TierFinder resolves a pool's tier: its own, or the backend's catalogue's.
func TierFinder(ctx context.Context, b sparkflow.Backend) func(sparkflow.PoolView) (sparkflow.Tier, bool) {
	known := map[string]sparkflow.Tier{}
	if ts, err := b.Tiers(ctx); err == nil {
		for _, t := range ts {
			known[t.Name] = t
		}
	}
	return func(p sparkflow.PoolView) (sparkflow.Tier, bool) {
		if p.CustomTier != nil {
			return *p.CustomTier, true
		}
		t, ok := known[p.Tier]
		return t, ok
	}
}

// Of is the report of what backend b's runs that started in the last window, and its pools, cost,
// reading at most limit of the newest runs (0: all).
func (c *Catalogue) Of(ctx context.Context, b sparkflow.Backend, region, by string, window time.Duration, limit int, now time.Time) (Report, error) {
	if window <= 0 {
		return Report{}, sparkflow.FieldError("since", "must be a positive duration such as 7d, 12h or 90m")
	}
	if by == "" {
		by = "pool"
	}
	pools, err := b.ListPools(ctx)
	if err != nil {
		return Report{}, err
	}
	runs, err := b.ListRuns(ctx, sparkflow.RunFilter{Limit: limit})
	if err != nil {
		return Report{}, err
	}
	from := now.Add(-window)
	rep, err := c.Build(pools, TierFinder(ctx, b), runs, region, by, from, now)
	if err != nil {
		return rep, err
	}
	if limit > 0 && len(runs) == limit && runs[len(runs)-1].CreatedAt.After(from) {
		rep.Notes = append(rep.Notes, fmt.Sprintf("only the newest %d runs were read", limit))
	}
	return rep, nil
}

// ParseWindow reads a window such as 7d, 12h or 90m.
func ParseWindow(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 {
			return 0, sparkflow.FieldError("since", "%q is not a number of days such as 7d", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, sparkflow.FieldError("since", "%q is not a duration such as 7d, 12h or 90m", s)
	}
	return d, nil
}
