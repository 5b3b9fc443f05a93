package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"

	"github.com/sparkflow/sparkflow/shared/cost"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// EnvPrices names a price file laid over the built-in catalogue (as --prices does).
const EnvPrices = "SPARKFLOW_PRICES"

// pricing is the price catalogue (the built-in one with the user's file laid over it) and the region
// whose prices apply: the AWS configuration's on --target aws, none (the catalogue's default) for
// local clusters, which are priced as the same clusters on EMR would be.
func (g *globals) pricing(ctx context.Context, file string) (*cost.Catalogue, string, error) {
	if file == "" {
		file = os.Getenv(EnvPrices)
	}
	c, err := cost.Load(file)
	if err != nil {
		return nil, "", err
	}
	region := ""
	if g.target == "aws" {
		if cfg, err := config.LoadDefaultConfig(ctx); err == nil {
			region = cfg.Region
		}
	}
	return c, region, nil
}

func money(v float64, currency string) string {
	if currency == "USD" || currency == "" {
		return fmt.Sprintf("$%.2f", v)
	}
	return fmt.Sprintf("%.2f %s", v, currency)
}

// rateOf is the catalogue and the hourly rates of pool p's clusters (ok false when it cannot tell).
func (g *globals) rateOf(ctx context.Context, p sparkflow.PoolView) (*cost.Catalogue, sparkflow.Tier, cost.Rates, bool) {
	c, region, err := g.pricing(ctx, "")
	if err != nil {
		return nil, sparkflow.Tier{}, cost.Rates{}, false
	}
	t, ok := cost.TierFinder(ctx, g.backend())(p)
	if !ok {
		return nil, sparkflow.Tier{}, cost.Rates{}, false
	}
	return c, t, c.PoolRates(t, p.ClusterRecords, region), true
}

// rateText says what a rate is: a cluster's EMR instances, or its tier's (an estimate).
func rateText(r cost.Rate, tier, currency string) string {
	if r.FromEMR {
		var in []string
		for typ, n := range r.Types {
			in = append(in, n+" "+typ)
		}
		sort.Strings(in)
		return fmt.Sprintf("a %s/h cluster in %s (its instances, as EMR lists them: %s)", money(r.PerHour, currency), r.Region, strings.Join(in, ", "))
	}
	return fmt.Sprintf("a %s/h %s cluster in %s (estimate from the tier)", money(r.PerHour, currency), tier, r.Region)
}

// runCost says what a run cost (its share of its cluster over its time), or "" when it cannot tell.
func (g *globals) runCost(ctx context.Context, r sparkflow.Run) string {
	if r.StartedAt == nil {
		return ""
	}
	p, err := g.backend().GetPool(ctx, r.Pool)
	if err != nil {
		return ""
	}
	c, t, rates, ok := g.rateOf(ctx, p)
	if !ok {
		return ""
	}
	rate := rates.Of(r.ClusterID)
	return fmt.Sprintf("%s (1 of %d slots of %s, over the run's time)", money(cost.Run(r, rate, p.StepConcurrency, time.Now()), c.Currency),
		max(p.StepConcurrency, 1), rateText(rate, t.Name, c.Currency))
}

// poolCost says what a pool's clusters cost an hour now and so far, and what each has cost so far
// (by id), or "" and nil when it cannot tell.
func (g *globals) poolCost(ctx context.Context, p sparkflow.PoolView) (string, map[string]string) {
	c, _, rates, ok := g.rateOf(ctx, p)
	if !ok {
		return "", nil
	}
	each := map[string]string{}
	live, listed, perHour, so := 0, 0, 0.0, 0.0
	for _, cl := range p.ClusterRecords {
		rate := rates.Of(cl.ID)
		if !cl.State.Ended() {
			live++
			perHour += rate.PerHour
			if rate.FromEMR {
				listed++
			}
		}
		one := cost.Cluster(cl, rate, time.Now())
		so += one
		each[cl.ID] = money(one, c.Currency)
	}
	how := fmt.Sprintf("at %s/h each from the tier, %s prices: an estimate", money(rates.Tier.PerHour, c.Currency), rates.Tier.Region)
	if listed > 0 {
		how = fmt.Sprintf("%d priced from the instances EMR runs for them, %d from the tier, %s prices", listed, live-listed, rates.Tier.Region)
	}
	return fmt.Sprintf("%s/h now (%d clusters, %s); %s so far for the clusters on record",
		money(perHour, c.Currency), live, how, money(so, c.Currency)), each
}

