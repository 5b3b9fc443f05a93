package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"

	"github.com/sparkflow/sparkflow/shared/aws/names"
)

// Access is what one function's tasks call, and so all its role may do (each function has a role of
// its own). The AWS twin evaluates every call each function makes against its role and lists every
// grant no scenario used; those that only rare paths use are justified in tools/twin/iam/justified.json.
type Access struct {
	// Table: DynamoDB actions on the table and its indexes (the store's methods the tasks call;
	// a transaction's items are checked as PutItem, UpdateItem and DeleteItem).
	Table []string
	// EMR: actions on the pool's clusters, only those tagged with the pool tag.
	EMR []string
	// Launch: RunJobFlow of tagged clusters and PassRole of the cluster roles (healing a pool).
	Launch bool
	// Resume: Step Functions task-token calls (SendTaskSuccess, SendTaskFailure).
	Resume []string
	// StartRuns: StartExecution of the run state machine; ConsumeRuns, ConsumeEvents: the runs or
	// the events queue's event source; DescribeRuns: DescribeExecution of the run workflow's
	// executions (the reconciler ends runs whose execution ended without a word).
	StartRuns, ConsumeRuns, ConsumeEvents, DescribeRuns bool
	// Schedules: create, change and delete this stack's EventBridge Scheduler schedules (one per
	// scheduled transform) and pass them the schedule role.
	Schedules bool
}

