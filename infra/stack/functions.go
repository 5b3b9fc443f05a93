package stack

import (
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/sparkflow/sparkflow/shared/aws/names"
)

// Function names (each is functions/<name>, built to <AssetDir>/<name>/bootstrap) and their timeouts.
var FunctionTimeouts = map[string]float64{
	names.FunctionIntake: 60, names.FunctionReserve: 30, names.FunctionSubmit: 60, names.FunctionFinish: 30,
	names.FunctionEMREvents: 60, names.FunctionReconcile: 300, names.FunctionPool: 300,
}

// IntakeTimeoutSeconds sets the runs queue's visibility timeout (six times it, per SQS's advice).
const IntakeTimeoutSeconds = 60

// FunctionsProps wires the functions.
type FunctionsProps struct {
	AssetDir    string
	Environment map[string]*string
	// PassRoles are the ARNs of the roles EMR clusters are launched with (the service role and the
	// instance profile's role): the only roles the functions may pass.
	PassRoles []*string
}

// Functions are the Lambda functions and their shared role's grants.
type Functions struct {
	ByName map[string]awslambda.Function
}

// NewFunctions declares one arm64 provided.al2023 function per name, a log group with retention each,
// and the EMR permissions: scoped by the pool tag where EMR allows it, PassRole only to the configured
// roles.
func NewFunctions(scope constructs.Construct, id string, props FunctionsProps) *Functions {
	c := constructs.NewConstruct(scope, jsii.String(id))
	f := &Functions{ByName: map[string]awslambda.Function{}}
	for name, timeout := range FunctionTimeouts {
		logs := awslogs.NewLogGroup(c, jsii.String(name+"-logs"), &awslogs.LogGroupProps{
			Retention: awslogs.RetentionDays_ONE_MONTH, RemovalPolicy: awscdk.RemovalPolicy_DESTROY})
		fn := awslambda.NewFunction(c, jsii.String(name), &awslambda.FunctionProps{
			Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
			Architecture: awslambda.Architecture_ARM_64(),
			Handler:      jsii.String("bootstrap"),
			Code:         awslambda.Code_FromAsset(jsii.String(filepath.Join(props.AssetDir, name)), nil),
			Timeout:      awscdk.Duration_Seconds(jsii.Number(timeout)),
			MemorySize:   jsii.Number(256),
			Environment:  &props.Environment,
			LogGroup:     logs,
			Description:  jsii.String("SparkFlow " + name),
		})
		f.ByName[name] = fn
		grantEMR(fn, props.PassRoles)
	}
	return f
}

func grantEMR(fn awslambda.Function, passRoles []*string) {
	tagged := map[string]any{"Null": map[string]any{"elasticmapreduce:ResourceTag/" + names.PoolTag: "false"}}
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("EmrLaunchTaggedClusters"),
		Actions:    jsii.Strings("elasticmapreduce:RunJobFlow", "elasticmapreduce:AddTags"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"Null": map[string]any{"aws:RequestTag/" + names.PoolTag: "false"}},
	}))
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("EmrOperatePoolClusters"),
		Actions:    jsii.Strings("elasticmapreduce:AddJobFlowSteps", "elasticmapreduce:ListSteps", "elasticmapreduce:DescribeCluster", "elasticmapreduce:CancelSteps", "elasticmapreduce:TerminateJobFlows"),
		Resources:  jsii.Strings("*"),
		Conditions: &tagged,
	}))
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("PassOnlyTheEmrRoles"),
		Actions:    jsii.Strings("iam:PassRole"),
		Resources:  &passRoles,
		Conditions: &map[string]any{"StringEquals": map[string]any{"iam:PassedToService": []string{"elasticmapreduce.amazonaws.com", "ec2.amazonaws.com"}}},
	}))
}
