package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

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
	runDef, err := workflow.RunStateMachine(workflow.Functions{
		Reserve: *fns.ByName["reserve"].FunctionArn(), Submit: *fns.ByName["submit"].FunctionArn(), Finish: *fns.ByName["finish"].FunctionArn()})
	if err != nil {
		panic(err) // only a programming error: the three functions always exist
	}
	poolDef, err := workflow.PoolStateMachine(*fns.ByName["pool"].FunctionArn())
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
	for _, n := range []string{"reserve", "submit", "finish"} {
		fns.ByName[n].GrantInvoke(w.Run)
	}
	fns.ByName["pool"].GrantInvoke(w.Pool)
	return w
}
