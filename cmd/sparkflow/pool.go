package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/front/display"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func newPoolCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "pool", Short: "Create, list, show, heal and delete pools of clusters"}
	cmd.AddCommand(newPoolCreateCmd(g), &cobra.Command{
		Use: "list", Short: "List pools", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ps, err := g.backend().ListPools(c.Context())
			if err != nil {
				return err
			}
			return g.emit(c.OutOrStdout(), ps, func(tw *tabwriter.Writer) {
				row(tw, "NAME", "TIER", "STATUS", "READY", "SLOTS", "RELEASE", "AGE")
				for _, p := range ps {
					status := string(p.Status)
					if p.LaunchesHeld {
						status += " (launches held: sparkflow pool show " + p.Name + ")"
					}
					row(tw, p.Name, p.Tier, status, fmt.Sprintf("%d/%d", p.Ready, p.Clusters), fmt.Sprintf("%d/%d", p.SlotsUsed, p.SlotsTotal), p.ReleaseLabel, display.Ago(time.Now(), p.CreatedAt))
				}
			})
		},
	}, &cobra.Command{
		Use: "show NAME", Short: "Show a pool and its clusters", Args: exactArgs(1, "NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			p, err := g.backend().GetPool(c.Context(), args[0])
			if err != nil {
				return err
			}
			costLine, each := g.poolCost(c.Context(), p)
			return g.emit(c.OutOrStdout(), p, func(tw *tabwriter.Writer) { poolTable(tw, p, costLine, each) })
		},
	}, newPoolImportCmd(g), newPoolDeleteCmd(g), newPoolHealCmd(g))
	return cmd
}

// clusterCost is what each cluster has cost so far, by id (nil: not priced).
func poolTable(tw *tabwriter.Writer, p sparkflow.PoolView, costLine string, clusterCost map[string]string) {
	row(tw, "Pool:", p.Name)
	if p.CustomTier != nil {
		row(tw, "Tier:", ownTier(p.Pool))
	} else {
		row(tw, "Tier:", p.Tier)
	}
	row(tw, "Status:", p.Status)
	if l := launches(p); l != "" {
		row(tw, "Launches:", l)
	}
	if p.MinClusters != nil {
		row(tw, "Clusters:", fmt.Sprintf("%d ready; elastic %d..%d (%d kept, the others end after %s idle)", p.Ready, *p.MinClusters, p.Clusters, *p.MinClusters, time.Duration(p.IdleTimeoutSeconds)*time.Second))
	} else {
		row(tw, "Clusters:", fmt.Sprintf("%d ready of %d", p.Ready, p.Clusters))
	}
	row(tw, "Slots:", fmt.Sprintf("%d used of %d (step concurrency %d per cluster)", p.SlotsUsed, p.SlotsTotal, p.StepConcurrency))
	row(tw, "Release:", p.ReleaseLabel+" "+strings.Join(p.Applications, ","))
	if p.StartSamples > 0 {
		row(tw, "Start-up:", fmt.Sprintf("%s from launch to ready (the median of its newest %d clusters)", (time.Duration(p.StartSeconds*float64(time.Second))).Round(time.Second), p.StartSamples))
	}
	if p.MinClusters != nil {
		if p.SlotSeconds > 0 {
			row(tw, "Slot time:", fmt.Sprintf("%s a run on average (its newest runs; runs that a slot freed within a start-up serves launch no cluster)", (time.Duration(p.SlotSeconds*float64(time.Second))).Round(time.Second)))
		} else {
			row(tw, "Slot time:", "not measured yet (the reconciler measures it from ended runs): every run that waits beyond the free slots counts for a launch")
		}
	}
	if p.MaxQueue > 0 {
		row(tw, "Max queue:", p.MaxQueue)
	}
	if p.IdleTimeoutSeconds > 0 {
		row(tw, "Idle timeout:", time.Duration(p.IdleTimeoutSeconds)*time.Second)
	}
	if p.LogURI != "" {
		row(tw, "Log URI:", p.LogURI)
	}
	row(tw, "Created:", p.CreatedAt.Format(time.RFC3339))
	if costLine != "" {
		row(tw, "Cost:", costLine)
	}
	fmt.Fprintln(tw)
	row(tw, "CLUSTER", "STATE", "REASON", "SLOTS", "UPTIME", "HOURS", "COST")
	for _, c := range p.ClusterRecords {
		now := time.Now()
		up := display.Uptime(now, c)
		why := strings.TrimSpace(c.Reason.Code + " " + c.Reason.Message)
		if d := display.Drain(now, c); d != "" {
			why = d
		}
		row(tw, c.ID, c.State, display.OrDash(display.Truncate(why, 60)), fmt.Sprintf("%d/%d", len(c.Reservations), c.Capacity), up, c.NormalizedInstanceHours, display.OrDash(clusterCost[c.ID]))
	}
}

