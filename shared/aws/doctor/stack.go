package doctor

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/sparkflow/sparkflow/shared/aws/names"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

type identity struct{ account, partition, arn string }

func (d *Doctor) credentials(ctx context.Context) (identity, Finding) {
	if d.Region == "" {
		return identity{}, Finding{Check: "credentials", Status: Fail, Detail: "no AWS region", Fix: "set AWS_REGION, or a region in your AWS profile"}
	}
	out, err := d.Clients.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return identity{}, Finding{Check: "credentials", Status: Fail, Detail: "AWS did not accept your credentials: " + err.Error(),
			Fix: "configure credentials as the AWS CLI reads them (aws configure, AWS_PROFILE, or aws sso login)"}
	}
	arn := aws.ToString(out.Arn)
	id := identity{account: aws.ToString(out.Account), partition: "aws", arn: arn}
	if parts := strings.SplitN(arn, ":", 3); len(parts) == 3 && parts[1] != "" {
		id.partition = parts[1]
	}
	return id, Finding{Check: "credentials", Status: OK, Detail: fmt.Sprintf("%s in account %s, region %s", arn, id.account, d.Region)}
}

// stack reads the stack's status, outputs and parameters; it reports whether the checks can go on.
func (d *Doctor) stack(ctx context.Context, fs *facts) ([]Finding, bool) {
	out, err := d.Clients.CloudFormation.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(d.Stack)})
	if err != nil || len(out.Stacks) != 1 {
		if err != nil && accessDenied(err) {
			return []Finding{unchecked("stack", "the stack", err, "cloudformation:DescribeStacks")}, false
		}
		return []Finding{{Check: "stack", Status: Fail, Detail: fmt.Sprintf("no stack %s in %s", d.Stack, d.Region),
			Fix: "deploy it (make synth, then cdk deploy --app cdk.out), or name yours with --stack and the region with AWS_REGION"}}, false
	}
	st := out.Stacks[0]
	fs.outputs, fs.params = map[string]string{}, map[string]string{}
	for _, o := range st.Outputs {
		fs.outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	for _, p := range st.Parameters {
		fs.params[aws.ToString(p.ParameterKey)] = aws.ToString(p.ParameterValue)
	}
	var missing []string
	for _, k := range []string{names.OutputTableName, names.OutputRunsQueueURL, names.OutputRunStateMachineARN, names.OutputEMRServiceRoleName, names.OutputClusterInstanceProfileName} {
		if fs.outputs[k] == "" {
			missing = append(missing, k)
		}
	}
	status := string(st.StackStatus)
	if len(missing) > 0 {
		return []Finding{{Check: "stack", Status: Fail, Detail: fmt.Sprintf("stack %s (%s) lacks the outputs %s", d.Stack, status, strings.Join(missing, ", ")),
			Fix: "deploy this version of SparkFlow over it (make synth, then cdk deploy --app cdk.out)"}}, false
	}
	f := Finding{Check: "stack", Status: OK, Detail: fmt.Sprintf("%s is %s", d.Stack, status)}
	switch {
	case strings.HasSuffix(status, "_FAILED") || strings.Contains(status, "ROLLBACK"):
		f.Status, f.Fix = Fail, "see the stack's events (aws cloudformation describe-stack-events --stack-name "+d.Stack+"), fix the cause and deploy again"
	case strings.HasSuffix(status, "_IN_PROGRESS"):
		f.Status, f.Fix = Warn, "a change is under way; run the doctor again when it is complete"
	}
	return []Finding{f}, true
}

// PoolFindings reports pools whose launches are held after failed starts (or back off); cli is the
// command that reaches the pools ("sparkflow --target aws --stack NAME").
func PoolFindings(cli string, pools []sparkflow.PoolView) []Finding {
	var out []Finding
	for _, p := range pools {
		why := ""
		if p.LastStartFailure != nil {
			why = fmt.Sprintf(": %s %s (cluster %s)", p.LastStartFailure.Reason.Code, p.LastStartFailure.Reason.Message, p.LastStartFailure.ClusterID)
		}
		switch {
		case p.LaunchesHeld:
			out = append(out, Finding{Check: "pool " + p.Name, Status: Fail, Detail: fmt.Sprintf("launches held after %d clusters in a row failed to start%s", p.StartFailures, why),
				Fix: fmt.Sprintf("fix the cause EMR gives, then: %s pool heal %s", cli, p.Name)})
		case p.StartFailures > 0:
			out = append(out, Finding{Check: "pool " + p.Name, Status: Warn, Detail: fmt.Sprintf("%d clusters in a row failed to start%s; the next launch backs off", p.StartFailures, why)})
		}
	}
	return out
}

// alarms reports the stack's alarms that are firing.
func (d *Doctor) alarms(ctx context.Context, fs *facts) []Finding {
	res, err := d.Clients.CloudFormation.DescribeStackResources(ctx, &cloudformation.DescribeStackResourcesInput{StackName: aws.String(d.Stack)})
	if err != nil {
		return []Finding{unchecked("alarms", "the stack's alarms", err, "cloudformation:DescribeStackResources")}
	}
	var alarmNames []string
	for _, r := range res.StackResources {
		if aws.ToString(r.ResourceType) == "AWS::CloudWatch::Alarm" && aws.ToString(r.PhysicalResourceId) != "" {
			alarmNames = append(alarmNames, aws.ToString(r.PhysicalResourceId))
		}
	}
	if len(alarmNames) == 0 {
		return []Finding{{Check: "alarms", Status: Warn, Detail: "the stack has no alarms", Fix: "deploy this version of SparkFlow over it"}}
	}
	sort.Strings(alarmNames)
	var firing []Finding
	seen := 0
	for start := 0; start < len(alarmNames); start += 100 { // DescribeAlarms takes at most 100 names
		end := min(start+100, len(alarmNames))
		out, err := d.Clients.CloudWatch.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: alarmNames[start:end]})
		if err != nil {
			return []Finding{unchecked("alarms", "the stack's alarms", err, "cloudwatch:DescribeAlarms")}
		}
		for _, a := range out.MetricAlarms {
			seen++
			if a.StateValue == cwtypes.StateValueAlarm {
				firing = append(firing, Finding{Check: "alarm " + aws.ToString(a.AlarmName), Status: Warn,
					Detail: strings.TrimPrefix(aws.ToString(a.AlarmDescription), "SparkFlow: ") + " (" + aws.ToString(a.StateReason) + ")",
					Fix:    "see the alarm's description; it clears by itself once the cause is gone"})
			}
		}
	}
	if len(firing) > 0 {
		return firing
	}
	return []Finding{{Check: "alarms", Status: OK, Detail: fmt.Sprintf("%d alarms, none firing", seen)}}
}
