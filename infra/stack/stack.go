// Package stack is SparkFlow's AWS home as a CDK stack: one construct per concern (storage, queues,
// functions, workflows, events), composed here with the grants between them.
package stack

import (
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/sparkflow/sparkflow/shared/aws/names"
)

// Props are what differs between deployments.
type Props struct {
	awscdk.StackProps
	// Name prefixes the state machines' names (default: the stack's name).
	Name string
	// EMRServiceRole is the name of the EMR service role clusters are launched with (default: the
	// role the stack creates, with AWS's AmazonEMRServicePolicy_v2 and leave to pass exactly the
	// stack's step role; with your own, use an instance profile it may pass, -c instanceProfile).
	EMRServiceRole string
	// InstanceProfile is the name of the EC2 instance profile that runs step code (default: the one
	// the stack creates, which is denied SparkFlow's own table and queues).
	InstanceProfile string
	// SubnetIDs, LogURI: defaults for the clusters of every pool. The stack's instance profile may
	// write the log URI.
	SubnetIDs []string
	LogURI    string
	// CodeBuckets are read by step code (jars, scripts); DataBuckets are read and written (a job's
	// input and output). Each is bucket, bucket/prefix or s3://bucket/prefix; only the stack's own
	// instance profile gets these grants.
	CodeBuckets, DataBuckets []string
	// AssetDir holds <function>/bootstrap for every function (make lambdas builds dist/lambdas).
	AssetDir string
	// ReconcileMinutes is the reconciler's period (default 5).
	ReconcileMinutes float64
	// RetentionDays: ended runs and rejected requests expire this many days after (DynamoDB TTL);
	// nil is names.DefaultRetentionDays, 0 keeps them forever.
	RetentionDays *int
	// AlarmTopicARN is the default of the AlarmTopicArn parameter: the SNS topic every alarm
	// notifies ("" for none).
	AlarmTopicARN string
	// OldestWaitAlarmMinutes is the default of the OldestWaitAlarmMinutes parameter (60).
	OldestWaitAlarmMinutes float64
}

// Stack is the composed stack.
type Stack struct {
	awscdk.Stack
	Storage   *Storage
	Queues    *Queues
	Functions *Functions
	Workflows *Workflows
	Events    *Events
	Alarms    *Alarms
	Dashboard awscloudwatch.Dashboard
	StepRole  awsiam.Role
	// ScheduleRole is the role the transforms' EventBridge Scheduler schedules send with.
	ScheduleRole awsiam.Role
	// ServiceRole is the EMR service role the stack creates (nil when one is given).
	ServiceRole awsiam.Role
}

