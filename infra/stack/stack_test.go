package stack_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/sparkflow/sparkflow/infra/stack"
	"github.com/sparkflow/sparkflow/shared/aws/emf"
	"github.com/sparkflow/sparkflow/shared/aws/names"
	"github.com/sparkflow/sparkflow/shared/metrics"
)

// synth builds the stack with stand-in function binaries and returns its template as JSON.
func synth(t *testing.T) (assertions.Template, map[string]any) {
	t.Helper()
	assets := t.TempDir()
	for name := range stack.FunctionTimeouts {
		os.MkdirAll(filepath.Join(assets, name), 0o755)
		os.WriteFile(filepath.Join(assets, name, "bootstrap"), []byte("stand-in"), 0o755)
	}
	app := awscdk.NewApp(nil)
	s := stack.New(app, "SparkFlowTest", stack.Props{AssetDir: assets, SubnetIDs: []string{"subnet-1"}, LogURI: "s3://logs/"})
	tmpl := assertions.Template_FromStack(s.Stack, nil)
	raw, err := json.Marshal(tmpl.ToJSON())
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	json.Unmarshal(raw, &doc)
	return tmpl, doc
}

func resources(doc map[string]any, typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range doc["Resources"].(map[string]any) {
		if r.(map[string]any)["Type"] == typ {
			out[id] = r.(map[string]any)
		}
	}
	return out
}

// statements returns the statements of an AWS::IAM::Policy resource.
func statements(policy map[string]any) []map[string]any {
	var out []map[string]any
	for _, st := range policy["Properties"].(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
		out = append(out, st.(map[string]any))
	}
	return out
}

func TestResources(t *testing.T) {
	tmpl, doc := synth(t)
	for typ, n := range map[string]float64{
		"AWS::Lambda::Function": 7, "AWS::Logs::LogGroup": 7, "AWS::StepFunctions::StateMachine": 2, "AWS::SQS::Queue": 5,
		"AWS::DynamoDB::Table": 1, "AWS::Events::Rule": 4, "AWS::CloudWatch::Alarm": 13, "AWS::CloudWatch::Dashboard": 1, "AWS::Lambda::EventSourceMapping": 2,
		"AWS::IAM::InstanceProfile": 1,
	} {
		tmpl.ResourceCountIs(jsii.String(typ), jsii.Number(n))
	}
	tmpl.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]any{
		"Runtime": "provided.al2023", "Architectures": []any{"arm64"}, "Handler": "bootstrap"})
	tmpl.AllResourcesProperties(jsii.String("AWS::Logs::LogGroup"), map[string]any{"RetentionInDays": 30})
	tmpl.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), map[string]any{
		"BatchSize": 10, "FunctionResponseTypes": []any{"ReportBatchItemFailures"}})
	for _, o := range []string{"RunsQueueUrl", "TableName", "RunStateMachineArn", "PoolStateMachineArn", "StepInstanceProfileName", "ScheduleDLQUrl", "EmrServiceRoleName", "ClusterInstanceProfileName", "EmrLogUri"} {
		if _, ok := doc["Outputs"].(map[string]any)[o]; !ok {
			t.Errorf("output %s missing", o)
		}
	}
	// An output needs a value: the buckets not given are left out (sparkflow doctor reads them).
	for _, o := range []string{"CodeBuckets", "DataBuckets"} {
		if _, ok := doc["Outputs"].(map[string]any)[o]; ok {
			t.Errorf("output %s present although no buckets were given", o)
		}
	}
}

func TestStatefulResourcesArePinnedAndKept(t *testing.T) {
	_, doc := synth(t)
	res := doc["Resources"].(map[string]any)
	table, ok := res[stack.TableLogicalID].(map[string]any)
	if !ok {
		t.Fatalf("the table's logical id is not %s", stack.TableLogicalID)
	}
	props := table["Properties"].(map[string]any)
	if table["DeletionPolicy"] != "Retain" || props["PointInTimeRecoverySpecification"].(map[string]any)["PointInTimeRecoveryEnabled"] != true || props["BillingMode"] != "PAY_PER_REQUEST" {
		t.Fatalf("table: %v", table)
	}
	if n := len(props["GlobalSecondaryIndexes"].([]any)); n != 3 {
		t.Fatalf("%d indexes", n)
	}
	for _, id := range []string{stack.RunsQueueLogicalID, stack.RunsDLQLogicalID} {
		q, ok := res[id].(map[string]any)
		if !ok || q["DeletionPolicy"] != "Retain" {
			t.Fatalf("queue %s missing or not retained", id)
		}
	}
	runs := res[stack.RunsQueueLogicalID].(map[string]any)["Properties"].(map[string]any)
	if runs["VisibilityTimeout"] != float64(6*stack.IntakeTimeoutSeconds) || runs["RedrivePolicy"].(map[string]any)["maxReceiveCount"] != float64(stack.MaxReceiveCount) {
		t.Fatalf("runs queue: %v", runs)
	}
}