// ownTier describes the tier a pool carries (CustomTier).
func ownTier(p sparkflow.Pool) string {
	t := p.CustomTier
	fleet := func(f sparkflow.InstanceFleet) string {
		return fmt.Sprintf("%d on-demand + %d spot of %s", f.OnDemandCapacity, f.SpotCapacity, display.OrDash(strings.Join(f.InstanceTypes, ",")))
	}
	return fmt.Sprintf("%s (the pool's own): primary %s; core %s; task %s", p.Tier, fleet(t.Primary), fleet(t.Core), fleet(t.Task))
}

// launches says why a pool is not launching what it lacks, if it is not: held after failed starts
// (with EMR's reason and what to do), backing off, or waiting for work after idle endings.
func launches(p sparkflow.PoolView) string {
	f := p.LastStartFailure
	why := ""
	if f != nil {
		why = fmt.Sprintf("%s: %s (cluster %s, %s)", f.Reason.Code, f.Reason.Message, f.ClusterID, f.At.Format(time.RFC3339))
	}
	switch {
	case p.LaunchesHeld:
		return fmt.Sprintf("HELD after %d clusters in a row failed to start; last %s. Fix the cause, then run: sparkflow pool heal %s", p.StartFailures, why, p.Name)
	case p.NextLaunchAt != nil:
		return fmt.Sprintf("next after %s (%d failed starts in a row; last %s)", p.NextLaunchAt.Format(time.RFC3339), p.StartFailures, why)
	case p.IdleEnded > 0:
		return fmt.Sprintf("%d of %d clusters ended for idleness; launched again when runs wait for them", p.IdleEnded, p.Clusters)
	}
	return ""
}

func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s needs %s (see '%s --help')", c.CommandPath(), names, c.CommandPath())
		}
		return nil
	}
}

func parseKV(list []string, flag string) (map[string]string, error) {
	if len(list) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--%s %q: expected KEY=VALUE", flag, kv)
		}
		out[k] = v
	}
	return out, nil
}

func newPoolCreateCmd(g *globals) *cobra.Command {
	var (
		p     sparkflow.Pool
		idle  time.Duration
		min   int
		tags  []string
		wait  bool
		limit time.Duration
	)
	cmd := &cobra.Command{
		Use:   "create NAME --tier TIER --clusters N",
		Short: "Create a pool and launch its clusters",
		Example: `  sparkflow pool create etl --tier small --clusters 3
  sparkflow pool create adhoc --tier tiny --clusters 1 --idle-timeout 1h --tag team=data --wait
  sparkflow pool create nightly --tier medium --min-clusters 1 --clusters 6 --idle-timeout 15m   # elastic: 1..6`,
		Args: exactArgs(1, "NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			p.Name = args[0]
			p.IdleTimeoutSeconds = int(idle / time.Second)
			if c.Flags().Changed("min-clusters") {
				p.MinClusters = &min
			}
			var err error
			if p.Tags, err = parseKV(tags, "tag"); err != nil {
				return err
			}
			b := g.backend()
			v, err := b.CreatePool(c.Context(), p)
			if err != nil {
				return err
			}
			if wait {
				if v, err = waitPoolReady(c, g, p.Name, limit); err != nil {
					return err
				}
			}
			return g.emit(c.OutOrStdout(), v, func(tw *tabwriter.Writer) { poolTable(tw, v, "", nil) })
		},
	}
	cmd.Annotations = map[string]string{fieldFlags: "tier=--tier,clusters=--clusters,minClusters=--min-clusters,releaseLabel=--release-label,applications=--applications,logUri=--log-uri,stepConcurrency=--step-concurrency,idleTimeoutSeconds=--idle-timeout,maxQueue=--max-queue,network.subnetIds=--subnet,network.keyName=--key-name,network.securityGroups=--security-group,network.serviceRole=--service-role,network.instanceProfile=--instance-profile,tags=--tag"}
	f := cmd.Flags()
	f.StringVar(&p.Tier, "tier", "", "size tier (sparkflow tier list)")
	f.IntVar(&p.Clusters, "clusters", 1, "number of clusters (the most, with --min-clusters)")
	f.IntVar(&min, "min-clusters", 0, "make the pool elastic: keep this many clusters (0 allowed), launch up to --clusters when runs wait, end those after --idle-timeout idle")
	f.StringVar(&p.ReleaseLabel, "release-label", sparkflow.DefaultReleaseLabel, "EMR release label")
	f.StringSliceVar(&p.Applications, "applications", []string{"Spark"}, "EMR applications")
	f.StringVar(&p.LogURI, "log-uri", "", "S3 location of EMR logs (AWS)")
	f.IntVar(&p.StepConcurrency, "step-concurrency", 0, "slots per cluster (default: the tier's)")
	f.DurationVar(&idle, "idle-timeout", 0, "terminate an idle cluster after this long (EMR auto-termination; 0: never)")
	f.IntVar(&p.MaxQueue, "max-queue", 0, "most runs that may wait for a slot; a submit beyond it is refused (0: no limit)")
	f.BoolVar(&p.TerminationProtection, "termination-protection", false, "turn on EMR termination protection")
	f.StringSliceVar(&p.Network.SubnetIDs, "subnet", nil, "EC2 subnet ids (AWS)")
	f.StringVar(&p.Network.KeyName, "key-name", "", "EC2 key pair (AWS)")
	f.StringSliceVar(&p.Network.SecurityGroups, "security-group", nil, "extra security groups (AWS)")
	f.StringVar(&p.Network.ServiceRole, "service-role", "", "EMR service role (AWS)")
	f.StringVar(&p.Network.InstanceProfile, "instance-profile", "", "EC2 instance profile of the clusters (AWS)")
	f.StringArrayVar(&tags, "tag", nil, "tag KEY=VALUE (repeatable)")
	f.BoolVar(&wait, "wait", false, "wait until every cluster is ready")
	f.DurationVar(&limit, "wait-timeout", 30*time.Minute, "how long --wait waits")
	return cmd
}

