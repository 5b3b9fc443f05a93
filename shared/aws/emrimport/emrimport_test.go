package emrimport_test

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/emr"
	"github.com/aws/aws-sdk-go-v2/service/emr/types"

	"github.com/sparkflow/sparkflow/shared/aws/awstest"
	"github.com/sparkflow/sparkflow/shared/aws/emrimport"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tiers"
)

func TestMain(m *testing.M) { awstest.Main(m) }

func sorted(v []string) []string {
	out := append([]string(nil), v...)
	sort.Strings(out)
	return out
}

func hasNote(res emrimport.Result, part string) bool {
	for _, n := range res.Notes {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}

// TestImportAnInstanceGroupClusterFromMoto: a cluster a team launched by hand, with instance groups,
// configurations, a bootstrap action, roles by ARN and its own tags, becomes a pool with the same
// release, applications, configurations, step concurrency, network, roles and tags, and a tier of its
// own with its instances; what the pool cannot carry is in the notes.
func TestImportAnInstanceGroupClusterFromMoto(t *testing.T) {
	ctx := awstest.Context(t)
	endpoint := awstest.Moto(t)
	api := emr.NewFromConfig(awstest.Config(), func(o *emr.Options) { o.BaseEndpoint = aws.String(endpoint) })
	group := func(kind types.InstanceRoleType, market types.MarketType, typ string, n int32) types.InstanceGroupConfig {
		return types.InstanceGroupConfig{InstanceRole: kind, Market: market, InstanceType: aws.String(typ), InstanceCount: aws.Int32(n), Name: aws.String(strings.ToLower(string(kind)))}
	}
	out, err := api.RunJobFlow(ctx, &emr.RunJobFlowInput{
		Name: aws.String("nightly-etl (by hand)"), ReleaseLabel: aws.String("emr-7.2.0"), LogUri: aws.String("s3://team-logs/emr/"),
		Applications: []types.Application{{Name: aws.String("Spark")}, {Name: aws.String("Hive")}},
		Configurations: []types.Configuration{
			{Classification: aws.String("spark-defaults"), Properties: map[string]string{"spark.sql.shuffle.partitions": "400", "spark.dynamicAllocation.enabled": "false"}},
			{Classification: aws.String("spark-env"), Configurations: []types.Configuration{{Classification: aws.String("export"), Properties: map[string]string{"PYSPARK_PYTHON": "python3"}}}},
		},
		StepConcurrencyLevel: aws.Int32(8),
		Instances: &types.JobFlowInstancesConfig{
			InstanceGroups: []types.InstanceGroupConfig{
				group(types.InstanceRoleTypeMaster, types.MarketTypeOnDemand, "m5.xlarge", 1),
				group(types.InstanceRoleTypeCore, types.MarketTypeOnDemand, "r5.2xlarge", 3),
				group(types.InstanceRoleTypeTask, types.MarketTypeSpot, "r5.2xlarge", 4),
				group(types.InstanceRoleTypeTask, types.MarketTypeSpot, "c5.4xlarge", 2),
			},
			Ec2SubnetId: aws.String("subnet-0abc"), Ec2KeyName: aws.String("team-key"),
			AdditionalMasterSecurityGroups: []string{"sg-1"}, AdditionalSlaveSecurityGroups: []string{"sg-1"},
			KeepJobFlowAliveWhenNoSteps: aws.Bool(true),
		},
		BootstrapActions: []types.BootstrapActionConfig{{Name: aws.String("install-deps"), ScriptBootstrapAction: &types.ScriptBootstrapActionConfig{Path: aws.String("s3://team/bootstrap.sh")}}},
		ServiceRole:      aws.String("arn:aws:iam::123456789012:role/EMR_DefaultRole_V2"),
		JobFlowRole:      aws.String("EMR_EC2_DefaultRole"),
		Tags:             []types.Tag{{Key: aws.String("team"), Value: aws.String("data")}, {Key: aws.String("sparkflow:pool"), Value: aws.String("old")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.JobFlowId)
	res, err := emrimport.FromCluster(ctx, api, id, "nightly", tiers.Default())
	if err != nil {
		t.Fatal(err)
	}
	p := res.Pool
	if p.Name != "nightly" || p.ReleaseLabel != "emr-7.2.0" || strings.Join(p.Applications, ",") != "Spark,Hive" || p.StepConcurrency != 8 || p.LogURI != "s3://team-logs/emr/" || p.Clusters != 1 {
		t.Errorf("pool settings: %+v", p)
	}
	if len(p.Configurations) != 2 || p.Configurations[0].Properties["spark.sql.shuffle.partitions"] != "400" || p.Configurations[1].Configurations[0].Properties["PYSPARK_PYTHON"] != "python3" {
		t.Errorf("configurations: %+v", p.Configurations)
	}
	n := p.Network
	if strings.Join(n.SubnetIDs, ",") != "subnet-0abc" || n.KeyName != "team-key" || strings.Join(n.SecurityGroups, ",") != "sg-1" || n.ServiceRole != "EMR_DefaultRole_V2" || n.InstanceProfile != "EMR_EC2_DefaultRole" {
		t.Errorf("network and roles: %+v", n)
	}
	if len(p.Tags) != 1 || p.Tags["team"] != "data" {
		t.Errorf("tags %v, want the team's own only (SparkFlow sets its own on launch)", p.Tags)
	}
	if res.CatalogTier || p.CustomTier == nil || p.Tier != p.CustomTier.Name || p.Tier != "imported-"+strings.ToLower(id) {
		t.Fatalf("tier %q (catalogue %v, own %+v), want a tier of its own", p.Tier, res.CatalogTier, p.CustomTier)
	}
	ct := p.CustomTier
	if strings.Join(ct.Primary.InstanceTypes, ",") != "m5.xlarge" || ct.Primary.OnDemandCapacity != 1 ||
		strings.Join(ct.Core.InstanceTypes, ",") != "r5.2xlarge" || ct.Core.OnDemandCapacity != 3 || ct.Core.SpotCapacity != 0 ||
		strings.Join(sorted(ct.Task.InstanceTypes), ",") != "c5.4xlarge,r5.2xlarge" || ct.Task.SpotCapacity != 6 || ct.Task.OnDemandCapacity != 0 || ct.StepConcurrency != 8 {
		t.Errorf("own tier: %+v", ct)
	}
	if err := tiers.Validate(*ct); err != nil {
		t.Errorf("own tier invalid: %v", err)
	}
	for _, want := range []string{"bootstrap actions are not carried: install-deps (s3://team/bootstrap.sh)", "instance groups become instance fleets"} {
		if !hasNote(res, want) {
			t.Errorf("no note saying %q: %q", want, res.Notes)
		}
	}

	_, err = emrimport.FromCluster(ctx, api, "j-NOSUCHCLUSTER", "x", tiers.Default())
	if !sparkflow.IsCode(err, sparkflow.NotFound) || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Errorf("an unknown cluster: %v, want NotFound saying where it looked", err)
	}
	if _, err := emrimport.FromCluster(ctx, api, id, "not a name", tiers.Default()); !sparkflow.IsCode(err, sparkflow.Invalid) {
		t.Errorf("a bad pool name: %v, want Invalid", err)
	}
}

// fleets is an EMR that answers for one instance-fleet cluster (moto 5.2.1 has no
// ListInstanceFleets or GetAutoTerminationPolicy).
type fleets struct {
	emrimport.API
	cluster types.Cluster
	fleets  []types.InstanceFleet
	idle    int64
}

func (f fleets) DescribeCluster(context.Context, *emr.DescribeClusterInput, ...func(*emr.Options)) (*emr.DescribeClusterOutput, error) {
	return &emr.DescribeClusterOutput{Cluster: &f.cluster}, nil
}
func (f fleets) ListInstanceFleets(_ context.Context, in *emr.ListInstanceFleetsInput, _ ...func(*emr.Options)) (*emr.ListInstanceFleetsOutput, error) {
	// Two pages, to see the marker followed.
	if in.Marker == nil {
		return &emr.ListInstanceFleetsOutput{InstanceFleets: f.fleets[:1], Marker: aws.String("2")}, nil
	}
	return &emr.ListInstanceFleetsOutput{InstanceFleets: f.fleets[1:]}, nil
}
func (f fleets) ListBootstrapActions(context.Context, *emr.ListBootstrapActionsInput, ...func(*emr.Options)) (*emr.ListBootstrapActionsOutput, error) {
	return &emr.ListBootstrapActionsOutput{}, nil
}
func (f fleets) GetAutoTerminationPolicy(context.Context, *emr.GetAutoTerminationPolicyInput, ...func(*emr.Options)) (*emr.GetAutoTerminationPolicyOutput, error) {
	return &emr.GetAutoTerminationPolicyOutput{AutoTerminationPolicy: &types.AutoTerminationPolicy{IdleTimeout: aws.Int64(f.idle)}}, nil
}

func fleet(kind types.InstanceFleetType, od, spot int32, typ ...string) types.InstanceFleet {
	f := types.InstanceFleet{InstanceFleetType: kind, Name: aws.String(string(kind)), TargetOnDemandCapacity: aws.Int32(od), TargetSpotCapacity: aws.Int32(spot)}
	for _, t := range typ {
		f.InstanceTypeSpecifications = append(f.InstanceTypeSpecifications, types.InstanceTypeSpecification{InstanceType: aws.String(t), WeightedCapacity: aws.Int32(1)})
	}
	if spot > 0 {
		f.LaunchSpecifications = &types.InstanceFleetProvisioningSpecifications{SpotSpecification: &types.SpotProvisioningSpecification{TimeoutDurationMinutes: aws.Int32(20), TimeoutAction: types.SpotProvisioningTimeoutActionSwitchToOnDemand}}
	}
	return f
}

// TestImportAFleetClusterMatchesACatalogueTier: a cluster SparkFlow could have launched from the small
// tier (its fleets, types in any order) imports as a pool of that tier, with the cluster's idle
// timeout; one whose fleets differ gets a tier of its own with the fleets' spot timeout.
func TestImportAFleetClusterMatchesACatalogueTier(t *testing.T) {
	small, err := tiers.Default().Get("small")
	if err != nil {
		t.Fatal(err)
	}
	rev := func(v []string) []string {
		out := append([]string(nil), v...)
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
		return out
	}
	api := fleets{idle: 3600,
		cluster: types.Cluster{Id: aws.String("j-FLEET"), Name: aws.String("fleet"), ReleaseLabel: aws.String("emr-7.5.0"), InstanceCollectionType: types.InstanceCollectionTypeInstanceFleet,
			StepConcurrencyLevel: aws.Int32(4), Applications: []types.Application{{Name: aws.String("Spark")}},
			Ec2InstanceAttributes: &types.Ec2InstanceAttributes{RequestedEc2SubnetIds: []string{"subnet-a", "subnet-b"}, IamInstanceProfile: aws.String("arn:aws:iam::123456789012:instance-profile/steps")}},
		fleets: []types.InstanceFleet{
			fleet(types.InstanceFleetTypeMaster, 1, 0, small.Primary.InstanceTypes...),
			fleet(types.InstanceFleetTypeCore, int32(small.Core.OnDemandCapacity), int32(small.Core.SpotCapacity), rev(small.Core.InstanceTypes)...),
			fleet(types.InstanceFleetTypeTask, int32(small.Task.OnDemandCapacity), int32(small.Task.SpotCapacity), small.Task.InstanceTypes...),
		}}
	res, err := emrimport.FromCluster(context.Background(), api, "j-FLEET", "etl", tiers.Default())
	if err != nil {
		t.Fatal(err)
	}
	if !res.CatalogTier || res.Pool.Tier != "small" || res.Pool.CustomTier != nil {
		t.Fatalf("tier %q (catalogue %v, own %+v), want small", res.Pool.Tier, res.CatalogTier, res.Pool.CustomTier)
	}
	if res.Pool.IdleTimeoutSeconds != 3600 || strings.Join(res.Pool.Network.SubnetIDs, ",") != "subnet-a,subnet-b" || res.Pool.Network.InstanceProfile != "steps" {
		t.Errorf("idle timeout, subnets or instance profile: %+v", res.Pool)
	}

	api.fleets[2] = fleet(types.InstanceFleetTypeTask, 0, 8, "r7g.4xlarge")
	res, err = emrimport.FromCluster(context.Background(), api, "j-FLEET", "etl", tiers.Default())
	if err != nil {
		t.Fatal(err)
	}
	if res.CatalogTier || res.Pool.CustomTier == nil || res.Pool.CustomTier.Task.SpotCapacity != 8 || res.Pool.CustomTier.SpotTimeoutMinutes != 20 {
		t.Fatalf("a fleet unlike any tier's: %+v (catalogue %v)", res.Pool.CustomTier, res.CatalogTier)
	}
}
