package twin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/sparkflow/sparkflow/shared/aws/doctor"
	"github.com/sparkflow/sparkflow/shared/aws/names"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// sparkflow doctor on the deployed stack, as a user runs it: on the stack as the README deploys it
// nothing needs fixing (its roles, policies and network evaluated by the twin's IAM simulator); then
// each thing a fresh account gets wrong is named with its fix, and the exit code says so.
func testDoctor(t *testing.T) {
	ctx := context.Background()
	sf, _, _ := sparkflowCLI(t)
	report := func() (doctor.Report, int, string) {
		t.Helper()
		out, code := sf("doctor", "-o", "json")
		var rep doctor.Report
		if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &rep); err != nil {
			t.Fatalf("doctor -o json: %v\n%s", err, out)
		}
		return rep, code, out
	}
	findings := func(rep doctor.Report, check string, st doctor.Status) []doctor.Finding {
		var out []doctor.Finding
		for _, f := range rep.Findings {
			if f.Check == check && f.Status == st {
				out = append(out, f)
			}
		}
		return out
	}

	rep, code, out := report()
	if code != 0 || rep.Count(doctor.Fail) != 0 {
		t.Fatalf("the stack as deployed: exit %d, %d problems:\n%s", code, rep.Count(doctor.Fail), out)
	}
	for _, want := range []string{"service role " + tw.Outputs[names.OutputEMRServiceRoleName], "subnet " + tw.Subnet, "emr release " + sparkflow.DefaultReleaseLabel, "alarms"} {
		if len(findings(rep, want, doctor.OK)) == 0 {
			t.Errorf("no ok %q in:\n%s", want, out)
		}
	}
	// What the stack's own step role may reach, from its policies in the template: not the table.
	var stepAccess []doctor.Finding
	for _, f := range rep.Findings {
		if strings.HasPrefix(f.Check, "step access ") {
			stepAccess = append(stepAccess, f)
		}
	}
	if len(stepAccess) != 1 || stepAccess[0].Status != doctor.OK || !strings.Contains(stepAccess[0].Detail, "denied SparkFlow's table") {
		t.Errorf("step access: %+v", stepAccess)
	}
	if len(findings(rep, "log bucket", doctor.Warn)) != 1 {
		t.Errorf("the twin's stack has no log location, which is a warning:\n%s", out)
	}

	// An untagged subnet, and a transform whose jar is nowhere the step role may read.
	cl := ec2.NewFromConfig(tw.Config())
	tag := []ec2types.Tag{{Key: aws.String(names.ManagedPoliciesTag), Value: aws.String("true")}}
	if _, err := cl.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{tw.Subnet}, Tags: tag}); err != nil {
		t.Fatal(err)
	}
	defer cl.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{tw.Subnet}, Tags: tag})
	b, err := tw.Backend(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pool := fmt.Sprintf("doc-%d", time.Now().UnixNano()%100000)
	if _, err := b.CreatePool(ctx, sparkflow.Pool{Name: pool, Tier: "tiny", Clusters: 1}); err != nil {
		t.Fatal(err)
	}
	defer b.DeletePool(ctx, pool, true)
	jar := "s3://not-granted-" + pool + "/jobs/daily.jar"
	if _, err := b.CreateTransform(ctx, sparkflow.Transform{Name: pool + "-daily", Pool: pool, Kind: sparkflow.KindSpark, MainResource: jar, MainClass: "a.B"}); err != nil {
		t.Fatal(err)
	}
	defer b.DeleteTransform(ctx, pool+"-daily")
	// And the runs DLQ's alarm going off.
	cw := cloudwatch.NewFromConfig(tw.Config())
	all, err := cw.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{})
	if err != nil {
		t.Fatal(err)
	}
	dlqAlarm := ""
	for _, a := range all.MetricAlarms {
		if n := aws.ToString(a.AlarmName); strings.HasPrefix(n, tw.Stack) && strings.Contains(n, "RunsDLQNotEmpty") {
			dlqAlarm = n
		}
	}
	if dlqAlarm == "" {
		t.Fatalf("the stack's runs DLQ alarm is not in CloudWatch: %d alarms", len(all.MetricAlarms))
	}
	setAlarm := func(s cwtypes.StateValue) {
		if _, err := cw.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String(dlqAlarm), StateValue: s, StateReason: aws.String("1 message in the runs DLQ (twin)")}); err != nil {
			t.Fatal(err)
		}
	}
	setAlarm(cwtypes.StateValueAlarm)
	defer setAlarm(cwtypes.StateValueOk)

	rep, code, out = report()
	if code != 7 {
		t.Errorf("doctor with problems exits %d, want 7", code)
	}
	sub := findings(rep, "subnet "+tw.Subnet, doctor.Fail)
	if len(sub) != 1 || !strings.Contains(sub[0].Fix, "create-tags --resources "+tw.Subnet) {
		t.Errorf("untagged subnet: %+v\n%s", sub, out)
	}
	var unreadable, missing bool
	for _, f := range findings(rep, "transform "+pool+"-daily", doctor.Fail) {
		unreadable = unreadable || strings.Contains(f.Detail, "cannot read "+jar)
		missing = missing || strings.Contains(f.Detail, jar+" does not exist")
	}
	if !unreadable || !missing {
		t.Errorf("a transform's jar in a bucket the step role may not read, and that does not exist: unreadable %v, missing %v\n%s", unreadable, missing, out)
	}
	if al := findings(rep, "alarm "+dlqAlarm, doctor.Warn); len(al) != 1 || !strings.Contains(al[0].Detail, "run requests could not be accepted") {
		t.Errorf("the DLQ alarm going off: %+v\n%s", al, out)
	}
	// The table view says the same, with each fix.
	text, code := sf("doctor")
	if code != 7 || !strings.Contains(text, "FAIL  subnet "+tw.Subnet) || !strings.Contains(text, "fix: aws ec2 create-tags") {
		t.Errorf("doctor's table: exit %d\n%s", code, text)
	}
}
