package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/emr"
	"github.com/spf13/cobra"

	"github.com/sparkflow/sparkflow/shared/aws/emrimport"
	"github.com/sparkflow/sparkflow/shared/front/webui"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tiers"
)

func newPoolImportCmd(g *globals) *cobra.Command {
	var (
		from     string
		clusters int
		dryRun   bool
		wait     bool
		limit    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "import NAME --from-cluster j-XXXX",
		Short: "Create a pool of clusters like a running EMR cluster",
		Long: `Reads an EMR cluster with your AWS configuration (profile, AWS_REGION; it needs
elasticmapreduce:DescribeCluster, ListInstanceGroups or ListInstanceFleets, ListBootstrapActions and
GetAutoTerminationPolicy) and creates a pool with its release, applications, configurations, step
concurrency, idle timeout, log location, network, roles and tags. Its instances map to the catalogue
tier they match exactly, or to a tier of the pool's own. What a pool cannot carry (bootstrap
actions, a custom AMI, …) is listed before anything is created; --dry-run stops there.`,
		Example: `  sparkflow pool import nightly --from-cluster j-2AXXXXXXGAPLF --dry-run
  sparkflow pool import nightly --from-cluster j-2AXXXXXXGAPLF --clusters 3 --wait`,
		Args: exactArgs(1, "NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			if from == "" {
				return sparkflow.Errorf(sparkflow.Invalid, "--from-cluster is required: the id (j-…) of the EMR cluster to clone (aws emr list-clusters --active lists them)")
			}
			cfg, err := config.LoadDefaultConfig(c.Context())
			if err != nil {
				return sparkflow.Wrap(sparkflow.Invalid, err, "AWS configuration")
			}
			if cfg.Region == "" {
				return sparkflow.Errorf(sparkflow.Invalid, "no AWS region to read cluster %s in: set AWS_REGION or a profile's region", from)
			}
			// (Matched against the built-in tiers: a cluster like none of them makes a tier of the pool's own.)
			res, err := emrimport.FromCluster(c.Context(), emr.NewFromConfig(cfg), from, args[0], tiers.Default())
			if err != nil {
				return err
			}
			res.Pool.Clusters = clusters
			for _, n := range res.Notes {
				fmt.Fprintln(c.ErrOrStderr(), "note: "+n)
			}
			if dryRun {
				return g.emit(c.OutOrStdout(), res, func(tw *tabwriter.Writer) { importTable(tw, res) })
			}
			v, err := g.backend().CreatePool(c.Context(), res.Pool)
			if err != nil {
				return err
			}
			if wait {
				if v, err = waitPoolReady(c, g, v.Name, limit); err != nil {
					return err
				}
			}
			return g.emit(c.OutOrStdout(), v, func(tw *tabwriter.Writer) { poolTable(tw, v, "", nil) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from-cluster", "", "id of the EMR cluster to clone (j-…)")
	f.IntVar(&clusters, "clusters", 1, "number of clusters in the pool")
	f.BoolVar(&dryRun, "dry-run", false, "show the pool the cluster makes, create nothing")
	f.BoolVar(&wait, "wait", false, "wait until every cluster is ready")
	f.DurationVar(&limit, "wait-timeout", 30*time.Minute, "how long --wait waits")
	return cmd
}

// importTable shows the pool an import would create.
func importTable(tw *tabwriter.Writer, res emrimport.Result) {
	p := res.Pool
	row(tw, "Pool:", p.Name+" (not created: --dry-run)")
	tier := p.Tier + " (catalogue)"
	if p.CustomTier != nil {
		tier = ownTier(p)
	}
	row(tw, "Tier:", tier)
	row(tw, "Clusters:", p.Clusters)
	row(tw, "Release:", p.ReleaseLabel+" "+strings.Join(p.Applications, ","))
	row(tw, "Step concurrency:", p.StepConcurrency)
	var classes []string
	for _, c := range p.Configurations {
		classes = append(classes, c.Classification)
	}
	if len(classes) > 0 {
		row(tw, "Configurations:", strings.Join(classes, ", "))
	}
	if p.IdleTimeoutSeconds > 0 {
		row(tw, "Idle timeout:", time.Duration(p.IdleTimeoutSeconds)*time.Second)
	}
	if p.LogURI != "" {
		row(tw, "Log URI:", p.LogURI)
	}
	n := p.Network
	row(tw, "Network:", fmt.Sprintf("subnets %s; key %s; security groups %s", orNone(strings.Join(n.SubnetIDs, ",")), orNone(n.KeyName), orNone(strings.Join(n.SecurityGroups, ","))))
	row(tw, "Roles:", fmt.Sprintf("service %s; instance profile %s", orNone(n.ServiceRole), orNone(n.InstanceProfile)))
}

func orNone(s string) string {
	if s == "" {
		return "(the deployment's)"
	}
	return s
}

// accountImporter gives the web UI the AWS account's clusters to clone pools from, read with the
// user's AWS configuration (loaded on first use: a UI without AWS access says so on its import page).
type accountImporter struct {
	mu   sync.Mutex
	acct *emrimport.Account
}

func (a *accountImporter) account(ctx context.Context) (*emrimport.Account, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.acct != nil {
		return a.acct, nil
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, sparkflow.Wrap(sparkflow.Invalid, err, "AWS configuration")
	}
	if cfg.Region == "" {
		return nil, sparkflow.Errorf(sparkflow.Invalid, "no AWS region to list clusters in: start the UI with AWS_REGION or a profile's region set")
	}
	a.acct = &emrimport.Account{API: emr.NewFromConfig(cfg), Catalog: tiers.Default()}
	return a.acct, nil
}

func (a *accountImporter) Clusters(ctx context.Context) ([]webui.ClusterSummary, error) {
	acct, err := a.account(ctx)
	if err != nil {
		return nil, err
	}
	cs, err := acct.Clusters(ctx)
	out := make([]webui.ClusterSummary, 0, len(cs))
	for _, c := range cs {
		out = append(out, webui.ClusterSummary{ID: c.ID, Name: c.Name, State: c.State, Created: c.Created})
	}
	return out, err
}

func (a *accountImporter) Describe(ctx context.Context, id, pool string) (sparkflow.Pool, []string, error) {
	acct, err := a.account(ctx)
	if err != nil {
		return sparkflow.Pool{}, nil, err
	}
	return acct.Describe(ctx, id, pool)
}
