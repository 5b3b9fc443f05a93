package emrclusters_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/emr"
	"github.com/aws/aws-sdk-go-v2/service/emr/types"

	"github.com/sparkflow/sparkflow/shared/aws/awstest"
	"github.com/sparkflow/sparkflow/shared/aws/emrclusters"
	"github.com/sparkflow/sparkflow/shared/contract/clustertest"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tiers"
)

func TestMain(m *testing.M) { awstest.Main(m) }

func smallPool() sparkflow.LaunchSpec {
	tier, _ := tiers.Default().Get("small")
	p := sparkflow.Pool{Name: "etl", Tier: "small", Clusters: 3, IdleTimeoutSeconds: 3600, Tags: map[string]string{"team": "data"}}
	if err := p.Normalize(tier); err != nil {
		panic(err)
	}
	return sparkflow.LaunchSpec{Name: "sparkflow:etl:abc", Pool: p, Tier: tier}
}

func TestLaunchInput(t *testing.T) {
	cfg := emrclusters.Config{ServiceRole: "svc", InstanceProfile: "steps", LogURI: "s3://logs/", SubnetIDs: []string{"subnet-1"}, Tags: map[string]string{"env": "prod"}}
	in := emrclusters.LaunchInput(smallPool(), cfg)
	if aws.ToString(in.ServiceRole) != "svc" || aws.ToString(in.JobFlowRole) != "steps" || aws.ToString(in.LogUri) != "s3://logs/" || aws.ToString(in.ReleaseLabel) != sparkflow.DefaultReleaseLabel {
		t.Fatalf("roles, logs or release: %+v", in)
	}
	if aws.ToInt32(in.StepConcurrencyLevel) != 4 || aws.ToInt64(in.AutoTerminationPolicy.IdleTimeout) != 3600 {
		t.Fatalf("step concurrency %d, idle %v", aws.ToInt32(in.StepConcurrencyLevel), in.AutoTerminationPolicy)
	}
	if !aws.ToBool(in.Instances.KeepJobFlowAliveWhenNoSteps) || in.Instances.Ec2SubnetIds[0] != "subnet-1" {
		t.Fatal("a pool cluster must stay alive between steps, in the configured subnets")
	}
	fleets := map[types.InstanceFleetType]types.InstanceFleetConfig{}
	for _, f := range in.Instances.InstanceFleets {
		fleets[f.InstanceFleetType] = f
	}
	if m := fleets[types.InstanceFleetTypeMaster]; aws.ToInt32(m.TargetOnDemandCapacity) != 1 || aws.ToInt32(m.TargetSpotCapacity) != 0 {
		t.Fatalf("primary fleet: %+v", m)
	}
	if c := fleets[types.InstanceFleetTypeCore]; aws.ToInt32(c.TargetOnDemandCapacity) != 2 || len(c.InstanceTypeConfigs) != 3 || c.LaunchSpecifications != nil {
		t.Fatalf("core fleet: %+v", c)
	}
	task := fleets[types.InstanceFleetTypeTask]
	spot := task.LaunchSpecifications.SpotSpecification
	if aws.ToInt32(task.TargetSpotCapacity) != 2 || spot.TimeoutAction != types.SpotProvisioningTimeoutActionSwitchToOnDemand || aws.ToInt32(spot.TimeoutDurationMinutes) != 10 {
		t.Fatalf("task fleet: spot %d, %+v", aws.ToInt32(task.TargetSpotCapacity), spot)
	}
	for _, f := range in.Instances.InstanceFleets {
		for _, it := range f.InstanceTypeConfigs {
			if !strings.Contains(aws.ToString(it.InstanceType), "g.") {
				t.Errorf("%s is not a Graviton type", aws.ToString(it.InstanceType))
			}
		}
	}
	var tags []string
	for _, tg := range in.Tags {
		tags = append(tags, aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
	}
	// AWS's v2 EMR service role acts only on resources with the managed-policies tag.
	if strings.Join(tags, ",") != "env=prod,for-use-with-amazon-emr-managed-policies=true,sparkflow:pool=etl,team=data" {
		t.Fatalf("tags %v", tags)
	}
	// A pool's own network settings win over the deployment's.
	spec := smallPool()
	spec.Pool.Network = sparkflow.Network{SubnetIDs: []string{"subnet-9"}, ServiceRole: "mine", SecurityGroups: []string{"sg-1"}, KeyName: "k"}
	in = emrclusters.LaunchInput(spec, cfg)
	if in.Instances.Ec2SubnetIds[0] != "subnet-9" || aws.ToString(in.ServiceRole) != "mine" || aws.ToString(in.Instances.Ec2KeyName) != "k" || in.Instances.AdditionalMasterSecurityGroups[0] != "sg-1" {
		t.Fatalf("pool network not used: %+v", in.Instances)
	}
	// A pool's configurations go to every cluster, nested ones included.
	spec.Pool.Configurations = []sparkflow.Configuration{{Classification: "spark-defaults", Properties: map[string]string{"spark.sql.shuffle.partitions": "400"}},
		{Classification: "spark-env", Configurations: []sparkflow.Configuration{{Classification: "export", Properties: map[string]string{"PYSPARK_PYTHON": "python3"}}}}}
	in = emrclusters.LaunchInput(spec, cfg)
	if len(in.Configurations) != 2 || aws.ToString(in.Configurations[0].Classification) != "spark-defaults" || in.Configurations[0].Properties["spark.sql.shuffle.partitions"] != "400" ||
		len(in.Configurations[1].Configurations) != 1 || in.Configurations[1].Configurations[0].Properties["PYSPARK_PYTHON"] != "python3" {
		t.Fatalf("configurations: %+v", in.Configurations)
	}
	// A kept cluster of an elastic pool has no idle timeout.
	kept := spec
	kept.Kept = true
	if in := emrclusters.LaunchInput(kept, cfg); in.AutoTerminationPolicy != nil {
		t.Fatalf("a kept cluster ends when idle: %+v", in.AutoTerminationPolicy)
	}
	// The tiny tier has no task fleet.
	tiny, _ := tiers.Default().Get("tiny")
	spec.Tier = tiny
	if n := len(emrclusters.LaunchInput(spec, cfg).Instances.InstanceFleets); n != 2 {
		t.Fatalf("tiny: %d fleets, want primary and core", n)
	}
}

func client(t *testing.T) *emr.Client {
	endpoint := awstest.Moto(t)
	return emr.NewFromConfig(awstest.Config(), func(o *emr.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// moto's EMR checks request shapes; its clusters are WAITING at once and its steps never run.
func TestContractOnMoto(t *testing.T) {
	api := client(t)
	clustertest.Run(t, func(t *testing.T) clustertest.Harness {
		return clustertest.Harness{Clusters: emrclusters.New(api, emrclusters.Config{ServiceRole: "EMR_DefaultRole", InstanceProfile: "EMR_EC2_DefaultRole"}),
			Shell: func(s string) []string { return []string{"bash", "-c", s} }, Limit: 10 * time.Second,
			Gaps: map[string]string{
				clustertest.GapTerminateReason:   "moto 5.2.1 sets no state-change reason on TerminateJobFlows",
				clustertest.GapAddStepUnknown:    "moto 5.2.1 answers AddJobFlowSteps on an unknown cluster with an HTML 500",
				clustertest.GapAddStepEnded:      "moto 5.2.1 accepts steps on a terminated cluster",
				clustertest.GapCancelStepUnknown: "moto 5.2.1 has no CancelSteps",
			}}
	})
}

func TestLaunchAndStepOnMoto(t *testing.T) {
	api := client(t)
	c := emrclusters.New(api, emrclusters.Config{ServiceRole: "EMR_DefaultRole", InstanceProfile: "EMR_EC2_DefaultRole", LogURI: "s3://logs/"})
	ctx := context.Background()
	id, err := c.Launch(ctx, smallPool())
	if err != nil {
		t.Fatal(err)
	}
	out, err := api.DescribeCluster(ctx, &emr.DescribeClusterInput{ClusterId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	cl := out.Cluster
	if aws.ToString(cl.Name) != "sparkflow:etl:abc" || aws.ToInt32(cl.StepConcurrencyLevel) != 4 || aws.ToString(cl.ReleaseLabel) != sparkflow.DefaultReleaseLabel {
		t.Fatalf("cluster as EMR saw it: name %q concurrency %d release %q", aws.ToString(cl.Name), aws.ToInt32(cl.StepConcurrencyLevel), aws.ToString(cl.ReleaseLabel))
	}
	found := false
	for _, tg := range cl.Tags {
		found = found || (aws.ToString(tg.Key) == emrclusters.PoolTag && aws.ToString(tg.Value) == "etl")
	}
	if !found {
		t.Fatalf("pool tag missing: %+v", cl.Tags)
	}
	step := sparkflow.StepSpec{Name: "sparkflow:r1:1:t", Jar: "command-runner.jar", Args: []string{"spark-submit", "--deploy-mode", "cluster", "s3://b/j.py"}, ActionOnFailure: "CONTINUE"}
	sid, err := c.AddStep(ctx, id, step)
	if err != nil {
		t.Fatal(err)
	}
	steps, err := c.ListSteps(ctx, id)
	if err != nil || len(steps) != 1 || steps[0].ID != sid || steps[0].Name != step.Name {
		t.Fatalf("ListSteps = %+v, %v", steps, err)
	}
	if _, err := c.Describe(ctx, "j-NOSUCHCLUSTER"); !sparkflow.IsCode(err, sparkflow.NotFound) {
		t.Fatalf("describe unknown: %v", err)
	}
}
