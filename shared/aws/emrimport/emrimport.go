// Package emrimport reads a running (or ended) EMR cluster and describes a pool of clusters like it:
// its release, applications, configurations, step concurrency, idle timeout, log location, network,
// roles and tags, and its instances mapped to a tier of the catalogue or, when none matches, to a tier
// of the pool's own. What a pool cannot carry (bootstrap actions, a custom AMI, EBS sizes, …) is named
// in the notes, so the user knows what the clone leaves out.
package emrimport

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/emr"
	"github.com/aws/aws-sdk-go-v2/service/emr/types"
	"github.com/aws/smithy-go"

	"github.com/sparkflow/sparkflow/shared/aws/names"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tiers"
)

// API is the part of the EMR client an import uses (all reads).
type API interface {
	DescribeCluster(context.Context, *emr.DescribeClusterInput, ...func(*emr.Options)) (*emr.DescribeClusterOutput, error)
	ListInstanceGroups(context.Context, *emr.ListInstanceGroupsInput, ...func(*emr.Options)) (*emr.ListInstanceGroupsOutput, error)
	ListInstanceFleets(context.Context, *emr.ListInstanceFleetsInput, ...func(*emr.Options)) (*emr.ListInstanceFleetsOutput, error)
	ListBootstrapActions(context.Context, *emr.ListBootstrapActionsInput, ...func(*emr.Options)) (*emr.ListBootstrapActionsOutput, error)
	GetAutoTerminationPolicy(context.Context, *emr.GetAutoTerminationPolicyInput, ...func(*emr.Options)) (*emr.GetAutoTerminationPolicyOutput, error)
}

// Result is the pool an import describes (not created yet) and what the user should know about it.
type Result struct {
	Pool sparkflow.Pool `json:"pool"`
	// CatalogTier: the cluster's instances are those of a catalogue tier, which the pool names (else
	// it carries its own, Pool.CustomTier).
	CatalogTier bool     `json:"catalogTier"`
	Notes       []string `json:"notes"`
}

// DefaultSpotTimeoutMinutes is the spot timeout of an imported tier whose cluster has no spot
// provisioning specification (instance groups, say).
const DefaultSpotTimeoutMinutes = 10

