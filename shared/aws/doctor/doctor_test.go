package doctor

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/sparkflow/sparkflow/shared/aws/names"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tiers"
)

func run(w *world) Report {
	d := Doctor{Clients: w.clients(), Region: "us-east-1", Stack: "SparkFlow", Records: w, Tiers: tiers.Default()}
	return d.Run(context.Background())
}

func find(rep Report, check string) (Finding, bool) {
	for _, f := range rep.Findings {
		if f.Check == check {
			return f, true
		}
	}
	return Finding{}, false
}

func TestAHealthyAccountHasNoProblems(t *testing.T) {
	rep := run(healthy())
	if rep.Count(Fail) != 0 || rep.Count(Warn) != 0 {
		t.Fatalf("problems in a healthy account:\n%s", dump(rep))
	}
	for _, want := range []string{"credentials", "stack", "records", "service role svc", "service-linked role", "instance profile steps", "step access step-role",
		"subnet subnet-a", "security groups of vpc-1", "log bucket logs", "transform daily", "emr release " + sparkflow.DefaultReleaseLabel, "pool etl", "alarms"} {
		if _, ok := find(rep, want); !ok {
			t.Errorf("no %q check in:\n%s", want, dump(rep))
		}
	}
	if rep.Account != "123456789012" {
		t.Errorf("account %q", rep.Account)
	}
}

