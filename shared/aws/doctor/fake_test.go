package doctor

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/emr"
	emrtypes "github.com/aws/aws-sdk-go-v2/service/emr/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/sparkflow/sparkflow/shared/aws/names"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// world is a fake account: every service the doctor reads, answering from plain maps. denied names
// the calls ("ec2:DescribeSubnets") that answer AccessDenied.
type world struct {
	noCredentials bool
	stackMissing  bool
	stackStatus   string
	outputs       map[string]string
	params        map[string]string
	resources     []cfntypes.StackResource
	roles         map[string]iamtypes.Role
	attached      map[string][]string
	profiles      map[string]iamtypes.InstanceProfile
	// allowed holds "principal|action|resource" the simulator allows; "!"-prefixed keys are denied
	// explicitly; everything else is an implicit deny.
	allowed  map[string]bool
	subnets  map[string]ec2types.Subnet
	vpcs     map[string]ec2types.Vpc
	groups   []ec2types.SecurityGroup
	buckets  map[string]string // name -> region
	objects  map[string]bool   // bucket/key
	releases []string
	types    map[string][]string
	alarms   []cwtypes.MetricAlarm
	denied   map[string]bool
	pools    []sparkflow.PoolView
	trans    []sparkflow.Transform
}

func apiErr(code string) error { return &smithy.GenericAPIError{Code: code, Message: code} }

func (w *world) deny(call string) error {
	if w.denied[call] {
		return apiErr("AccessDenied")
	}
	return nil
}

func trust(service string) *string {
	return aws.String(url.QueryEscape(fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":%q},"Action":"sts:AssumeRole"}]}`, service)))
}

// healthy is an account where the stack's defaults launch and run: tagged network, roles that pass,
// the log bucket, a transform whose jar is there.
func healthy() *world {
	const acct = "123456789012"
	role := func(name, svc string) iamtypes.Role {
		return iamtypes.Role{RoleName: aws.String(name), Arn: aws.String("arn:aws:iam::" + acct + ":role/" + name), AssumeRolePolicyDocument: trust(svc)}
	}
	tag := []ec2types.Tag{{Key: aws.String(names.ManagedPoliciesTag), Value: aws.String("true")}}
	w := &world{
		stackStatus: "CREATE_COMPLETE",
		outputs: map[string]string{names.OutputTableName: "tbl", names.OutputRunsQueueURL: "https://sqs.us-east-1.amazonaws.com/" + acct + "/runs",
			names.OutputRunStateMachineARN: "arn:aws:states:us-east-1:" + acct + ":stateMachine:run", names.OutputEMRServiceRoleName: "svc",
			names.OutputClusterInstanceProfileName: "steps", names.OutputLogURI: "s3://logs/emr/"},
		params:    map[string]string{names.ParameterSubnets: "subnet-a"},
		resources: []cfntypes.StackResource{{ResourceType: aws.String("AWS::CloudWatch::Alarm"), PhysicalResourceId: aws.String("RunsDLQ")}},
		roles:     map[string]iamtypes.Role{"svc": role("svc", "elasticmapreduce.amazonaws.com"), "step-role": role("step-role", "ec2.amazonaws.com"), cleanupRole: role(cleanupRole, "elasticmapreduce.amazonaws.com")},
		attached:  map[string][]string{"svc": {"AmazonEMRServicePolicy_v2"}},
		allowed:   map[string]bool{},
		subnets:   map[string]ec2types.Subnet{"subnet-a": {SubnetId: aws.String("subnet-a"), VpcId: aws.String("vpc-1"), Tags: tag}},
		vpcs:      map[string]ec2types.Vpc{"vpc-1": {VpcId: aws.String("vpc-1"), Tags: tag}},
		buckets:   map[string]string{"logs": "us-east-1", "code": "us-east-1"},
		objects:   map[string]bool{"code/jobs/daily.jar": true},
		releases:  []string{"emr-7.6.0", sparkflow.DefaultReleaseLabel, "emr-6.15.0"},
		types:     map[string][]string{sparkflow.DefaultReleaseLabel: {"m7g.xlarge", "m7g.2xlarge", "r7g.xlarge", "m6g.xlarge", "m7g.4xlarge", "r7g.2xlarge"}},
		alarms:    []cwtypes.MetricAlarm{{AlarmName: aws.String("RunsDLQ"), StateValue: cwtypes.StateValueOk}},
		denied:    map[string]bool{},
		pools:     []sparkflow.PoolView{{Pool: sparkflow.Pool{Name: "etl", Tier: "tiny", ReleaseLabel: sparkflow.DefaultReleaseLabel}}},
		trans:     []sparkflow.Transform{{Name: "daily", Pool: "etl", Kind: sparkflow.KindSpark, MainResource: "s3://code/jobs/daily.jar"}},
	}
	w.profiles = map[string]iamtypes.InstanceProfile{"steps": {InstanceProfileName: aws.String("steps"), Roles: []iamtypes.Role{w.roles["step-role"]}}}
	stepRole := "arn:aws:iam::" + acct + ":role/step-role"
	w.allowed["arn:aws:iam::"+acct+":role/svc|iam:PassRole|"+stepRole] = true
	w.allowed[stepRole+"|s3:PutObject|arn:aws:s3:::logs/emr/j-EXAMPLE/steps/s-EXAMPLE/stdout.gz"] = true
	w.allowed[stepRole+"|s3:GetObject|arn:aws:s3:::code/jobs/daily.jar"] = true
	w.allowed["!"+stepRole+"|dynamodb:PutItem|arn:aws:dynamodb:us-east-1:"+acct+":table/tbl"] = true
	return w
}

func (w *world) clients() Clients {
	return Clients{STS: w, CloudFormation: w, IAM: w, EC2: w, S3: w, EMR: w, CloudWatch: w}
}

func (w *world) GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	if w.noCredentials {
		return nil, apiErr("InvalidClientTokenId")
	}
	return &sts.GetCallerIdentityOutput{Account: aws.String("123456789012"), Arn: aws.String("arn:aws:iam::123456789012:user/dev")}, nil
}

func (w *world) DescribeStacks(_ context.Context, in *cloudformation.DescribeStacksInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	if w.stackMissing {
		return nil, apiErr("ValidationError")
	}
	st := cfntypes.Stack{StackName: in.StackName, StackStatus: cfntypes.StackStatus(w.stackStatus)}
	for k, v := range w.outputs {
		st.Outputs = append(st.Outputs, cfntypes.Output{OutputKey: aws.String(k), OutputValue: aws.String(v)})
	}
	for k, v := range w.params {
		st.Parameters = append(st.Parameters, cfntypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(v)})
	}
	return &cloudformation.DescribeStacksOutput{Stacks: []cfntypes.Stack{st}}, nil
}