// FromCluster describes a pool named name of clusters like cluster id. catalog maps its instances to
// a tier when one matches exactly.
func FromCluster(ctx context.Context, api API, id, name string, catalog *tiers.Catalog) (Result, error) {
	if err := sparkflow.ValidateName("name", name); err != nil {
		return Result{}, err
	}
	out, err := api.DescribeCluster(ctx, &emr.DescribeClusterInput{ClusterId: aws.String(id)})
	if err != nil {
		return Result{}, classify("describe cluster "+id, err)
	}
	c := out.Cluster
	if c == nil {
		return Result{}, sparkflow.Errorf(sparkflow.NotFound, "cluster %s not found", id)
	}
	var res Result
	note := func(format string, args ...any) { res.Notes = append(res.Notes, fmt.Sprintf(format, args...)) }
	p := sparkflow.Pool{Name: name, Clusters: 1, ReleaseLabel: aws.ToString(c.ReleaseLabel), LogURI: aws.ToString(c.LogUri),
		StepConcurrency: int(aws.ToInt32(c.StepConcurrencyLevel)), TerminationProtection: aws.ToBool(c.TerminationProtected)}
	if p.ReleaseLabel == "" {
		return Result{}, sparkflow.Errorf(sparkflow.Invalid, "cluster %s has no release label (an AMI-version cluster, older than EMR 4): SparkFlow pools need a release label", id)
	}
	for _, a := range c.Applications {
		if n := aws.ToString(a.Name); n != "" {
			p.Applications = append(p.Applications, n)
		}
	}
	p.Configurations = configurations(c.Configurations)
	if p.StepConcurrency < 1 {
		p.StepConcurrency = 1
	}
	if p.StepConcurrency > sparkflow.MaxStepConcurrency {
		note("step concurrency %d is over the most SparkFlow allows: %d", p.StepConcurrency, sparkflow.MaxStepConcurrency)
		p.StepConcurrency = sparkflow.MaxStepConcurrency
	}
	if a := c.Ec2InstanceAttributes; a != nil {
		p.Network.SubnetIDs = a.RequestedEc2SubnetIds
		if len(p.Network.SubnetIDs) == 0 && aws.ToString(a.Ec2SubnetId) != "" {
			p.Network.SubnetIDs = []string{aws.ToString(a.Ec2SubnetId)}
		}
		p.Network.KeyName = aws.ToString(a.Ec2KeyName)
		p.Network.InstanceProfile = lastPart(aws.ToString(a.IamInstanceProfile), ":instance-profile/")
		groups := union(a.AdditionalMasterSecurityGroups, a.AdditionalSlaveSecurityGroups)
		if len(groups) > 0 && !(slices.Equal(sorted(a.AdditionalMasterSecurityGroups), groups) && slices.Equal(sorted(a.AdditionalSlaveSecurityGroups), groups)) {
			note("the primary and the other nodes had different additional security groups; the pool gives all of them to every node: %s", strings.Join(groups, ", "))
		}
		p.Network.SecurityGroups = groups
		if len(a.RequestedEc2AvailabilityZones) > 0 {
			note("the cluster asked for availability zones (%s); a pool names subnets instead", strings.Join(a.RequestedEc2AvailabilityZones, ", "))
		}
	}
	p.Network.ServiceRole = lastPart(aws.ToString(c.ServiceRole), ":role/")
	for _, t := range c.Tags {
		k := aws.ToString(t.Key)
		if strings.HasPrefix(strings.ToLower(k), "aws:") || strings.HasPrefix(k, "sparkflow:") || k == names.ManagedPoliciesTag {
			continue // AWS's own, SparkFlow's own (set on launch), the managed policies' (set on launch)
		}
		if p.Tags == nil {
			p.Tags = map[string]string{}
		}
		p.Tags[k] = aws.ToString(t.Value)
	}
	if policy, err := api.GetAutoTerminationPolicy(ctx, &emr.GetAutoTerminationPolicyInput{ClusterId: aws.String(id)}); err != nil {
		note("its idle timeout (auto-termination policy) could not be read (%v): the pool has none; set one with --idle-timeout", err)
	} else if policy.AutoTerminationPolicy != nil {
		p.IdleTimeoutSeconds = int(aws.ToInt64(policy.AutoTerminationPolicy.IdleTimeout))
	}
	if aws.ToString(c.CustomAmiId) != "" {
		note("custom AMI %s is not carried: the pool's clusters use EMR's default AMI", aws.ToString(c.CustomAmiId))
	}
	if aws.ToString(c.SecurityConfiguration) != "" {
		note("security configuration %s is not carried", aws.ToString(c.SecurityConfiguration))
	}
	if aws.ToInt32(c.EbsRootVolumeSize) > 0 {
		note("the root volume size (%d GiB) is not carried: EMR's default applies", aws.ToInt32(c.EbsRootVolumeSize))
	}
	if c.KerberosAttributes != nil {
		note("Kerberos attributes are not carried")
	}
	if ba, err := api.ListBootstrapActions(ctx, &emr.ListBootstrapActionsInput{ClusterId: aws.String(id)}); err != nil {
		note("its bootstrap actions could not be read (%v)", err)
	} else if len(ba.BootstrapActions) > 0 {
		var ns []string
		for _, b := range ba.BootstrapActions {
			ns = append(ns, aws.ToString(b.Name)+" ("+aws.ToString(b.ScriptPath)+")")
		}
		note("bootstrap actions are not carried: %s", strings.Join(ns, ", "))
	}

	tier, err := instances(ctx, api, c, note)
	if err != nil {
		return Result{}, err
	}
	tier.StepConcurrency = p.StepConcurrency
	if match, ok := catalogMatch(catalog, tier); ok {
		p.Tier, res.CatalogTier = match.Name, true
	} else {
		tier.Name = "imported-" + strings.ToLower(id)
		tier.Description = "instances of EMR cluster " + id + " (" + aws.ToString(c.Name) + ")"
		if err := tiers.Validate(tier); err != nil {
			return Result{}, sparkflow.Wrap(sparkflow.Invalid, err, "cluster %s's instances make no SparkFlow tier", id)
		}
		p.Tier, p.CustomTier = tier.Name, &tier
	}
	if err := p.Normalize(tier); err != nil {
		return Result{}, sparkflow.Wrap(sparkflow.Invalid, err, "cluster %s makes no valid pool", id)
	}
	res.Pool = p
	return res, nil
}

