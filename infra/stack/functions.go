package stack

import (
	"path/filepath"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/sparkflow/sparkflow/shared/aws/names"
)

// Function names (each is functions/<name>, built to <AssetDir>/<name>/bootstrap) and their timeouts.
var FunctionTimeouts = map[string]float64{
	names.FunctionIntake: 60, names.FunctionReserve: 30, names.FunctionSubmit: 60, names.FunctionFinish: 30,
	names.FunctionEMREvents: EventsTimeoutSeconds, names.FunctionReconcile: 300, names.FunctionPool: 300,
}

// EventsTimeoutSeconds sets the events queue's visibility timeout (six times it): a failed event
// comes back after it.
const EventsTimeoutSeconds = 30

// IntakeTimeoutSeconds sets the runs queue's visibility timeout (six times it, per SQS's advice).
const IntakeTimeoutSeconds = 60

// FunctionsProps wires the functions.
type FunctionsProps struct {
	AssetDir    string
	Environment map[string]*string
	// Grants name what the functions' roles may use.
	Grants Grants
	// ReconcilePeriod is the reconciler's schedule: its timeout stays below it, and it runs one at a
	// time (reserved concurrency 1), so that two passes never overlap.
	ReconcilePeriod time.Duration
}

// Functions are the Lambda functions and their shared role's grants.
type Functions struct {
	ByName map[string]awslambda.Function
	// LogGroups are the functions' log groups, in names.Functions' order.
	LogGroups []awslogs.LogGroup
}

// NewFunctions declares one arm64 provided.al2023 function per name, each with a role of its own
// granted only what its tasks call (Permissions), and a log group with retention each.
func NewFunctions(scope constructs.Construct, id string, props FunctionsProps) *Functions {
	c := constructs.NewConstruct(scope, jsii.String(id))
	f := &Functions{ByName: map[string]awslambda.Function{}}
	// In a fixed order: the template must not depend on Go's map iteration.
	for _, name := range names.Functions {
		timeout := FunctionTimeouts[name]
		var reserved *float64
		if name == names.FunctionReconcile {
			timeout = min(timeout, props.ReconcilePeriod.Seconds()-30)
			reserved = jsii.Number(1)
		}
		logs := awslogs.NewLogGroup(c, jsii.String(name+"-logs"), &awslogs.LogGroupProps{
			Retention: awslogs.RetentionDays_ONE_MONTH, RemovalPolicy: awscdk.RemovalPolicy_DESTROY})
		fn := awslambda.NewFunction(c, jsii.String(name), &awslambda.FunctionProps{
			Runtime:                      awslambda.Runtime_PROVIDED_AL2023(),
			Architecture:                 awslambda.Architecture_ARM_64(),
			Handler:                      jsii.String("bootstrap"),
			Code:                         awslambda.Code_FromAsset(jsii.String(filepath.Join(props.AssetDir, name)), nil),
			Timeout:                      awscdk.Duration_Seconds(jsii.Number(timeout)),
			MemorySize:                   jsii.Number(256),
			Environment:                  &props.Environment,
			LogGroup:                     logs,
			Description:                  jsii.String("SparkFlow " + name),
			ReservedConcurrentExecutions: reserved,
		})
		f.ByName[name] = fn
		f.LogGroups = append(f.LogGroups, logs)
		grant(fn, Permissions[name], props.Grants)
	}
	return f
}
