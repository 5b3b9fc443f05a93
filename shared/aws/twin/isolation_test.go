package twin_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/emr"
	"github.com/aws/aws-sdk-go-v2/service/emr/types"

	"github.com/sparkflow/sparkflow/shared/aws/names"
	"github.com/sparkflow/sparkflow/shared/aws/twin"
	"github.com/sparkflow/sparkflow/shared/contract/backendtest"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// testAnotherStackInTheAccount: a second SparkFlow stack (staging beside this one) has a cluster in
// the same account, in a pool of the same name, and runs a failing step named for one of this stack's
// runs. None of its events reach this stack's queue, its cluster is never adopted, this stack's run is
// untouched, and this stack's functions may not call EMR on it nor launch a cluster tagged for it.
func testAnotherStackInTheAccount(t *testing.T) {
	ctx := context.Background()
	b, err := tw.Backend(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pool := "shared-name"
	v := backendtest.ReadyPool(t, b, pool, 1, 2, 2*time.Minute)
	own := v.ClusterRecords[0].ID
	if _, err := b.CreateTransform(ctx, sparkflow.Transform{Name: pool + "-ok", Pool: pool, Kind: sparkflow.KindCommand, Command: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	run, err := b.SubmitRun(ctx, sparkflow.RunRequest{Transform: pool + "-ok"})
	if err != nil {
		t.Fatal(err)
	}
	if r := backendtest.WaitRun(t, b, run.ID, 2*time.Minute); r.Status != sparkflow.RunSucceeded {
		t.Fatalf("own run %s", r.Status)
	}

	// The other stack's cluster, named and tagged as that stack launches them.
	other := "Staging"
	client := emr.NewFromConfig(tw.Config())
	out, err := client.RunJobFlow(ctx, &emr.RunJobFlowInput{
		Name: aws.String(names.NamePrefix(other) + ":" + pool + ":0ther5ta"), ReleaseLabel: aws.String("emr-7.5.0"),
		ServiceRole: aws.String("EMR_DefaultRole"), JobFlowRole: aws.String("EMR_EC2_DefaultRole"),
		Instances: &types.JobFlowInstancesConfig{MasterInstanceType: aws.String("m5.xlarge"), InstanceCount: aws.Int32(1), KeepJobFlowAliveWhenNoSteps: aws.Bool(true)},
		Tags: []types.Tag{{Key: aws.String(names.StackTag), Value: aws.String(other)}, {Key: aws.String(names.PoolTag), Value: aws.String(pool)},
			{Key: aws.String(names.ManagedPoliciesTag), Value: aws.String("true")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	foreign := aws.ToString(out.JobFlowId)
	backendtest.Eventually(t, time.Minute, "the other stack's cluster waiting", func() bool {
		d, err := client.DescribeCluster(ctx, &emr.DescribeClusterInput{ClusterId: out.JobFlowId})
		return err == nil && d.Cluster.Status.State == types.ClusterStateWaiting
	})
	steps, err := client.AddJobFlowSteps(ctx, &emr.AddJobFlowStepsInput{JobFlowId: out.JobFlowId, Steps: []types.StepConfig{{
		Name: aws.String(names.NamePrefix(other) + ":" + run.ID + ":1:" + pool + "-ok"), ActionOnFailure: types.ActionOnFailureContinue,
		HadoopJarStep: &types.HadoopJarStepConfig{Jar: aws.String("command-runner.jar"), Args: []string{"false"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	backendtest.Eventually(t, time.Minute, "the other stack's step failed", func() bool {
		d, err := client.DescribeStep(ctx, &emr.DescribeStepInput{ClusterId: out.JobFlowId, StepId: aws.String(steps.StepIds[0])})
		return err == nil && d.Step.Status.State == types.StepStateFailed
	})
	time.Sleep(2 * time.Second) // what was delivered has been handled

	// EventBridge delivered this stack's cluster's events and none of the other's.
	delivered, err := tw.Delivered()
	if err != nil {
		t.Fatal(err)
	}
	ownEvents := 0
	for _, d := range delivered {
		detail, _ := d.Event["detail"].(map[string]any)
		switch detail["clusterId"] {
		case foreign:
			t.Errorf("the other stack's event reached this stack's queue through rule %s: %v", d.Rule, detail)
		case own:
			ownEvents++
		}
	}
	if ownEvents == 0 {
		t.Fatal("no event of this stack's own cluster was delivered: the check above proves nothing")
	}
	// Nothing here changed: no adopted cluster, the run as it ended.
	v, err = b.GetPool(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range v.ClusterRecords {
		if c.ID == foreign {
			t.Fatalf("the other stack's cluster %s was adopted into pool %s", foreign, pool)
		}
	}
	if r, err := b.GetRun(ctx, run.ID); err != nil || r.Status != sparkflow.RunSucceeded || r.ClusterID != own {
		t.Fatalf("own run after the other stack's step: %+v %v", r, err)
	}

	// This stack's roles may not touch the other stack's cluster, nor launch one tagged for it.
	calls, err := tw.Calls(0)
	if err != nil {
		t.Fatal(err)
	}
	deployed := func(fn string) string { // the deployed name of a function, from its recorded calls
		for _, c := range calls {
			if strings.Contains(c.Function, "Functions"+strings.ReplaceAll(fn, "-", "")) {
				return c.Function
			}
		}
		t.Fatalf("no call of function %s was recorded", fn)
		return ""
	}
	probe := func(logical, action string, params map[string]any) bool {
		t.Helper()
		fn := deployed(logical)
		rep, err := tw.Probe([]twin.Call{{Function: fn, Service: "elasticmapreduce", Action: action, Params: params}})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range rep.Denied {
			if d["function"] == fn {
				return false
			}
		}
		return true
	}
	if probe("pool", "TerminateJobFlows", map[string]any{"JobFlowIds": []any{foreign}}) {
		t.Error("the pool function may terminate the other stack's cluster")
	}
	if probe("submit", "AddJobFlowSteps", map[string]any{"JobFlowId": foreign}) {
		t.Error("the submit function may add steps to the other stack's cluster")
	}
	if !probe("pool", "TerminateJobFlows", map[string]any{"JobFlowIds": []any{own}}) {
		t.Error("the pool function may not terminate its own stack's cluster: the denials above prove nothing")
	}
	tags := []any{map[string]any{"Key": names.StackTag, "Value": other}, map[string]any{"Key": names.PoolTag, "Value": pool}}
	if probe("pool", "RunJobFlow", map[string]any{"Tags": tags}) {
		t.Error("the pool function may launch a cluster tagged for the other stack")
	}
	tags[0] = map[string]any{"Key": names.StackTag, "Value": tw.Stack}
	if !probe("pool", "RunJobFlow", map[string]any{"Tags": tags}) {
		t.Error("the pool function may not launch a cluster tagged for its own stack")
	}
	if _, err := client.TerminateJobFlows(ctx, &emr.TerminateJobFlowsInput{JobFlowIds: []string{foreign}}); err != nil {
		t.Fatal(err)
	}
	if err := b.DeletePool(ctx, pool, true); err != nil && !strings.Contains(err.Error(), "not found") {
		t.Fatal(err)
	}
}