func TestEventRulesAreExactWithRetriesAndDLQ(t *testing.T) {
	tmpl, doc := synth(t)
	res := doc["Resources"].(map[string]any)
	// Only this stack's clusters and steps: their names start with its prefix.
	name := []any{map[string]any{"prefix": "sparkflow/SparkFlowTest:"}}
	tmpl.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]any{
		"EventPattern": map[string]any{"source": []any{"aws.emr"}, "detail-type": []any{"EMR Cluster State Change"},
			"detail": assertions.Match_ObjectEquals(&map[string]any{"name": name})},
	})
	// Of the steps', only the states that change a run: a PENDING event changes nothing.
	tmpl.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]any{
		"EventPattern": map[string]any{"source": []any{"aws.emr"}, "detail-type": []any{"EMR Step Status Change"},
			"detail": assertions.Match_ObjectEquals(&map[string]any{"name": name,
				"state": []any{"RUNNING", "CANCEL_PENDING", "COMPLETED", "CANCELLED", "FAILED", "INTERRUPTED"}})},
	})
	tmpl.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]any{"ScheduleExpression": "rate(5 minutes)"})
	// The run state machine's executions that end without finishing their run reach the handler.
	tmpl.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]any{
		"EventPattern": map[string]any{"source": []any{"aws.states"}, "detail-type": []any{"Step Functions Execution Status Change"},
			"detail": map[string]any{"stateMachineArn": assertions.Match_AnyValue(), "status": []any{"FAILED", "TIMED_OUT", "ABORTED"}}},
	})
	// Every event rule delivers to the events queue (not to a Lambda function, whose asynchronous
	// invocation would drop an event after two failed tries), with EventBridge's retries and a DLQ.
	events := ""
	for id, r := range resources(doc, "AWS::SQS::Queue") {
		if strings.Contains(id, "QueuesEvents") && !strings.Contains(id, "DLQ") {
			events = id
			props := r["Properties"].(map[string]any)
			if props["VisibilityTimeout"] != float64(6*stack.EventsTimeoutSeconds) || props["RedrivePolicy"].(map[string]any)["maxReceiveCount"] != float64(stack.EventMaxReceiveCount) ||
				!strings.Contains(fmt.Sprint(props["RedrivePolicy"]), "EventsDLQ") {
				t.Fatalf("events queue: %v", props)
			}
		}
	}
	if events == "" {
		t.Fatal("no events queue")
	}
	rules := 0
	for id, r := range resources(doc, "AWS::Events::Rule") {
		props := r["Properties"].(map[string]any)
		if props["ScheduleExpression"] != nil {
			continue
		}
		rules++
		targets := props["Targets"].([]any)
		if len(targets) != 1 {
			t.Fatalf("rule %s has %d targets", id, len(targets))
		}
		tg := targets[0].(map[string]any)
		if !strings.Contains(fmt.Sprint(tg["Arn"]), events) || tg["RetryPolicy"].(map[string]any)["MaximumRetryAttempts"] != float64(stack.EventRetryAttempts) ||
			tg["DeadLetterConfig"] == nil {
			t.Fatalf("rule %s target %v: want the events queue with retries and a DLQ", id, tg)
		}
	}
	if rules != 3 {
		t.Fatalf("%d event rules, want 3", rules)
	}
	// EventBridge may send to the queue, for these rules only.
	policy := fmt.Sprint(resources(doc, "AWS::SQS::QueuePolicy"))
	if !strings.Contains(policy, "events.amazonaws.com") || !strings.Contains(policy, "aws:SourceArn") {
		t.Fatalf("events queue policy: %s", policy)
	}
	// The events function reads the queue in batches and reports failures one by one.
	found := false
	for _, m := range resources(doc, "AWS::Lambda::EventSourceMapping") {
		props := m["Properties"].(map[string]any)
		if strings.Contains(fmt.Sprint(props["EventSourceArn"]), events) {
			found = true
			if fmt.Sprint(props["FunctionResponseTypes"]) != "[ReportBatchItemFailures]" || !strings.Contains(fmt.Sprint(props["FunctionName"]), "emrevents") {
				t.Fatalf("events mapping: %v", props)
			}
		}
	}
	if !found {
		t.Fatal("no event-source mapping reads the events queue")
	}
	_ = res
}

