package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/sparkflow/sparkflow/shared/aws/names"
	"github.com/sparkflow/sparkflow/shared/workflow"
)

// Workflows are the run and pool state machines (Standard: task tokens need it).
type Workflows struct {
	Run, Pool awsstepfunctions.StateMachine
}

// StateMachineARN is the ARN a state machine of this name will have, built without a reference to it:
// the functions need the run state machine's ARN and the state machine needs theirs, and a reference
// each way would be a cycle.
func StateMachineARN(stack awscdk.Stack, name string) *string {
	return awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:"+name), nil)
}

// NewWorkflows declares the state machines from the definitions in package workflow.
func NewWorkflows(scope constructs.Construct, id, runName, poolName string, fns *Functions) *Workflows {
	c := constructs.NewConstruct(scope, jsii.String(id))
	arn := func(name string) string { return *fns.ByName[name].FunctionArn() }
	// The integrations' ARNs are in the stack's partition (aws, aws-cn, aws-us-gov).
	partition := *awscdk.Aws_PARTITION()
	runDef, err := workflow.Run().ASLIn(partition, map[string]string{
		workflow.TaskHold: arn(names.FunctionReserve), workflow.TaskReserve: arn(names.FunctionReserve), workflow.TaskSubmit: arn(names.FunctionSubmit), workflow.TaskFinish: arn(names.FunctionFinish)})
	if err != nil {
		panic(err) // only a programming error: the definition is fixed and its functions always exist
	}
	poolDef, err := workflow.Pool().ASLIn(partition, map[string]string{workflow.TaskPool: arn(names.FunctionPool)})
	if err != nil {
		panic(err)
	}
	w := &Workflows{
		Run: awsstepfunctions.NewStateMachine(c, jsii.String("Run"), &awsstepfunctions.StateMachineProps{
			StateMachineName: jsii.String(runName), StateMachineType: awsstepfunctions.StateMachineType_STANDARD,
			DefinitionBody: awsstepfunctions.DefinitionBody_FromString(jsii.String(string(runDef)))}),
		Pool: awsstepfunctions.NewStateMachine(c, jsii.String("Pool"), &awsstepfunctions.StateMachineProps{
			StateMachineName: jsii.String(poolName), StateMachineType: awsstepfunctions.StateMachineType_STANDARD,
			DefinitionBody: awsstepfunctions.DefinitionBody_FromString(jsii.String(string(poolDef)))}),
	}
	for _, n := range []string{names.FunctionReserve, names.FunctionSubmit, names.FunctionFinish} {
		fns.ByName[n].GrantInvoke(w.Run)
	}
	fns.ByName[names.FunctionPool].GrantInvoke(w.Pool)
	return w
}