func (w *world) DescribeStackResources(context.Context, *cloudformation.DescribeStackResourcesInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStackResourcesOutput, error) {
	return &cloudformation.DescribeStackResourcesOutput{StackResources: w.resources}, nil
}

func (w *world) GetRole(_ context.Context, in *iam.GetRoleInput, _ ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	if err := w.deny("iam:GetRole"); err != nil {
		return nil, err
	}
	r, ok := w.roles[aws.ToString(in.RoleName)]
	if !ok {
		return nil, apiErr("NoSuchEntity")
	}
	return &iam.GetRoleOutput{Role: &r}, nil
}

func (w *world) GetInstanceProfile(_ context.Context, in *iam.GetInstanceProfileInput, _ ...func(*iam.Options)) (*iam.GetInstanceProfileOutput, error) {
	p, ok := w.profiles[aws.ToString(in.InstanceProfileName)]
	if !ok {
		return nil, apiErr("NoSuchEntity")
	}
	return &iam.GetInstanceProfileOutput{InstanceProfile: &p}, nil
}

func (w *world) ListAttachedRolePolicies(_ context.Context, in *iam.ListAttachedRolePoliciesInput, _ ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error) {
	out := &iam.ListAttachedRolePoliciesOutput{}
	for _, n := range w.attached[aws.ToString(in.RoleName)] {
		out.AttachedPolicies = append(out.AttachedPolicies, iamtypes.AttachedPolicy{PolicyName: aws.String(n)})
	}
	return out, nil
}

func (w *world) SimulatePrincipalPolicy(_ context.Context, in *iam.SimulatePrincipalPolicyInput, _ ...func(*iam.Options)) (*iam.SimulatePrincipalPolicyOutput, error) {
	if err := w.deny("iam:SimulatePrincipalPolicy"); err != nil {
		return nil, err
	}
	out := &iam.SimulatePrincipalPolicyOutput{}
	for _, a := range in.ActionNames {
		for _, r := range in.ResourceArns {
			key := aws.ToString(in.PolicySourceArn) + "|" + a + "|" + r
			d := iamtypes.PolicyEvaluationDecisionTypeImplicitDeny
			if w.allowed[key] {
				d = iamtypes.PolicyEvaluationDecisionTypeAllowed
			} else if w.allowed["!"+key] {
				d = iamtypes.PolicyEvaluationDecisionTypeExplicitDeny
			}
			out.EvaluationResults = append(out.EvaluationResults, iamtypes.EvaluationResult{EvalActionName: aws.String(a), EvalResourceName: aws.String(r), EvalDecision: d})
		}
	}
	return out, nil
}

func filter(fs []ec2types.Filter, name string) []string {
	for _, f := range fs {
		if aws.ToString(f.Name) == name {
			return f.Values
		}
	}
	return nil
}

