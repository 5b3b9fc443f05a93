package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/emr"
	"github.com/aws/aws-sdk-go-v2/service/emr/types"

	"github.com/sparkflow/sparkflow/shared/aws/awstest"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// TestPoolImportClonesACluster: `sparkflow pool import` reads a cluster from EMR (moto) with the
// user's AWS configuration and creates a pool like it on the engine: --dry-run shows the pool and
// creates nothing; without it the pool's clusters launch with the cluster's instances, and the notes
// name what the pool cannot carry.
func TestPoolImportClonesACluster(t *testing.T) {
	endpoint := awstest.Moto(t)
	ctx := awstest.Context(t)
	api := emr.NewFromConfig(awstest.Config(), func(o *emr.Options) { o.BaseEndpoint = aws.String(endpoint) })
	out, err := api.RunJobFlow(ctx, &emr.RunJobFlowInput{Name: aws.String("by-hand"), ReleaseLabel: aws.String("emr-7.2.0"),
		Applications: []types.Application{{Name: aws.String("Spark")}}, StepConcurrencyLevel: aws.Int32(3),
		Configurations: []types.Configuration{{Classification: aws.String("spark-defaults"), Properties: map[string]string{"spark.executor.memory": "8g"}}},
		Instances: &types.JobFlowInstancesConfig{KeepJobFlowAliveWhenNoSteps: aws.Bool(true), InstanceGroups: []types.InstanceGroupConfig{
			{InstanceRole: types.InstanceRoleTypeMaster, InstanceType: aws.String("m5.xlarge"), InstanceCount: aws.Int32(1)},
			{InstanceRole: types.InstanceRoleTypeCore, InstanceType: aws.String("r5.xlarge"), InstanceCount: aws.Int32(2)}}},
		BootstrapActions: []types.BootstrapActionConfig{{Name: aws.String("deps"), ScriptBootstrapAction: &types.ScriptBootstrapActionConfig{Path: aws.String("s3://b/deps.sh")}}},
		ServiceRole:      aws.String("EMR_DefaultRole"), JobFlowRole: aws.String("EMR_EC2_DefaultRole")})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.JobFlowId)
	addr := freeAddr(t)
	startLocal(t, t.TempDir(), addr)
	awsEnv := []string{"AWS_ENDPOINT_URL=" + endpoint, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_PROFILE=", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
	run := func(args ...string) result {
		t.Helper()
		return cliEnv(t, addr, awsEnv, args...)
	}

	dry := run("pool", "import", "cloned", "--from-cluster", id, "--dry-run")
	if dry.code != 0 || !strings.Contains(dry.stdout, "not created") || !strings.Contains(dry.stdout, "r5.xlarge") || !strings.Contains(dry.stderr, "bootstrap actions are not carried: deps") {
		t.Fatalf("dry run: %+v", dry)
	}
	if r := cli(t, addr, "pool", "show", "cloned"); r.code == 0 {
		t.Fatalf("a dry run created the pool: %+v", r)
	}

	r := run("pool", "import", "cloned", "--from-cluster", id, "--clusters", "2", "--wait", "-o", "json")
	if r.code != 0 {
		t.Fatalf("import: %+v", r)
	}
	var v sparkflow.PoolView
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	if v.Status != sparkflow.PoolReady || v.Ready != 2 || v.ReleaseLabel != "emr-7.2.0" || v.StepConcurrency != 3 || v.SlotsTotal != 6 {
		t.Errorf("pool %+v, want 2 ready clusters of emr-7.2.0 with 3 slots each", v.Pool)
	}
	if v.CustomTier == nil || v.Tier != v.CustomTier.Name || strings.Join(v.CustomTier.Core.InstanceTypes, ",") != "r5.xlarge" || v.CustomTier.Core.OnDemandCapacity != 2 {
		t.Errorf("own tier %+v", v.CustomTier)
	}
	if len(v.Configurations) != 1 || v.Configurations[0].Properties["spark.executor.memory"] != "8g" {
		t.Errorf("configurations %+v", v.Configurations)
	}
	if show := cli(t, addr, "pool", "show", "cloned"); show.code != 0 || !strings.Contains(show.stdout, "r5.xlarge") {
		t.Errorf("pool show does not show the pool's own tier: %+v", show)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"pool", "import", "x"}, "--from-cluster"},
		{[]string{"pool", "import", "x", "--from-cluster", "j-NOSUCH"}, "no such cluster"},
		{[]string{"pool", "import", "cloned", "--from-cluster", id}, "exists"},
	} {
		if r := run(c.args...); r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want an error saying %q", c.args, r.code, r.stderr, c.want)
		}
	}
}
