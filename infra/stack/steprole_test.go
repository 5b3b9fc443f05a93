package stack_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"

	"github.com/sparkflow/sparkflow/infra/stack"
)

// resolve gives a template value's intrinsics example values: pseudo parameters, and for a GetAtt
// or Ref of a resource an ARN named by its logical id.
func resolve(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = resolve(x[i])
		}
		return out
	case map[string]any:
		if j, ok := x["Fn::Join"].([]any); ok {
			var parts []string
			for _, p := range j[1].([]any) {
				parts = append(parts, fmt.Sprint(resolve(p)))
			}
			return strings.Join(parts, j[0].(string))
		}
		if s, ok := x["Fn::Sub"].(string); ok {
			return strings.NewReplacer("${AWS::Partition}", "aws", "${AWS::Region}", "us-east-1", "${AWS::AccountId}", "123456789012").Replace(s)
		}
		if r, ok := x["Ref"].(string); ok {
			switch r {
			case "AWS::Partition":
				return "aws"
			case "AWS::Region":
				return "us-east-1"
			case "AWS::AccountId":
				return "123456789012"
			}
			return "arn:aws:sqs:us-east-1:123456789012:" + r
		}
		if g, ok := x["Fn::GetAtt"].([]any); ok {
			id := g[0].(string)
			if strings.Contains(id, "Table") {
				return "arn:aws:dynamodb:us-east-1:123456789012:table/" + id
			}
			return "arn:aws:sqs:us-east-1:123456789012:" + id
		}
		out := map[string]any{}
		for k, e := range x {
			out[k] = resolve(e)
		}
		return out
	}
	return v
}

// evaluate runs IAM requests through the twin's offline evaluator (@cloud-copilot/iam-simulate,
// installed by make iam-tools) and returns each decision.
func evaluate(t *testing.T, principal string, policies []map[string]any, reqs [][2]string) []string {
	t.Helper()
	dir, _ := filepath.Abs(filepath.Join("..", "..", "tools", "twin", "iam"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@cloud-copilot", "iam-simulate")); err != nil {
		t.Fatalf("the IAM evaluator is not installed: run make iam-tools (%v)", err)
	}
	var in struct {
		Requests []map[string]any `json:"requests"`
	}
	for _, r := range reqs {
		in.Requests = append(in.Requests, map[string]any{"principal": principal, "action": r[0], "resource": r[1], "policies": policies})
	}
	b, _ := json.Marshal(in)
	cmd := exec.Command("node", "evaluate.mjs")
	cmd.Dir, cmd.Stdin = dir, bytes.NewReader(b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("evaluator: %v %s", err, stderr.String())
	}
	var res []struct{ Decision, Detail string }
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, r := range res {
		if r.Decision == "Error" {
			t.Fatalf("%v: %s", reqs[i], r.Detail)
		}
		got = append(got, r.Decision)
	}
	return got
}

// The role that runs step code reads the code buckets, reads and writes the data locations, writes the
// clusters' logs, and nothing else of S3; it is denied SparkFlow's table and queues whatever else it is
// given. Evaluated as IAM would, from the synthesized policies.
func TestStepRoleReachesItsBucketsAndNothingOfSparkFlows(t *testing.T) {
	assets := t.TempDir()
	for name := range stack.FunctionTimeouts {
		os.MkdirAll(filepath.Join(assets, name), 0o755)
		os.WriteFile(filepath.Join(assets, name, "bootstrap"), []byte("stand-in"), 0o755)
	}
	s := stack.New(awscdk.NewApp(nil), "Buckets", stack.Props{AssetDir: assets, LogURI: "s3://acme-logs/emr/",
		CodeBuckets: []string{"acme-code"}, DataBuckets: []string{"s3://acme-lake/curated"}})
	raw, _ := json.Marshal(assertions.Template_FromStack(s.Stack, nil).ToJSON())
	var doc map[string]any
	json.Unmarshal(raw, &doc)
	var policies []map[string]any
	tableID, runsID := "", ""
	for id, r := range doc["Resources"].(map[string]any) {
		res := r.(map[string]any)
		switch res["Type"] {
		case "AWS::IAM::Policy":
			props := res["Properties"].(map[string]any)
			if strings.Contains(fmt.Sprint(props["Roles"]), "StepRole") {
				policies = append(policies, map[string]any{"name": id, "policy": resolve(props["PolicyDocument"])})
			}
		case "AWS::DynamoDB::Table":
			tableID = id
		case "AWS::SQS::Queue":
			if id == stack.RunsQueueLogicalID {
				runsID = id
			}
		}
	}
	if len(policies) == 0 || tableID == "" || runsID == "" {
		t.Fatalf("step role policies %d, table %q, runs queue %q", len(policies), tableID, runsID)
	}
	// Whatever else the role is given (a broad policy a user attaches), SparkFlow's state stays denied.
	broad := map[string]any{"name": "user-attached", "policy": map[string]any{"Version": "2012-10-17", "Statement": []any{
		map[string]any{"Effect": "Allow", "Action": []any{"dynamodb:*", "sqs:*"}, "Resource": "*"}}}}
	cases := []struct {
		action, resource, want string
	}{
		{"s3:GetObject", "arn:aws:s3:::acme-code/jobs/etl.jar", "Allowed"},
		{"s3:ListBucket", "arn:aws:s3:::acme-code", "Allowed"},
		{"s3:PutObject", "arn:aws:s3:::acme-code/jobs/etl.jar", "ImplicitlyDenied"},
		{"s3:GetObject", "arn:aws:s3:::acme-lake/curated/sales/part-0.parquet", "Allowed"},
		{"s3:PutObject", "arn:aws:s3:::acme-lake/curated/sales/_temporary/part-0", "Allowed"},
		{"s3:DeleteObject", "arn:aws:s3:::acme-lake/curated/sales/_temporary/part-0", "Allowed"},
		{"s3:PutObject", "arn:aws:s3:::acme-lake/raw/x", "ImplicitlyDenied"},
		{"s3:PutObject", "arn:aws:s3:::acme-logs/emr/j-1/steps/s-1/stderr.gz", "Allowed"},
		{"s3:GetObject", "arn:aws:s3:::someone-elses/x", "ImplicitlyDenied"},
		{"dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:123456789012:table/" + tableID, "ExplicitlyDenied"},
		{"dynamodb:Query", "arn:aws:dynamodb:us-east-1:123456789012:table/" + tableID + "/index/gsi3", "ExplicitlyDenied"},
		{"sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:" + runsID, "ExplicitlyDenied"},
	}
	var reqs [][2]string
	for _, c := range cases {
		reqs = append(reqs, [2]string{c.action, c.resource})
	}
	got := evaluate(t, "arn:aws:iam::123456789012:role/StepRole", policies, reqs)
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("%s on %s: %s, want %s", c.action, c.resource, got[i], c.want)
		}
	}
	got = evaluate(t, "arn:aws:iam::123456789012:role/StepRole", append(policies, broad), reqs[len(reqs)-3:])
	for i, d := range got {
		if d != "ExplicitlyDenied" {
			t.Errorf("with a broad policy attached, %v: %s", reqs[len(reqs)-3+i], d)
		}
	}
	if _, err := stack.ParseS3Location("Acme_Code"); err == nil || !strings.Contains(err.Error(), "bucket") {
		t.Fatalf("a bad bucket name: %v", err)
	}
}