// Something needs a person: a message in either dead-letter queue, an execution of either workflow
// that failed, timed out or was stopped, a run waiting too long, a pool DEGRADED, many repairs by the
// reconciler, EMR throttling sustained. Each alarm of SparkFlow's own metrics reads a dimension set
// the functions' EMF lines really publish, and every alarm notifies the AlarmTopicArn parameter's
// topic when it is set.
func TestAlarms(t *testing.T) {
	_, doc := synth(t)
	got := map[string]map[string]any{}
	for _, a := range resources(doc, "AWS::CloudWatch::Alarm") {
		props := a["Properties"].(map[string]any)
		name, _ := props["AlarmName"].(string)
		got[strings.TrimPrefix(name, "SparkFlowTest-")] = props
		want := map[string]any{"Fn::If": []any{"AlarmsNotifyTopic", []any{map[string]any{"Ref": "AlarmTopicArn"}}, map[string]any{"Ref": "AWS::NoValue"}}}
		if fmt.Sprint(props["AlarmActions"]) != fmt.Sprint(want) || fmt.Sprint(props["OKActions"]) != fmt.Sprint(want) {
			t.Errorf("alarm %s notifies %v / %v, want the topic parameter's when it is set", name, props["AlarmActions"], props["OKActions"])
		}
		if props["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" || props["TreatMissingData"] != "notBreaching" {
			t.Errorf("alarm %s: %v", name, props)
		}
	}
	var names []string
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	want := "[EMRThrottled EventsDLQNotEmpty OldestWaitingRun PoolDegraded PoolExecutionsAborted PoolExecutionsFailed PoolExecutionsTimedOut ReconcilerRepairs RunExecutionsAborted RunExecutionsFailed RunExecutionsTimedOut RunsDLQNotEmpty ScheduleDLQNotEmpty]"
	if fmt.Sprint(names) != want {
		t.Fatalf("alarms %v\nwant   %s", names, want)
	}
	for _, n := range []string{"RunsDLQNotEmpty", "EventsDLQNotEmpty", "ScheduleDLQNotEmpty"} {
		if p := got[n]; p["MetricName"] != "ApproximateNumberOfMessagesVisible" || p["Threshold"] != float64(1) {
			t.Errorf("%s: %v", n, p)
		}
	}
	for _, wf := range []string{"Run", "Pool"} {
		for _, m := range []string{"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"} {
			p := got[wf+m]
			if p["MetricName"] != m || p["Threshold"] != float64(1) || !strings.Contains(fmt.Sprint(p["Dimensions"]), "Workflows"+wf) {
				t.Errorf("%s%s: %v", wf, m, p)
			}
		}
	}
	// SparkFlow's own metrics: namespace, name, the stack-only dimension set EMF publishes, statistic,
	// period and threshold.
	own := func(alarm string, d metrics.Def, stat string, period float64, threshold any, periods float64) {
		t.Helper()
		p := got[alarm]
		line, _ := emf.Line(d, 1, "SparkFlowTest", time.Now(), make([]string, len(d.Labels))...)
		published := string(line)
		if !strings.Contains(published, `["stack"]`) && len(d.Labels) > 0 {
			t.Errorf("%s: the EMF lines of %s do not publish the stack-only dimension set: %s", alarm, d.Name, published)
		}
		m := p
		if ms, ok := p["Metrics"].([]any); ok { // a math expression over the metric
			for _, x := range ms {
				if stat, ok := x.(map[string]any)["MetricStat"].(map[string]any); ok {
					m = map[string]any{"MetricName": stat["Metric"].(map[string]any)["MetricName"], "Namespace": stat["Metric"].(map[string]any)["Namespace"],
						"Dimensions": stat["Metric"].(map[string]any)["Dimensions"], "Statistic": stat["Stat"], "Period": stat["Period"]}
				}
			}
		}
		if m["MetricName"] != d.Name || m["Namespace"] != emf.Namespace || m["Statistic"] != stat || m["Period"] != period {
			t.Errorf("%s reads %v %v %v %v, want %s %s %s %v", alarm, m["Namespace"], m["MetricName"], m["Statistic"], m["Period"], emf.Namespace, d.Name, stat, period)
		}
		if fmt.Sprint(m["Dimensions"]) != fmt.Sprint([]any{map[string]any{"Name": "stack", "Value": "SparkFlowTest"}}) {
			t.Errorf("%s dimensions %v, want the stack alone", alarm, m["Dimensions"])
		}
		if fmt.Sprint(p["Threshold"]) != fmt.Sprint(threshold) || p["EvaluationPeriods"] != periods {
			t.Errorf("%s threshold %v over %v periods, want %v over %v", alarm, p["Threshold"], p["EvaluationPeriods"], threshold, periods)
		}
	}
	own("OldestWaitingRun", metrics.QueueOldestWait, "Maximum", 300, map[string]any{"Ref": "OldestWaitAlarmMinutes"}, 1)
	own("PoolDegraded", metrics.PoolDegraded, "Maximum", 300, 1, 1)
	own("ReconcilerRepairs", metrics.ReconcilerRepairs, "Sum", 3600, 10, 1)
	own("EMRThrottled", metrics.EMRThrottles, "Sum", 300, 5, 3)
	params := doc["Parameters"].(map[string]any)
	if p := params["AlarmTopicArn"].(map[string]any); p["Default"] != "" {
		t.Errorf("AlarmTopicArn %v", p)
	}
	if p := params["OldestWaitAlarmMinutes"].(map[string]any); p["Default"] != float64(60) {
		t.Errorf("OldestWaitAlarmMinutes %v", p)
	}
	// With a topic at synth (-c alarmTopicArn), it is the parameter's default.
	assets := t.TempDir()
	for name := range stack.FunctionTimeouts {
		os.MkdirAll(filepath.Join(assets, name), 0o755)
		os.WriteFile(filepath.Join(assets, name, "bootstrap"), []byte("stand-in"), 0o755)
	}
	s := stack.New(awscdk.NewApp(nil), "Topic", stack.Props{AssetDir: assets, AlarmTopicARN: "arn:aws:sns:us-east-1:123456789012:oncall"})
	assertions.Template_FromStack(s.Stack, nil).HasParameter(jsii.String("AlarmTopicArn"), map[string]any{"Default": "arn:aws:sns:us-east-1:123456789012:oncall"})
}

// The dashboard graphs every pool's queue, slots and clusters by search expressions over the
// dimension sets the functions publish (pools are made at run time).
func TestDashboard(t *testing.T) {
	_, doc := synth(t)
	ds := resources(doc, "AWS::CloudWatch::Dashboard")
	if len(ds) != 1 {
		t.Fatalf("%d dashboards", len(ds))
	}
	var body strings.Builder
	for _, d := range ds {
		var walk func(v any)
		walk = func(v any) {
			switch x := v.(type) {
			case string:
				body.WriteString(x)
			case []any:
				for _, y := range x {
					walk(y)
				}
			case map[string]any:
				for _, y := range x {
					walk(y)
				}
			}
		}
		walk(d["Properties"].(map[string]any)["DashboardBody"])
	}
	text := strings.ReplaceAll(body.String(), `\"`, `"`)
	for _, d := range []metrics.Def{metrics.QueueDepth, metrics.QueueOldestWait, metrics.SlotsUsed, metrics.SlotsTotal, metrics.Clusters,
		metrics.RunsEnded, metrics.EMRCalls, metrics.EMRThrottles, metrics.ReconcilerRepairs, metrics.PoolDegraded} {
		schema := "{" + strings.Join(append([]string{"SparkFlow", "stack"}, d.Labels...), ",") + "}"
		want := fmt.Sprintf(`SEARCH('%s MetricName="%s" stack="SparkFlowTest"'`, schema, d.Name)
		if !strings.Contains(text, want) {
			t.Errorf("the dashboard has no %s", want)
		}
	}
	for _, p := range []string{"queue_wait_seconds", "run_duration_seconds"} {
		if !strings.Contains(text, p) || !strings.Contains(text, "p99") {
			t.Errorf("the dashboard has no p99 of %s", p)
		}
	}
}

// Ended runs and rejected requests expire: the table's TTL attribute is the one the store writes,
// and the functions know the retention (90 days unless set).
func TestRetention(t *testing.T) {
	tmpl, _ := synth(t)
	tmpl.HasResourceProperties(jsii.String("AWS::DynamoDB::Table"), map[string]any{
		"TimeToLiveSpecification": map[string]any{"AttributeName": names.TableTTLAttribute, "Enabled": true}})
	tmpl.AllResourcesProperties(jsii.String("AWS::Lambda::Function"), map[string]any{
		"Environment": map[string]any{"Variables": assertions.Match_ObjectLike(&map[string]any{
			names.EnvRetentionDays: "90", names.EnvStack: "SparkFlowTest"})}})
}

// definition rebuilds a state machine's definition from its Fn::Join, tokens as placeholders.
func definition(t *testing.T, r map[string]any) map[string]any {
	t.Helper()
	ds := r["Properties"].(map[string]any)["DefinitionString"]
	var text string
	switch v := ds.(type) {
	case string:
		text = v
	case map[string]any:
		for _, part := range v["Fn::Join"].([]any)[1].([]any) {
			if s, ok := part.(string); ok {
				text += s
			} else {
				text += "TOKEN"
			}
		}
	}
	var def map[string]any
	if err := json.Unmarshal([]byte(text), &def); err != nil {
		t.Fatalf("definition is not JSON: %v\n%s", err, text)
	}
	return def
}

func TestEveryWaitHasATimeout(t *testing.T) {
	_, doc := synth(t)
	sms := resources(doc, "AWS::StepFunctions::StateMachine")
	if len(sms) != 2 {
		t.Fatalf("%d state machines", len(sms))
	}
	for id, r := range sms {
		if r["Properties"].(map[string]any)["StateMachineType"] != "STANDARD" {
			t.Errorf("%s is not Standard (task tokens need it)", id)
		}
		def := definition(t, r)
		if def["TimeoutSeconds"] == nil {
			t.Errorf("%s has no overall timeout", id)
		}
		for name, st := range def["States"].(map[string]any) {
			s := st.(map[string]any)
			if s["Type"] == "Task" && s["TimeoutSeconds"] == nil && s["TimeoutSecondsPath"] == nil && strings.Contains(fmt.Sprint(s["Resource"]), "waitForTaskToken") {
				t.Errorf("%s.%s waits with no timeout", id, name)
			}
			if s["Type"] == "Task" && s["Retry"] == nil {
				t.Errorf("%s.%s has no Retry", id, name)
			}
		}
	}
}

func TestIAMIsLeastPrivilege(t *testing.T) {
	_, doc := synth(t)
	passRole := 0
	for id, p := range resources(doc, "AWS::IAM::Policy") {
		for _, s := range statements(p) {
			if s["Effect"] != "Allow" {
				continue
			}
			actions := []any{s["Action"]}
			if list, ok := s["Action"].([]any); ok {
				actions = list
			}
			for _, a := range actions {
				if a == "*" || strings.HasSuffix(fmt.Sprint(a), ":*") {
					t.Errorf("%s allows the wildcard action %v", id, a)
				}
				if a == "iam:CreateServiceLinkedRole" || a == "iam:PutRolePolicy" {
					// Only EMR's cleanup role, only for EMR: what EMR needs of a launching caller at an
					// account's first launch.
					if res := fmt.Sprint(s["Resource"]); !strings.Contains(res, "role/aws-service-role/elasticmapreduce.amazonaws.com*/AWSServiceRoleForEMRCleanup*") ||
						!strings.Contains(fmt.Sprint(s["Condition"]), "iam:AWSServiceName:elasticmapreduce.amazonaws.com*") {
						t.Errorf("%s: %v not scoped to EMR's service-linked role: %v", id, a, s)
					}
				}
				if a == "iam:PassRole" {
					passRole++
					if fmt.Sprint(s["Resource"]) == "*" || s["Condition"] == nil {
						t.Errorf("%s: PassRole not scoped: %v", id, s)
					}
				}
				if strings.HasPrefix(fmt.Sprint(a), "elasticmapreduce:") {
					// Only this stack's clusters: its name in the stack tag (StringEquals); only
					// RunJobFlow, which has no cluster yet, on "*".
					cond := fmt.Sprint(s["Condition"])
					if !strings.Contains(cond, "StringEquals") || !strings.Contains(cond, "sparkflow:stack:SparkFlowTest") {
						t.Errorf("%s: EMR action %v not scoped to the stack's tag: %v", id, a, cond)
					}
					res := fmt.Sprint(s["Resource"])
					if (a == "elasticmapreduce:RunJobFlow") != (res == "*") {
						t.Errorf("%s: EMR action %v on %v (only RunJobFlow takes *, the others cluster ARNs)", id, a, res)
					}
					if a != "elasticmapreduce:RunJobFlow" && !strings.Contains(res, ":cluster/*") {
						t.Errorf("%s: EMR action %v on %v, want cluster ARNs", id, a, res)
					}
				}
			}
		}
	}
	if passRole == 0 {
		t.Fatal("no PassRole statement found")
	}
	// One role per function, with only what its tasks call: RunJobFlow only where pools are healed,
	// nothing the store never does.
	launchers := 0
	for id, p := range resources(doc, "AWS::IAM::Policy") {
		doc := fmt.Sprint(p["Properties"].(map[string]any)["PolicyDocument"])
		if strings.Contains(doc, "elasticmapreduce:RunJobFlow") {
			launchers++
			if !strings.Contains(doc, "iam:CreateServiceLinkedRole") {
				t.Errorf("%s may launch clusters but not let EMR create its service-linked role: the first launch on a fresh account would fail", id)
			}
		}
		for _, never := range []string{"dynamodb:Scan", "dynamodb:BatchWriteItem", "dynamodb:DescribeTable", "elasticmapreduce:AddTags", "sqs:GetQueueUrl"} {
			if strings.Contains(doc, never) {
				t.Errorf("%s grants %s, which no function calls", id, never)
			}
		}
	}
	want := 0
	for _, a := range stack.Permissions {
		if a.Launch {
			want++
		}
	}
	if launchers != want || want != 4 {
		t.Errorf("%d roles may launch clusters, want %d (reserve, emr-events, reconcile, pool)", launchers, want)
	}
	// The step-code role is denied SparkFlow's table and queues.
	denied := false
	for _, p := range resources(doc, "AWS::IAM::Policy") {
		for _, s := range statements(p) {
			if s["Effect"] == "Deny" && strings.Contains(fmt.Sprint(s["Action"]), "dynamodb:*") {
				denied = true
			}
		}
	}
	if !denied {
		t.Fatal("the step-code role is not denied the table and queues")
	}
}

// Clusters start with the defaults on a fresh account: the stack's EMR service role has AWS's v2
// service policy and may pass exactly the step role to EC2; subnets are a deploy-time parameter.
func TestEMRServiceRoleCanLaunchWithTheStepRole(t *testing.T) {
	tmpl, doc := synth(t)
	tmpl.HasResourceProperties(jsii.String("AWS::IAM::Role"), map[string]any{
		"AssumeRolePolicyDocument": assertions.Match_ObjectLike(&map[string]any{"Statement": []any{assertions.Match_ObjectLike(&map[string]any{
			"Principal": map[string]any{"Service": "elasticmapreduce.amazonaws.com"}})}}),
		"ManagedPolicyArns": assertions.Match_AnyValue(),
	})
	found := false
	for _, p := range resources(doc, "AWS::IAM::Policy") {
		d := fmt.Sprint(p["Properties"].(map[string]any)["PolicyDocument"])
		if strings.Contains(d, "PassTheStepRoleToEC2") && strings.Contains(d, "ec2.amazonaws.com*") && strings.Contains(d, "StepRole") {
			found = true
		}
	}
	if !found {
		t.Fatal("the EMR service role may not pass the step role to EC2")
	}
	if !strings.Contains(fmt.Sprint(doc["Resources"]), "AmazonEMRServicePolicy_v2") {
		t.Fatal("the EMR service role does not attach AmazonEMRServicePolicy_v2")
	}
	if _, ok := doc["Parameters"].(map[string]any)["EmrSubnets"]; !ok {
		t.Fatal("no EmrSubnets parameter")
	}
}

// The template does not depend on Go's map iteration or on where the checkout is: synthesized twice
// (with assets in two places), it is the same, byte for byte.
func TestSynthIsReproducible(t *testing.T) {
	_, a := synth(t)
	_, b := synth(t)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Fatal("two synths of the same stack differ")
	}
}

// The reconciler never overlaps itself: one at a time, and done before its next tick.
func TestReconcilerRunsAloneWithinItsPeriod(t *testing.T) {
	_, doc := synth(t)
	found := false
	for _, f := range resources(doc, "AWS::Lambda::Function") {
		props := f["Properties"].(map[string]any)
		if props["Description"] != "SparkFlow reconcile" {
			continue
		}
		found = true
		if props["ReservedConcurrentExecutions"] != float64(1) || props["Timeout"].(float64) >= 5*60 {
			t.Fatalf("reconciler: concurrency %v timeout %v, want 1 and under its 5-minute period", props["ReservedConcurrentExecutions"], props["Timeout"])
		}
	}
	if !found {
		t.Fatal("no reconcile function")
	}
}