// instances maps the cluster's instance fleets or groups to a tier (its name not set).
func instances(ctx context.Context, api API, c *types.Cluster, note func(string, ...any)) (sparkflow.Tier, error) {
	id := aws.ToString(c.Id)
	t := sparkflow.Tier{SpotTimeoutMinutes: DefaultSpotTimeoutMinutes}
	fleetOf := func(kind string) *sparkflow.InstanceFleet {
		switch kind {
		case "MASTER":
			return &t.Primary
		case "CORE":
			return &t.Core
		default:
			return &t.Task
		}
	}
	if c.InstanceCollectionType == types.InstanceCollectionTypeInstanceFleet {
		var marker *string
		for {
			out, err := api.ListInstanceFleets(ctx, &emr.ListInstanceFleetsInput{ClusterId: aws.String(id), Marker: marker})
			if err != nil {
				return t, classify("list instance fleets of "+id, err)
			}
			for _, f := range out.InstanceFleets {
				into := fleetOf(string(f.InstanceFleetType))
				into.OnDemandCapacity += int(aws.ToInt32(f.TargetOnDemandCapacity))
				into.SpotCapacity += int(aws.ToInt32(f.TargetSpotCapacity))
				for _, s := range f.InstanceTypeSpecifications {
					into.InstanceTypes = appendNew(into.InstanceTypes, aws.ToString(s.InstanceType))
					if w := aws.ToInt32(s.WeightedCapacity); w > 1 {
						note("fleet %s weighs %s as %d units; SparkFlow weighs every type 1, so its capacities count instances", aws.ToString(f.Name), aws.ToString(s.InstanceType), w)
					}
				}
				if ls := f.LaunchSpecifications; ls != nil && ls.SpotSpecification != nil {
					if m := int(aws.ToInt32(ls.SpotSpecification.TimeoutDurationMinutes)); m > 0 {
						t.SpotTimeoutMinutes = m
					}
					if ls.SpotSpecification.TimeoutAction == types.SpotProvisioningTimeoutActionTerminateCluster {
						note("fleet %s terminated the cluster when spot capacity did not come; SparkFlow's fleets switch to on-demand", aws.ToString(f.Name))
					}
				}
			}
			if marker = out.Marker; marker == nil {
				break
			}
		}
	} else {
		var marker *string
		for {
			out, err := api.ListInstanceGroups(ctx, &emr.ListInstanceGroupsInput{ClusterId: aws.String(id), Marker: marker})
			if err != nil {
				return t, classify("list instance groups of "+id, err)
			}
			for _, g := range out.InstanceGroups {
				into := fleetOf(string(g.InstanceGroupType))
				n := int(aws.ToInt32(g.RequestedInstanceCount))
				if g.Market == types.MarketTypeSpot {
					into.SpotCapacity += n
				} else {
					into.OnDemandCapacity += n
				}
				into.InstanceTypes = appendNew(into.InstanceTypes, aws.ToString(g.InstanceType))
				if g.AutoScalingPolicy != nil {
					note("instance group %s's automatic scaling policy is not carried", aws.ToString(g.Name))
				}
			}
			if marker = out.Marker; marker == nil {
				break
			}
		}
		note("its instance groups become instance fleets of one type each (SparkFlow launches fleets)")
	}
	if p := &t.Primary; p.OnDemandCapacity+p.SpotCapacity != 1 || p.SpotCapacity != 0 {
		note("its primary node (%d on-demand, %d spot) becomes one on-demand node: SparkFlow clusters have one", p.OnDemandCapacity, p.SpotCapacity)
		p.OnDemandCapacity, p.SpotCapacity = 1, 0
	}
	return t, nil
}

// catalogMatch is the catalogue tier with exactly t's instances (types as a set, capacities), if any.
func catalogMatch(catalog *tiers.Catalog, t sparkflow.Tier) (sparkflow.Tier, bool) {
	if catalog == nil {
		return sparkflow.Tier{}, false
	}
	same := func(a, b sparkflow.InstanceFleet) bool {
		return a.OnDemandCapacity == b.OnDemandCapacity && a.SpotCapacity == b.SpotCapacity && slices.Equal(sorted(a.InstanceTypes), sorted(b.InstanceTypes))
	}
	for _, c := range catalog.All() {
		if same(c.Primary, t.Primary) && same(c.Core, t.Core) && same(c.Task, t.Task) {
			return c, true
		}
	}
	return sparkflow.Tier{}, false
}