// Each case breaks one thing a fresh account gets wrong; the doctor names it, as a problem or a
// warning, with a fix that says what to do.
func TestEachProblemIsNamedWithItsFix(t *testing.T) {
	tag := []ec2types.Tag{{Key: aws.String(names.ManagedPoliciesTag), Value: aws.String("true")}}
	for _, tc := range []struct {
		name   string
		break_ func(w *world)
		check  string
		status Status
		detail string
		fix    string
	}{
		{"untagged subnet", func(w *world) { s := w.subnets["subnet-a"]; s.Tags = nil; w.subnets["subnet-a"] = s },
			"subnet subnet-a", Fail, "lacks the tag", "aws ec2 create-tags --resources subnet-a --tags Key=for-use-with-amazon-emr-managed-policies,Value=true"},
		{"untagged subnet, v1 service role", func(w *world) {
			s := w.subnets["subnet-a"]
			s.Tags = nil
			w.subnets["subnet-a"] = s
			w.attached["svc"] = []string{"AmazonElasticMapReduceRole"}
		}, "subnet subnet-a", Warn, "do not require the tag", "create-tags"},
		{"missing subnet", func(w *world) { w.params[names.ParameterSubnets] = "subnet-gone" }, "subnet subnet-gone", Fail, "does not exist", "EmrSubnets="},
		{"no subnets and no default VPC", func(w *world) { w.params[names.ParameterSubnets] = "" }, "subnets", Fail, "no default VPC", "EmrSubnets="},
		{"default VPC's subnets untagged", func(w *world) {
			w.params[names.ParameterSubnets] = ""
			w.vpcs["vpc-d"] = ec2types.Vpc{VpcId: aws.String("vpc-d"), IsDefault: aws.Bool(true), Tags: tag}
			w.subnets["subnet-d"] = ec2types.Subnet{SubnetId: aws.String("subnet-d"), VpcId: aws.String("vpc-d"), DefaultForAz: aws.Bool(true)}
		}, "subnets", Fail, "subnet-d", "create-tags --resources subnet-d"},
		{"EMR's groups untagged", func(w *world) {
			w.groups = []ec2types.SecurityGroup{{GroupId: aws.String("sg-m"), GroupName: aws.String("ElasticMapReduce-master"), VpcId: aws.String("vpc-1")}}
		}, "security groups of vpc-1", Fail, "sg-m", "create-tags --resources sg-m"},
		{"no EMR groups and an untagged VPC", func(w *world) { v := w.vpcs["vpc-1"]; v.Tags = nil; w.vpcs["vpc-1"] = v },
			"security groups of vpc-1", Fail, "may create them only in a VPC tagged", "create-tags --resources vpc-1"},
		{"a pool's untagged security group", func(w *world) {
			w.groups = []ec2types.SecurityGroup{{GroupId: aws.String("sg-extra"), GroupName: aws.String("extra"), VpcId: aws.String("vpc-1")}}
			w.pools[0].Network.SecurityGroups = []string{"sg-extra"}
		}, "security group sg-extra", Fail, "pool etl", "create-tags --resources sg-extra"},
		{"service role missing", func(w *world) { delete(w.roles, "svc") }, "service role svc", Fail, "does not exist", "create-default-roles"},
		{"service role not trusted by EMR", func(w *world) {
			r := w.roles["svc"]
			r.AssumeRolePolicyDocument = trust("ec2.amazonaws.com")
			w.roles["svc"] = r
		}, "service role svc", Fail, "may not assume", "elasticmapreduce.amazonaws.com"},
		{"service role cannot pass the step role", func(w *world) {
			delete(w.allowed, "arn:aws:iam::123456789012:role/svc|iam:PassRole|arn:aws:iam::123456789012:role/step-role")
		}, "service role svc", Fail, "may not pass step-role", "iam:PassedToService = ec2.amazonaws.com"},
		{"cleanup role not yet created", func(w *world) { delete(w.roles, cleanupRole) }, "service-linked role", Warn, "first cluster launch", "create-service-linked-role"},
		{"instance profile missing", func(w *world) { delete(w.profiles, "steps") }, "instance profile steps", Fail, "does not exist", "-c instanceProfile"},
		{"instance profile without a role", func(w *world) {
			w.profiles["steps"] = iamtypes.InstanceProfile{InstanceProfileName: aws.String("steps")}
		},
			"instance profile steps", Fail, "0 roles", "add-role-to-instance-profile"},
		{"step code may write SparkFlow's table", func(w *world) {
			w.allowed["arn:aws:iam::123456789012:role/step-role|dynamodb:PutItem|arn:aws:dynamodb:us-east-1:123456789012:table/tbl"] = true
		}, "step access step-role", Fail, "dynamodb:PutItem", "deny dynamodb:* and sqs:*"},
		{"clusters cannot write their logs", func(w *world) {
			delete(w.allowed, "arn:aws:iam::123456789012:role/step-role|s3:PutObject|arn:aws:s3:::logs/emr/j-EXAMPLE/steps/s-EXAMPLE/stdout.gz")
		}, "step access step-role", Fail, "cannot write their logs", "s3:PutObject"},
		{"a transform's jar is not readable", func(w *world) {
			delete(w.allowed, "arn:aws:iam::123456789012:role/step-role|s3:GetObject|arn:aws:s3:::code/jobs/daily.jar")
		}, "transform daily", Fail, "cannot read s3://code/jobs/daily.jar", "-c codeBuckets=code"},
		{"a transform's jar is missing", func(w *world) { delete(w.objects, "code/jobs/daily.jar") }, "transform daily", Fail, "does not exist", "aws s3 cp"},
		{"log bucket missing", func(w *world) { delete(w.buckets, "logs") }, "log bucket logs", Fail, "does not exist", "aws s3 mb s3://logs --region us-east-1"},
		{"log bucket in another region", func(w *world) { w.buckets["logs"] = "eu-west-1" }, "log bucket logs", Warn, "eu-west-1", "in us-east-1"},
		{"no log location", func(w *world) { delete(w.outputs, names.OutputLogURI) }, "log bucket", Warn, "no log location", "-c logUri="},
		{"a pool's release not in the region", func(w *world) { w.pools[0].ReleaseLabel = "emr-9.9.9" }, "emr release emr-9.9.9", Fail, "does not offer", "emr-7.6.0"},
		{"the default release not in the region", func(w *world) { w.releases = []string{"emr-7.6.0", "emr-7.4.0"}; w.pools = nil; w.trans = nil },
			"emr release " + sparkflow.DefaultReleaseLabel, Warn, "does not offer", "emr-7.6.0, emr-7.4.0"},
		{"a tier's fleet not supported", func(w *world) { w.types[sparkflow.DefaultReleaseLabel] = []string{"m7g.xlarge"} }, "pool etl", Warn, "m6g.xlarge", ""},
		{"an imported pool's own tier not supported", func(w *world) {
			own := sparkflow.Tier{Name: "imported-j-1", Primary: sparkflow.InstanceFleet{InstanceTypes: []string{"m7g.xlarge"}, OnDemandCapacity: 1},
				Core: sparkflow.InstanceFleet{InstanceTypes: []string{"x9.huge"}, OnDemandCapacity: 2}, SpotTimeoutMinutes: 10, StepConcurrency: 2}
			w.pools[0].Tier, w.pools[0].CustomTier = own.Name, &own
		}, "pool etl", Fail, "tier imported-j-1's core fleet has no instance type emr-7.5.0 supports here (x9.huge)", "use another tier"},
		{"launches held", func(w *world) {
			w.pools[0].LaunchesHeld, w.pools[0].StartFailures = true, 3
			w.pools[0].LastStartFailure = &sparkflow.StartFailure{ClusterID: "j-1", Reason: sparkflow.StateReason{Code: "VALIDATION_ERROR", Message: "The subnet is not tagged"}}
		}, "pool etl", Fail, "VALIDATION_ERROR The subnet is not tagged", "pool heal etl"},
		{"an alarm firing", func(w *world) {
			w.alarms[0].StateValue, w.alarms[0].AlarmDescription = cwtypes.StateValueAlarm, aws.String("SparkFlow: run requests could not be accepted")
		}, "alarm RunsDLQ", Warn, "run requests could not be accepted", ""},
		{"a stack update under way", func(w *world) { w.stackStatus = "UPDATE_IN_PROGRESS" }, "stack", Warn, "UPDATE_IN_PROGRESS", "run the doctor again"},
		{"a rolled-back stack", func(w *world) { w.stackStatus = "UPDATE_ROLLBACK_COMPLETE" }, "stack", Fail, "ROLLBACK", "describe-stack-events"},
		{"subnets not readable", func(w *world) { w.denied["ec2:DescribeSubnets"] = true }, "subnets", Warn, "ec2:DescribeSubnets", "grant ec2:DescribeSubnets"},
		{"simulator not allowed", func(w *world) { w.denied["iam:SimulatePrincipalPolicy"] = true }, "service role svc", Warn, "iam:SimulatePrincipalPolicy", "grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := healthy()
			tc.break_(w)
			rep := run(w)
			var got []Finding
			for _, f := range rep.Findings {
				if f.Check == tc.check && f.Status != OK {
					got = append(got, f)
				}
			}
			for _, f := range got {
				if f.Status == tc.status && strings.Contains(f.Detail, tc.detail) && strings.Contains(f.Fix, tc.fix) {
					return
				}
			}
			t.Fatalf("want %s %q with %q, fix %q; got:\n%s", tc.status, tc.check, tc.detail, tc.fix, dump(rep))
		})
	}
}