func waitPoolReady(c *cobra.Command, g *globals, name string, limit time.Duration) (sparkflow.PoolView, error) {
	deadline := time.Now().Add(limit)
	last := ""
	for {
		v, err := g.backend().GetPool(c.Context(), name)
		if err != nil {
			return v, err
		}
		line := fmt.Sprintf("pool %s: %s, %d of %d clusters ready", name, v.Status, v.Ready, v.Clusters)
		if line != last {
			fmt.Fprintln(c.ErrOrStderr(), line)
			last = line
		}
		if v.Status == sparkflow.PoolReady {
			return v, nil
		}
		if v.LaunchesHeld {
			return v, sparkflow.Errorf(sparkflow.Conflict, "pool %s will not become ready: %s", name, launches(v))
		}
		if time.Now().After(deadline) {
			return v, sparkflow.Errorf(sparkflow.Transient, "pool %s not ready after %s", name, limit)
		}
		select {
		case <-c.Context().Done():
			return v, c.Context().Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func newPoolDeleteCmd(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use: "delete NAME", Short: "Terminate a pool's clusters and remove the pool", Args: exactArgs(1, "NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			if err := g.backend().DeletePool(c.Context(), args[0], force); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "pool %s: clusters terminating; it is removed when they are gone\n", args[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "cancel the pool's active runs instead of refusing")
	return cmd
}

func newPoolHealCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "heal NAME", Short: "Resume a pool's launches held after failed starts, and launch what it lacks", Args: exactArgs(1, "NAME"),
		Long: `A pool stops launching clusters after ` + fmt.Sprint(core.MaxStartFailures) + ` of them in a row failed to start (EMR's
reason is in 'sparkflow pool show NAME'): each failed launch is billed, and the cause (an untagged
subnet, a missing role, a failing bootstrap action) needs a person. Fix it, then heal the pool.`,
		RunE: func(c *cobra.Command, args []string) error {
			if err := g.backend().HealPool(c.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "pool %s: launches resumed; it launches what it lacks\n", args[0])
			return nil
		},
	}
}

func newTierCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "tier", Short: "Show the size tiers"}
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List the size tiers", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ts, err := g.backend().Tiers(c.Context())
			if err != nil {
				return err
			}
			return g.emit(c.OutOrStdout(), ts, func(tw *tabwriter.Writer) {
				row(tw, "TIER", "SLOTS", "CORE", "TASK (SPOT)", "DESCRIPTION")
				for _, t := range ts {
					row(tw, t.Name, t.StepConcurrency, fmt.Sprintf("%d× %s", t.Core.OnDemandCapacity+t.Core.SpotCapacity, strings.Join(t.Core.InstanceTypes, "|")),
						fmt.Sprintf("%d", t.Task.SpotCapacity+t.Task.OnDemandCapacity), t.Description)
				}
			})
		},
	})
	return cmd
}