func newCostCmd(g *globals) *cobra.Command {
	var (
		since  time.Duration
		by     string
		prices string
		limit  int
	)
	cmd := &cobra.Command{
		Use:   "cost [--since 7d] [--by pool|transform]",
		Short: "What runs and pools cost (estimates from a price catalogue)",
		Long: `Prices the runs that started in the window and the pools' clusters with a price catalogue: AWS's
on-demand EC2 and EMR prices per instance-hour for the built-in tiers' types (us-east-1; its date and
source are printed), spot at an estimated discount; --prices FILE (env SPARKFLOW_PRICES) lays your own
prices over it. A run costs its share of its cluster (one of its slots) over its time; by pool, the
clusters' own cost in the window (busy or idle) is shown beside the runs'. Every figure is an
estimate: a tier names the types a fleet may use, not those EMR picked.`,
		Example: `  sparkflow cost
  sparkflow cost --since 30d --by transform -o json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cat, region, err := g.pricing(c.Context(), prices)
			if err != nil {
				return err
			}
			rep, err := cat.Of(c.Context(), g.backend(), region, by, since, limit, time.Now())
			if err != nil {
				return err
			}
			for _, n := range rep.Notes {
				fmt.Fprintln(c.ErrOrStderr(), "note: "+n)
			}
			return g.emit(c.OutOrStdout(), rep, func(tw *tabwriter.Writer) {
				head := []any{strings.ToUpper(by), "RUNS", "RUN-HOURS", "RUNS' COST"}
				if by == "pool" {
					head = append(head, "CLUSTERS' COST")
				}
				row(tw, head...)
				var runsTotal, clustersTotal float64
				for _, l := range rep.Lines {
					cols := []any{l.Key, l.Runs, fmt.Sprintf("%.1f", l.RunHours), money(l.RunCost, rep.Currency)}
					if by == "pool" {
						cols = append(cols, money(l.ClusterCost, rep.Currency))
					}
					row(tw, cols...)
					runsTotal += l.RunCost
					clustersTotal += l.ClusterCost
				}
				total := []any{"total", "", "", money(runsTotal, rep.Currency)}
				if by == "pool" {
					total = append(total, money(clustersTotal, rep.Currency))
				}
				row(tw, total...)
			})
		},
	}
	cmd.Annotations = map[string]string{fieldFlags: "since=--since,by=--by"}
	f := cmd.Flags()
	f.Var(dayDuration{&since}, "since", "window: the runs that started in the last DURATION (7d, 12h, 90m)")
	since = 7 * 24 * time.Hour
	f.StringVar(&by, "by", "pool", "group by pool or transform")
	f.StringVar(&prices, "prices", "", "price file laid over the built-in catalogue (env "+EnvPrices+")")
	f.IntVar(&limit, "limit", 100000, "read at most this many of the newest runs")
	return cmd
}

// dayDuration is a duration flag that also takes days (7d).
type dayDuration struct{ d *time.Duration }

func (v dayDuration) String() string {
	if v.d == nil {
		return ""
	}
	if *v.d%(24*time.Hour) == 0 && *v.d > 0 {
		return fmt.Sprintf("%dd", *v.d/(24*time.Hour))
	}
	return v.d.String()
}

func (v dayDuration) Set(s string) error {
	d, err := cost.ParseWindow(s)
	if err != nil {
		return err
	}
	*v.d = d
	return nil
}

func (dayDuration) Type() string { return "duration" }