func TestStopsAtWhatEverythingElseNeeds(t *testing.T) {
	w := healthy()
	w.noCredentials = true
	if rep := run(w); len(rep.Findings) != 1 || rep.Findings[0].Status != Fail || !strings.Contains(rep.Findings[0].Fix, "aws configure") {
		t.Fatalf("no credentials:\n%s", dump(rep))
	}
	w = healthy()
	w.stackMissing = true
	rep := run(w)
	if f, _ := find(rep, "stack"); f.Status != Fail || !strings.Contains(f.Fix, "cdk deploy") || len(rep.Findings) != 2 {
		t.Fatalf("no stack:\n%s", dump(rep))
	}
	w = healthy()
	delete(w.outputs, names.OutputClusterInstanceProfileName)
	if f, _ := find(run(w), "stack"); f.Status != Fail || !strings.Contains(f.Detail, names.OutputClusterInstanceProfileName) {
		t.Fatalf("an older stack: %+v", f)
	}
}

func dump(rep Report) string {
	var b strings.Builder
	for _, f := range rep.Findings {
		b.WriteString(string(f.Status) + " " + f.Check + ": " + f.Detail)
		if f.Fix != "" {
			b.WriteString(" | fix: " + f.Fix)
		}
		b.WriteString("\n")
	}
	return b.String()
}