// New composes the stack.
func New(scope constructs.Construct, id string, p Props) *Stack {
	st := awscdk.NewStack(scope, jsii.String(id), &p.StackProps)
	if p.Name == "" {
		p.Name = id
	}
	if p.ReconcileMinutes == 0 {
		p.ReconcileMinutes = 5
	}
	if p.ReconcileMinutes < 1 {
		panic(fmt.Sprintf("reconcileMinutes %v: the reconciler's period is at least 1 minute", p.ReconcileMinutes))
	}
	s := &Stack{Stack: st}
	s.Storage = NewStorage(st, "Storage")
	retention := names.DefaultRetentionDays
	if p.RetentionDays != nil {
		retention = *p.RetentionDays
	}
	if retention < 0 {
		panic(fmt.Sprintf("retentionDays %d: give a number of days, or 0 to keep ended runs forever", retention))
	}
	s.Queues = NewQueues(st, "Queues", awscdk.Duration_Seconds(jsii.Number(6*IntakeTimeoutSeconds)), awscdk.Duration_Seconds(jsii.Number(6*EventsTimeoutSeconds)))

	// The role that runs step code on the clusters: it may use S3 and logs as the job needs, but
	// never SparkFlow's own table or queues.
	s.StepRole = awsiam.NewRole(st, jsii.String("StepRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("ec2.amazonaws.com"), nil),
		Description: jsii.String("SparkFlow: EC2 role of EMR clusters that run step code"),
	})
	s.StepRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("DenySparkflowState"), Effect: awsiam.Effect_DENY,
		Actions:   jsii.Strings("dynamodb:*", "sqs:*"),
		Resources: &[]*string{s.Storage.Table.TableArn(), jsii.String(*s.Storage.Table.TableArn() + "/index/*"), s.Queues.Runs.QueueArn(), s.Queues.RunsDLQ.QueueArn(), s.Queues.Events.QueueArn(), s.Queues.EventsDLQ.QueueArn(), s.Queues.ScheduleDLQ.QueueArn()},
	}))
	// The role EventBridge Scheduler sends a scheduled transform's firings with: to the runs queue,
	// and what it cannot deliver to the schedule DLQ. Only schedules of this account may assume it.
	s.ScheduleRole = awsiam.NewRole(st, jsii.String("ScheduleRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("scheduler.amazonaws.com"), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()}}}),
		Description: jsii.String("SparkFlow: EventBridge Scheduler role of the transforms' schedules"),
	})
	s.ScheduleRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("SendScheduledRuns"), Actions: jsii.Strings("sqs:SendMessage"),
		Resources: &[]*string{s.Queues.Runs.QueueArn(), s.Queues.ScheduleDLQ.QueueArn()},
	}))
	locations := func(what string, in []string) []S3Location {
		var out []S3Location
		for _, s := range in {
			l, err := ParseS3Location(s)
			if err != nil {
				panic(what + " " + err.Error())
			}
			out = append(out, l)
		}
		return out
	}
	var logs *S3Location
	if p.LogURI != "" {
		l, err := ParseS3Location(p.LogURI)
		if err != nil {
			panic("logUri " + err.Error())
		}
		logs = &l
	}
	grantBuckets(s.StepRole, locations("codeBuckets", p.CodeBuckets), locations("dataBuckets", p.DataBuckets), logs)
	profile := awsiam.NewCfnInstanceProfile(st, jsii.String("StepInstanceProfile"), &awsiam.CfnInstanceProfileProps{Roles: &[]interface{}{s.StepRole.RoleName()}})
	instanceProfile := p.InstanceProfile
	var passRoles []*string
	if instanceProfile == "" {
		instanceProfile = *profile.Ref()
		passRoles = append(passRoles, s.StepRole.RoleArn())
	} else {
		passRoles = append(passRoles, roleARN(instanceProfile))
	}
	// The EMR service role. AWS's AmazonEMRServicePolicy_v2 may pass only EMR_EC2_DefaultRole, so the
	// stack's own service role adds leave to pass exactly the step role it launches clusters with.
	serviceRole := jsii.String(p.EMRServiceRole)
	if p.EMRServiceRole == "" {
		s.ServiceRole = awsiam.NewRole(st, jsii.String("EmrServiceRole"), &awsiam.RoleProps{
			AssumedBy:       awsiam.NewServicePrincipal(jsii.String("elasticmapreduce.amazonaws.com"), nil),
			Description:     jsii.String("SparkFlow: EMR service role of the pools' clusters"),
			ManagedPolicies: &[]awsiam.IManagedPolicy{awsiam.ManagedPolicy_FromAwsManagedPolicyName(jsii.String(names.ServiceRolePolicyName))},
		})
		s.ServiceRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String("PassTheStepRoleToEC2"), Actions: jsii.Strings("iam:PassRole"), Resources: &[]*string{passRoles[0]},
			Conditions: &map[string]any{"StringLike": map[string]any{"iam:PassedToService": "ec2.amazonaws.com*"}},
		}))
		serviceRole = s.ServiceRole.RoleName()
		passRoles = append(passRoles, s.ServiceRole.RoleArn())
	} else {
		passRoles = append(passRoles, roleARN(p.EMRServiceRole))
	}
	// Subnets: a deploy-time parameter (cdk deploy --parameters EmrSubnets=subnet-a,subnet-b), by
	// default the -c subnets of the synth. They must carry the managed-policies tag.
	subnets := awscdk.NewCfnParameter(st, jsii.String(names.ParameterSubnets), &awscdk.CfnParameterProps{
		Type: jsii.String("String"), Default: jsii.String(strings.Join(p.SubnetIDs, ",")),
		Description: jsii.String("EC2 subnets of the pools' clusters, comma-separated, each tagged " + names.ManagedPoliciesTag + "=true (empty: EMR's default subnet, which must carry the tag too)"),
	})

	runName, poolName := p.Name+"-run", p.Name+"-pool"
	env := map[string]*string{
		names.EnvTable:           s.Storage.Table.TableName(),
		names.EnvStateMachine:    StateMachineARN(st, runName),
		names.EnvServiceRole:     serviceRole,
		names.EnvInstanceProfile: jsii.String(instanceProfile),
		names.EnvStack:           jsii.String(p.Name),
		names.EnvRetentionDays:   jsii.String(fmt.Sprint(retention)),
	}
	if p.LogURI != "" {
		env[names.EnvLogURI] = jsii.String(p.LogURI)
	}
	env[names.EnvSubnets] = subnets.ValueAsString()
	s.Functions = NewFunctions(st, "Functions", FunctionsProps{AssetDir: p.AssetDir, Environment: env,
		Grants: Grants{Stack: p.Name, PassRoles: passRoles, ScheduleRole: s.ScheduleRole.RoleArn(),
			Table: s.Storage.Table.TableArn(), TableIndexes: jsii.String(*s.Storage.Table.TableArn() + "/index/*"),
			RunStateMachine: StateMachineARN(st, runName), RunExecutions: awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:"+runName+":*"), nil),
			RunsQueue: s.Queues.Runs.QueueArn(), EventsQueue: s.Queues.Events.QueueArn()},
		ReconcilePeriod: time.Duration(p.ReconcileMinutes * float64(time.Minute))})
	// Only the pool function keeps schedules (it puts and deletes transforms).
	pool := s.Functions.ByName[names.FunctionPool]
	pool.AddEnvironment(jsii.String(names.EnvRunsQueueARN), s.Queues.Runs.QueueArn(), nil)
	pool.AddEnvironment(jsii.String(names.EnvScheduleRole), s.ScheduleRole.RoleArn(), nil)
	pool.AddEnvironment(jsii.String(names.EnvScheduleDLQ), s.Queues.ScheduleDLQ.QueueArn(), nil)
	s.Workflows = NewWorkflows(st, "Workflows", runName, poolName, s.Functions)
	s.Events = NewEvents(st, "Events", s.Queues.Events, s.Queues.EventsDLQ, s.Functions.ByName[names.FunctionReconcile],
		awscdk.Duration_Minutes(jsii.Number(p.ReconcileMinutes)), StateMachineARN(st, runName), names.NamePrefix(p.Name))
	s.Alarms = NewAlarms(st, "Alarms", s.Queues, s.Workflows, AlarmProps{Stack: p.Name, TopicARN: p.AlarmTopicARN,
		OldestWaitMinutes: p.OldestWaitAlarmMinutes, Period: awscdk.Duration_Minutes(jsii.Number(p.ReconcileMinutes))})
	s.Dashboard = NewDashboard(st, "Dashboard", p.Name, s.Queues, s.Workflows, awscdk.Duration_Minutes(jsii.Number(p.ReconcileMinutes)))

	// Both queues feed their function in batches; only the messages it reports failed come back.
	s.Functions.ByName[names.FunctionIntake].AddEventSourceMapping(jsii.String("RunsQueue"), &awslambda.EventSourceMappingOptions{
		EventSourceArn: s.Queues.Runs.QueueArn(), BatchSize: jsii.Number(10), ReportBatchItemFailures: jsii.Bool(true)})
	s.Functions.ByName[names.FunctionEMREvents].AddEventSourceMapping(jsii.String("EventsQueue"), &awslambda.EventSourceMappingOptions{
		EventSourceArn: s.Queues.Events.QueueArn(), BatchSize: jsii.Number(10), ReportBatchItemFailures: jsii.Bool(true)})

	out := func(name string, v *string, desc string) {
		awscdk.NewCfnOutput(st, jsii.String(name), &awscdk.CfnOutputProps{Value: v, Description: jsii.String(desc)})
	}
	out(names.OutputRunsQueueURL, s.Queues.Runs.QueueUrl(), "put run requests here")
	out(names.OutputRunsDLQURL, s.Queues.RunsDLQ.QueueUrl(), "run requests that could not be accepted")
	out(names.OutputScheduleDLQURL, s.Queues.ScheduleDLQ.QueueUrl(), "firings of transforms' schedules that could not be sent to the runs queue")
	out(names.OutputTableName, s.Storage.Table.TableName(), "pools, clusters, transforms and runs")
	out(names.OutputRunStateMachineARN, s.Workflows.Run.StateMachineArn(), "one execution per run, named by the run id")
	out(names.OutputPoolStateMachineARN, s.Workflows.Pool.StateMachineArn(), "create, delete and heal pools")
	out(names.OutputStepInstanceProfileName, profile.Ref(), "instance profile for step code (denied SparkFlow's table and queues)")
	out(names.OutputEMRServiceRoleName, serviceRole, "EMR service role of the pools' clusters")
	out(names.OutputClusterInstanceProfileName, jsii.String(instanceProfile), "instance profile the pools' clusters are launched with")
	var groups []*string
	for _, g := range s.Functions.LogGroups {
		groups = append(groups, g.LogGroupName())
	}
	out(names.OutputFunctionLogGroups, awscdk.Fn_Join(jsii.String(","), &groups), "the functions' log groups: JSON lines, each about a run with its run_id (sparkflow run show gives the query)")
	for _, o := range []struct{ name, value, desc string }{
		{names.OutputLogURI, p.LogURI, "where the clusters write their logs"},
		{names.OutputCodeBuckets, strings.Join(p.CodeBuckets, ","), "buckets step code may read"},
		{names.OutputDataBuckets, strings.Join(p.DataBuckets, ","), "buckets step code may read and write"},
	} {
		if o.value != "" { // an output needs a value: those not set are left out
			out(o.name, jsii.String(o.value), o.desc)
		}
	}
	return s
}

func roleARN(name string) *string {
	return awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/"+name), nil)
}