func (w *world) DescribeSubnets(_ context.Context, in *ec2.DescribeSubnetsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error) {
	if err := w.deny("ec2:DescribeSubnets"); err != nil {
		return nil, err
	}
	out := &ec2.DescribeSubnetsOutput{}
	for _, id := range in.SubnetIds {
		s, ok := w.subnets[id]
		if !ok {
			return nil, apiErr("InvalidSubnetID.NotFound")
		}
		out.Subnets = append(out.Subnets, s)
	}
	if vpc := filter(in.Filters, "vpc-id"); vpc != nil {
		for _, s := range w.subnets {
			if aws.ToString(s.VpcId) == vpc[0] && aws.ToBool(s.DefaultForAz) {
				out.Subnets = append(out.Subnets, s)
			}
		}
	}
	return out, nil
}

func (w *world) DescribeVpcs(_ context.Context, in *ec2.DescribeVpcsInput, _ ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error) {
	out := &ec2.DescribeVpcsOutput{}
	for _, id := range in.VpcIds {
		if v, ok := w.vpcs[id]; ok {
			out.Vpcs = append(out.Vpcs, v)
		}
	}
	if filter(in.Filters, "is-default") != nil {
		for _, v := range w.vpcs {
			if aws.ToBool(v.IsDefault) {
				out.Vpcs = append(out.Vpcs, v)
			}
		}
	}
	return out, nil
}

func (w *world) DescribeSecurityGroups(_ context.Context, in *ec2.DescribeSecurityGroupsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error) {
	out := &ec2.DescribeSecurityGroupsOutput{}
	for _, g := range w.groups {
		match := true
		if len(in.GroupIds) > 0 {
			match = aws.ToString(g.GroupId) == in.GroupIds[0]
		}
		if vpc := filter(in.Filters, "vpc-id"); vpc != nil {
			match = match && aws.ToString(g.VpcId) == vpc[0] && strings.Contains(strings.Join(filter(in.Filters, "group-name"), ","), aws.ToString(g.GroupName))
		}
		if match {
			out.SecurityGroups = append(out.SecurityGroups, g)
		}
	}
	if len(in.GroupIds) > 0 && len(out.SecurityGroups) == 0 {
		return nil, apiErr("InvalidGroup.NotFound")
	}
	return out, nil
}

func (w *world) HeadBucket(_ context.Context, in *s3.HeadBucketInput, _ ...func(*s3.Options)) (*s3.HeadBucketOutput, error) {
	if _, ok := w.buckets[aws.ToString(in.Bucket)]; !ok {
		return nil, &s3types.NotFound{}
	}
	return &s3.HeadBucketOutput{}, nil
}

func (w *world) GetBucketLocation(_ context.Context, in *s3.GetBucketLocationInput, _ ...func(*s3.Options)) (*s3.GetBucketLocationOutput, error) {
	r := w.buckets[aws.ToString(in.Bucket)]
	if r == "us-east-1" {
		r = ""
	}
	return &s3.GetBucketLocationOutput{LocationConstraint: s3types.BucketLocationConstraint(r)}, nil
}

func (w *world) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	if !w.objects[aws.ToString(in.Bucket)+"/"+aws.ToString(in.Key)] {
		return nil, &s3types.NotFound{}
	}
	return &s3.HeadObjectOutput{}, nil
}

func (w *world) ListReleaseLabels(_ context.Context, in *emr.ListReleaseLabelsInput, _ ...func(*emr.Options)) (*emr.ListReleaseLabelsOutput, error) {
	// Two pages, as EMR pages its answer.
	if in.NextToken == nil {
		return &emr.ListReleaseLabelsOutput{ReleaseLabels: w.releases[:1], NextToken: aws.String("p2")}, nil
	}
	return &emr.ListReleaseLabelsOutput{ReleaseLabels: w.releases[1:]}, nil
}

func (w *world) ListSupportedInstanceTypes(_ context.Context, in *emr.ListSupportedInstanceTypesInput, _ ...func(*emr.Options)) (*emr.ListSupportedInstanceTypesOutput, error) {
	out := &emr.ListSupportedInstanceTypesOutput{}
	for _, t := range w.types[aws.ToString(in.ReleaseLabel)] {
		out.SupportedInstanceTypes = append(out.SupportedInstanceTypes, emrtypes.SupportedInstanceType{Type: aws.String(t)})
	}
	return out, nil
}

func (w *world) DescribeAlarms(context.Context, *cloudwatch.DescribeAlarmsInput, ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error) {
	return &cloudwatch.DescribeAlarmsOutput{MetricAlarms: w.alarms}, nil
}

func (w *world) ListPools(context.Context) ([]sparkflow.PoolView, error) { return w.pools, nil }
func (w *world) ListTransforms(context.Context, string) ([]sparkflow.Transform, error) {
	return w.trans, nil
}