func configurations(cs []types.Configuration) []sparkflow.Configuration {
	var out []sparkflow.Configuration
	for _, c := range cs {
		out = append(out, sparkflow.Configuration{Classification: aws.ToString(c.Classification), Properties: c.Properties, Configurations: configurations(c.Configurations)})
	}
	return out
}

func appendNew(list []string, v string) []string {
	if v == "" || slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

func sorted(v []string) []string {
	out := slices.Clone(v)
	sort.Strings(out)
	return out
}

func union(a, b []string) []string {
	var out []string
	for _, v := range append(slices.Clone(a), b...) {
		out = appendNew(out, v)
	}
	sort.Strings(out)
	return out
}

// lastPart is what follows marker in an ARN (a role's or an instance profile's name), or v itself.
func lastPart(v, marker string) string {
	if i := strings.LastIndex(v, marker); i >= 0 {
		return v[i+len(marker):]
	}
	return v
}

// classify turns EMR errors into domain kinds, saying what to do.
func classify(op string, err error) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "InvalidRequestException":
			if strings.Contains(strings.ToLower(api.ErrorMessage()), "not valid") || strings.Contains(strings.ToLower(api.ErrorMessage()), "not found") {
				return sparkflow.Wrap(sparkflow.NotFound, err, "%s: no such cluster in this account and region (sparkflow pool import reads the cluster with your AWS configuration: check AWS_REGION and the profile)", op)
			}
			return sparkflow.Wrap(sparkflow.Invalid, err, "%s", op)
		case "AccessDeniedException", "AccessDenied", "UnauthorizedOperation":
			return sparkflow.Wrap(sparkflow.Invalid, err, "%s: your AWS identity may not read it (an import needs elasticmapreduce:DescribeCluster, ListInstanceGroups or ListInstanceFleets, ListBootstrapActions and GetAutoTerminationPolicy)", op)
		case "ThrottlingException":
			return sparkflow.Wrap(sparkflow.Transient, err, "%s", op)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Lister is the EMR client of an account whose clusters can be listed and imported.
type Lister interface {
	API
	ListClusters(context.Context, *emr.ListClustersInput, ...func(*emr.Options)) (*emr.ListClustersOutput, error)
}

// Account is the import of an AWS account's clusters, as the web UI offers it.
type Account struct {
	API     Lister
	Catalog *tiers.Catalog
}

// Summary is one cluster of the account.
type Summary struct {
	ID, Name, State string
	Created         time.Time
}

// MaxListed bounds how many clusters Clusters lists (the newest first, as EMR lists them).
const MaxListed = 200

// Clusters lists the account's clusters that are starting, running or waiting (newest first).
func (a Account) Clusters(ctx context.Context) ([]Summary, error) {
	var out []Summary
	in := &emr.ListClustersInput{ClusterStates: []types.ClusterState{types.ClusterStateStarting, types.ClusterStateBootstrapping, types.ClusterStateRunning, types.ClusterStateWaiting}}
	for {
		page, err := a.API.ListClusters(ctx, in)
		if err != nil {
			return nil, classify("list clusters", err)
		}
		for _, c := range page.Clusters {
			s := Summary{ID: aws.ToString(c.Id), Name: aws.ToString(c.Name)}
			if c.Status != nil {
				s.State = string(c.Status.State)
				if c.Status.Timeline != nil {
					s.Created = aws.ToTime(c.Status.Timeline.CreationDateTime)
				}
			}
			out = append(out, s)
		}
		if page.Marker == nil || len(out) >= MaxListed {
			return out, nil
		}
		in.Marker = page.Marker
	}
}

// Describe is the pool named pool that cluster id makes, and the notes on what it leaves out.
func (a Account) Describe(ctx context.Context, id, pool string) (sparkflow.Pool, []string, error) {
	catalog := a.Catalog
	if catalog == nil {
		catalog = tiers.Default()
	}
	res, err := FromCluster(ctx, a.API, id, pool, catalog)
	return res.Pool, res.Notes, err
}