var (
	tableRead  = []string{"dynamodb:GetItem", "dynamodb:Query"}
	tableWrite = []string{"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
	success    = []string{"states:SendTaskSuccess"}
	// settle: a function that may end a run may end the BLOCKED runs that wait for it
	// (UPSTREAM_FAILED), whose Hold it fails.
	settle = []string{"states:SendTaskSuccess", "states:SendTaskFailure"}
)

// Permissions maps each function to what its tasks call:
//
//	intake     Accept (read transform and pool, the pool's clusters and the head of its queue, create the
//	           run holding a free slot or enqueue it), Reject; start the workflow
//	reserve    Reserve, grant, Dispatch: runs, clusters, reservations, the FIFO; resume its own wait;
//	           Heal a pool whose clusters ended for idleness (launch on demand); Hold: a BLOCKED
//	           run's upstreams and places, and its end (UPSTREAM_FAILED) fails its own wait
//	finish, emr-events, reconcile: as below, and a run's end releases or ends the BLOCKED runs
//	           that wait for it (their Hold resumed or failed)
//	submit     Submit: the run and transform; ListSteps, AddJobFlowSteps, CancelSteps; resume
//	finish     Finish, release, Dispatch; ListSteps (EMR's word on the step of an attempt that
//	           ended otherwise) and CancelSteps of a step still going; resume waiters granted
//	emr-events step/cluster/execution events: records, Heal (launch), clusterLost, Dispatch, Finish
//	           (an execution that ended: ListSteps and CancelSteps, as finish); DescribeCluster of a
//	           cluster that ended with no ready time on record (did it run, or fail to start?);
//	           ListInstances of a cluster once ready (what it costs)
//	reconcile  DescribeCluster, ListSteps; DescribeExecution; the same handlers; Heal; resumes resent;
//	           CancelSteps of the step of a run it ends (its execution ended unseen)
//	pool       create/delete/heal pools, put/delete transforms (and their schedules); a forced delete
//	           cancels runs
var Permissions = map[string]Access{
	names.FunctionIntake:    {Table: []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"}, StartRuns: true, ConsumeRuns: true},
	names.FunctionReserve:   {Table: tableWrite, Resume: settle, Launch: true},
	names.FunctionSubmit:    {Table: []string{"dynamodb:GetItem", "dynamodb:UpdateItem"}, EMR: []string{"elasticmapreduce:ListSteps", "elasticmapreduce:AddJobFlowSteps", "elasticmapreduce:CancelSteps"}, Resume: success},
	names.FunctionFinish:    {Table: tableWrite, EMR: []string{"elasticmapreduce:ListSteps", "elasticmapreduce:CancelSteps"}, Resume: settle},
	names.FunctionEMREvents: {Table: tableWrite, EMR: []string{"elasticmapreduce:DescribeCluster", "elasticmapreduce:ListSteps", "elasticmapreduce:CancelSteps", "elasticmapreduce:ListInstances"}, Launch: true, Resume: settle, ConsumeEvents: true},
	names.FunctionReconcile: {Table: tableWrite, EMR: []string{"elasticmapreduce:DescribeCluster", "elasticmapreduce:ListSteps", "elasticmapreduce:CancelSteps"}, Launch: true, Resume: settle, DescribeRuns: true},
	names.FunctionPool:      {Table: tableWrite, EMR: []string{"elasticmapreduce:TerminateJobFlows", "elasticmapreduce:CancelSteps"}, Launch: true, Resume: []string{"states:SendTaskSuccess", "states:SendTaskFailure"}, Schedules: true},
}

// Grants are what the functions' grants name.
type Grants struct {
	// Stack is the stack's name: EMR calls are allowed only on clusters whose stack tag names it.
	Stack string
	// Table, TableIndexes, RunStateMachine, RunExecutions, RunsQueue, EventsQueue: ARNs (the run
	// workflow's executions as a pattern).
	Table, TableIndexes, RunStateMachine, RunExecutions, RunsQueue, EventsQueue *string
	// PassRoles are the ARNs of the roles EMR clusters are launched with (the service role and the
	// instance profile's role): the only roles the functions may pass.
	PassRoles []*string
	// ScheduleRole is the role the transforms' schedules send to the runs queue with.
	ScheduleRole *string
}

// ScheduleARNs are the ARNs of the stack's schedules (names.ScheduleName) in the default group.
func ScheduleARNs(stack string) string {
	return "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/default/" + stack + "-*"
}

// ClusterARNs are the ARNs of every EMR cluster in the stack's account and region.
var ClusterARNs = "arn:${AWS::Partition}:elasticmapreduce:${AWS::Region}:${AWS::AccountId}:cluster/*"

// grant gives fn exactly what a gives it.
func grant(fn awslambda.Function, a Access, g Grants) {
	add := func(sid string, actions []string, resources []*string, conditions map[string]any) {
		if len(actions) == 0 {
			return
		}
		props := &awsiam.PolicyStatementProps{Sid: jsii.String(sid), Actions: jsii.Strings(actions...), Resources: &resources}
		if conditions != nil {
			props.Conditions = &conditions
		}
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(props))
	}
	add("Table", a.Table, []*string{g.Table, g.TableIndexes}, nil)
	// Resuming a task needs no resource: Step Functions' task-token calls take "*".
	add("ResumeRunTasks", a.Resume, []*string{jsii.String("*")}, nil)
	if a.StartRuns {
		add("StartRunWorkflows", []string{"states:StartExecution"}, []*string{g.RunStateMachine}, nil)
	}
	if a.DescribeRuns {
		add("DescribeRunWorkflows", []string{"states:DescribeExecution"}, []*string{g.RunExecutions}, nil)
	}
	consume := []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"}
	if a.ConsumeRuns {
		add("ConsumeRunRequests", consume, []*string{g.RunsQueue}, nil)
	}
	if a.ConsumeEvents {
		add("ConsumeEvents", consume, []*string{g.EventsQueue}, nil)
	}
	// EMR calls: only on this stack's clusters (tagged with its name and a pool); only RunJobFlow,
	// which has no cluster yet, takes "*", and then only for a cluster tagged so.
	add("EmrOperateThisStacksClusters", a.EMR, []*string{awscdk.Fn_Sub(jsii.String(ClusterARNs), nil)}, map[string]any{
		"StringEquals": map[string]any{"elasticmapreduce:ResourceTag/" + names.StackTag: g.Stack},
		"Null":         map[string]any{"elasticmapreduce:ResourceTag/" + names.PoolTag: "false"}})
	if a.Schedules {
		add("KeepThisStacksSchedules", []string{"scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule"},
			[]*string{awscdk.Fn_Sub(jsii.String(ScheduleARNs(g.Stack)), nil)}, nil)
		add("PassTheScheduleRole", []string{"iam:PassRole"}, []*string{g.ScheduleRole},
			map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "scheduler.amazonaws.com"}})
	}
	if a.Launch {
		add("EmrLaunchThisStacksClusters", []string{"elasticmapreduce:RunJobFlow"}, []*string{jsii.String("*")}, map[string]any{
			"StringEquals": map[string]any{"aws:RequestTag/" + names.StackTag: g.Stack},
			"Null":         map[string]any{"aws:RequestTag/" + names.PoolTag: "false"}})
		add("PassOnlyTheEmrRoles", []string{"iam:PassRole"}, g.PassRoles,
			map[string]any{"StringEquals": map[string]any{"iam:PassedToService": []string{"elasticmapreduce.amazonaws.com", "ec2.amazonaws.com"}}})
		// EMR creates its service-linked role at an account's first cluster launch, with the
		// launching caller's permission; without it that launch ends at once (VALIDATION_ERROR).
		// Only that role, and only for EMR.
		add("LetEmrCreateItsCleanupRole", []string{"iam:CreateServiceLinkedRole", "iam:PutRolePolicy"},
			[]*string{awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/"+names.EMRServiceName+"*/"+names.CleanupRoleName+"*"), nil)},
			map[string]any{"StringLike": map[string]any{"iam:AWSServiceName": names.EMRServiceName + "*"}})
	}
}
