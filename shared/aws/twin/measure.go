package twin

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/sparkflow/sparkflow/shared/aws/names"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// IAMReport is the twin's IAM evaluation of every call the functions made.
type IAMReport struct {
	Calls     int              `json:"calls"`
	Distinct  int              `json:"distinct"`
	Denied    []map[string]any `json:"denied"`
	Unused    []map[string]any `json:"unused"`
	Justified []map[string]any `json:"justified"`
	Functions []string         `json:"functions"`
}

// Probe evaluates calls that were not made, as IAM would (for tests of the evaluation itself).
func (tw *Twin) Probe(calls []Call) (IAMReport, error) {
	var r IAMReport
	return r, tw.Post("/iam/evaluate", map[string]any{"calls": calls}, &r)
}

// IAM evaluates every call recorded so far against the functions' roles.
func (tw *Twin) IAM() (IAMReport, error) {
	var r IAMReport
	return r, tw.get("/iam/report", &r)
}

// PerRun is what one happy-path run costs on the AWS home, as counted in the twin.
type PerRun struct {
	Runs              int                `json:"runs"`
	Transitions       float64            `json:"transitions"`
	LambdaInvocations float64            `json:"lambda_invocations"`
	DynamoDBWrites    float64            `json:"dynamodb_writes"`
	EMRCalls          float64            `json:"emr_calls"`
	ByFunction        map[string]float64 `json:"lambda_by_function"`
	ByEMRAction       map[string]float64 `json:"emr_by_action"`
	ByWrite           map[string]float64 `json:"dynamodb_by_write"`
	// ReconcilePasses counts the scheduled reconciler's invocations that fell in the measurement:
	// a fixed cost every 5 minutes whatever the runs, so their calls are left out of the per-run
	// figures.
	ReconcilePasses int `json:"reconcile_passes"`
}

// Measure submits n runs of a transform that does nothing on a pool with a slot for each, waits for
// them to end, and counts what they cost: Step Functions state transitions (from each execution's
// history: every state entered, retries included), Lambda invocations by function, DynamoDB write
// requests (each transaction item counted) and EMR API calls by name.
func (tw *Twin) Measure(ctx context.Context, b sparkflow.Backend, pool, transform string, n int) (PerRun, error) {
	before, err := tw.Stats()
	if err != nil {
		return PerRun{}, err
	}
	since := float64(time.Now().UnixNano()) / 1e9
	var ids []string
	for i := 0; i < n; i++ {
		r, err := b.SubmitRun(ctx, sparkflow.RunRequest{Transform: transform})
		if err != nil {
			return PerRun{}, err
		}
		ids = append(ids, r.ID)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for _, id := range ids {
		for {
			r, err := b.GetRun(ctx, id)
			if err == nil && r.Status.Terminal() {
				if r.Status != sparkflow.RunSucceeded {
					return PerRun{}, fmt.Errorf("run %s %s: %s", id, r.Status, r.Reason)
				}
				break
			}
			if time.Now().After(deadline) {
				return PerRun{}, fmt.Errorf("run %s did not end", id)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	time.Sleep(3 * time.Second) // the last events (the cluster going back to WAITING) are handled
	after, err := tw.Stats()
	if err != nil {
		return PerRun{}, err
	}
	calls, err := tw.Calls(since)
	if err != nil {
		return PerRun{}, err
	}
	out := PerRun{Runs: n, ByFunction: map[string]float64{}, ByEMRAction: map[string]float64{}, ByWrite: map[string]float64{}}
	for fn, c := range after.Invocations {
		if d := c - before.Invocations[fn]; d > 0 {
			if logical(fn) == names.FunctionReconcile {
				out.ReconcilePasses += int(d)
				continue
			}
			out.ByFunction[logical(fn)] += float64(d) / float64(n)
			out.LambdaInvocations += float64(d) / float64(n)
		}
	}
	for _, c := range calls {
		if logical(c.Function) == names.FunctionReconcile {
			continue
		}
		switch {
		case c.Service == "dynamodb" && c.Action == "TransactWriteItems":
			items, _ := c.Params["TransactItems"].([]any)
			out.DynamoDBWrites += float64(len(items)) / float64(n)
			out.ByWrite["TransactWriteItems items"] += float64(len(items)) / float64(n)
		case c.Service == "dynamodb" && (c.Action == "PutItem" || c.Action == "UpdateItem" || c.Action == "DeleteItem" || c.Action == "BatchWriteItem"):
			out.DynamoDBWrites += 1 / float64(n)
			out.ByWrite[c.Action] += 1 / float64(n)
		case c.Service == "elasticmapreduce":
			out.EMRCalls += 1 / float64(n)
			out.ByEMRAction[c.Action] += 1 / float64(n)
		}
	}
	api := sfn.NewFromConfig(tw.Config())
	sm := tw.Outputs[names.OutputRunStateMachineARN]
	execPrefix := strings.Replace(sm, ":stateMachine:", ":execution:", 1) + ":"
	for _, id := range ids {
		var token *string
		for {
			h, err := api.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(execPrefix + id), NextToken: token, MaxResults: 1000})
			if err != nil {
				return out, fmt.Errorf("history of %s: %w", id, err)
			}
			for _, e := range h.Events {
				if strings.HasSuffix(string(e.Type), "StateEntered") {
					out.Transitions += 1 / float64(n)
				}
			}
			if h.NextToken == nil {
				break
			}
			token = h.NextToken
		}
	}
	return out, nil
}

func logical(physical string) string {
	flat := strings.ReplaceAll(physical, "-", "")
	for _, n := range names.Functions {
		if strings.Contains(flat, "Functions"+strings.ReplaceAll(n, "-", "")) {
			return n
		}
	}
	return physical
}

// Sorted returns m's keys in order, for reports.
func Sorted(m map[string]float64) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
