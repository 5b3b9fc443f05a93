package crosshome_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/sparkflow/sparkflow/events"
	"github.com/sparkflow/sparkflow/shared/aws/awstest"
	"github.com/sparkflow/sparkflow/shared/aws/dynamostore"
	"github.com/sparkflow/sparkflow/shared/aws/lambdas"
	"github.com/sparkflow/sparkflow/shared/local/engine"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/workflow"
)

type starter struct {
	mu     sync.Mutex
	starts []workflow.Input
}

func (s *starter) Start(ctx context.Context, in workflow.Input) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.starts = append(s.starts, in)
	return nil
}

var tables atomic.Int64

// homes are the stores the handlers are tested on: the embedded one, and DynamoDB in moto (the AWS
// home's store; EMR is played by the local clusters, whose events have EMR's exact shapes).
var homes = []string{"sqlite", "dynamodb-moto"}

func forEachHome(t *testing.T, fn func(t *testing.T, home string)) {
	for _, h := range homes {
		t.Run(h, func(t *testing.T) { fn(t, h) })
	}
}

func storeFor(t *testing.T, home string) sparkflow.Store {
	if home != "dynamodb-moto" {
		return nil // the engine opens its SQLite store
	}
	endpoint := awstest.Moto(t)
	db := dynamodb.NewFromConfig(awstest.Config(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
	name := fmt.Sprintf("sparkflow-lambdas-%d-%d", os.Getpid(), tables.Add(1))
	if err := dynamostore.CreateTable(awstest.Context(t), db, name); err != nil {
		t.Fatal(err)
	}
	return dynamostore.New(db, name)
}

func TestMain(m *testing.M) { awstest.Main(m) }

// setup: the task logic on the chosen store and the local clusters.
func setup(t *testing.T, home string) (*lambdas.Handlers, *engine.Engine, *starter) {
	e, err := engine.Open(engine.Config{DataDir: filepath.Join(t.TempDir(), "d"), ProvisionDelay: 10 * time.Millisecond, ReconcileInterval: time.Hour, Store: storeFor(t, home)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	ctx := context.Background()
	if _, err := e.CreatePool(ctx, sparkflow.Pool{Name: "etl", Tier: "tiny", Clusters: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.CreateTransform(ctx, sparkflow.Transform{Name: "daily-sales", Pool: "etl", Command: []string{"true"}, Params: map[string]string{"day": "x"}, TimeoutSeconds: 600, QueueTimeoutSeconds: 300}); err != nil {
		t.Fatal(err)
	}
	st := &starter{}
	return &lambdas.Handlers{Service: e.Service, Starter: st, Log: e.Service.Log, ReconcileBudget: 10}, e, st
}

func fixture(t *testing.T, name string) []byte {
	b, err := events.Read(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIntakeAcceptsRejectsAndReportsPartialFailures(t *testing.T) {
	forEachHome(t, func(t *testing.T, home string) {
		h, e, st := setup(t, home)
		ctx := context.Background()
		good := string(fixture(t, "run-request.json"))
		batch := awsevents.SQSEvent{Records: []awsevents.SQSMessage{
			{MessageId: "m1", Body: good},
			{MessageId: "m2", Body: `{"transform": "daily-sales", "parmas": {}}`},
			{MessageId: "m3", Body: `{"transform": "nope"}`},
			{MessageId: "m4", Body: good}, // a redelivery of m1
		}}
		resp, err := h.Intake(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		var failed []string
		for _, f := range resp.BatchItemFailures {
			failed = append(failed, f.ItemIdentifier)
		}
		if strings.Join(failed, ",") != "m2,m3" {
			t.Fatalf("failed items %v, want m2,m3 (to the DLQ after their retries)", failed)
		}
		rej, _ := e.Store.ListRejected(ctx, 0)
		reasons := map[string]string{}
		for _, r := range rej {
			reasons[r.ID] = r.Reason
		}
		if !strings.Contains(reasons["m2"], `unknown field "parmas"`) || !strings.Contains(reasons["m3"], `transform "nope" does not exist`) {
			t.Fatalf("rejected with reasons %v", reasons)
		}
		runs, _ := e.Store.ListRuns(ctx, sparkflow.RunFilter{})
		if len(runs) != 1 || runs[0].ID != "6f1c2b8e-3d4a-4b5c-9d8e-7f6a5b4c3d2e" || runs[0].Params["day"] != "2026-11-22" {
			t.Fatalf("runs %+v", runs)
		}
		if len(st.starts) != 2 || st.starts[0] != st.starts[1] || st.starts[0].TimeoutSeconds != 600 || st.starts[0].QueueTimeoutSeconds != 300 {
			t.Fatalf("workflow starts %+v: want the same named start twice (Step Functions dedupes by name)", st.starts)
		}

	})
}

func TestEventsFromFixtures(t *testing.T) {
	forEachHome(t, func(t *testing.T, home string) {
		h, e, _ := setup(t, home)
		ctx := context.Background()
		files, _ := events.Glob("emr-*.json")
		if len(files) != 14 {
			t.Fatalf("%d EMR fixtures", len(files))
		}
		// As the events queue hands them over: a batch of messages, one event each.
		var batch awsevents.SQSEvent
		for _, f := range files {
			raw, _ := events.Read(f)
			batch.Records = append(batch.Records, awsevents.SQSMessage{MessageId: f, Body: string(raw)})
		}
		resp, err := h.Events(ctx, batch)
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("fixtures: %v %+v", err, resp.BatchItemFailures)
		}
		// The cluster fixtures name pool etl, so the handler adopted their cluster and moved it to its end.
		c, err := e.Store.GetCluster(ctx, "j-1YONHTCP3YZKC")
		if err != nil || !c.State.Terminal() {
			t.Fatalf("fixture cluster: %+v %v", c, err)
		}
		// A foreign event is handled (nothing to do); a broken one is reported failed, alone, so that
		// it comes back and, failing still, ends in the dead-letter queue instead of vanishing.
		resp, err = h.Events(ctx, awsevents.SQSEvent{Records: []awsevents.SQSMessage{
			{MessageId: "foreign", Body: `{"source": "aws.ec2"}`}, {MessageId: "broken", Body: `{"source": "aws.emr", "detail-type": "EMR Step Status Change", "detail": 7}`}}})
		if err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "broken" {
			t.Fatalf("foreign and broken events: %v %+v", err, resp.BatchItemFailures)
		}
	})
}

func TestTaskErrorsAreNamedForStepFunctions(t *testing.T) {
	forEachHome(t, func(t *testing.T, home string) {
		h, _, _ := setup(t, home)
		ctx := context.Background()
		var ie messages.InvokeResponse_Error
		err := h.Reserve(ctx, workflow.TokenInput{RunID: "nope", Token: "t"})
		if !errors.As(err, &ie) || ie.Type != workflow.ErrorNotFound {
			t.Fatalf("reserve of an unknown run: %#v", err)
		}
		_, err = h.Pool(ctx, lambdas.PoolInput{Action: "grow"})
		if !errors.As(err, &ie) || ie.Type != workflow.ErrorInvalid || !strings.Contains(ie.Message, "create, delete, heal") {
			t.Fatalf("bad pool action: %#v", err)
		}
		out, err := h.Pool(ctx, lambdas.PoolInput{Action: "heal", Name: "etl"})
		if err != nil || out == nil {
			t.Fatalf("heal: %v", err)
		}
		if _, err := h.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		tr := &sparkflow.Transform{Name: "report", Pool: "etl", Command: []string{"true"}}
		if _, err := h.Pool(ctx, lambdas.PoolInput{Action: "put-transform", Transform: tr}); err != nil {
			t.Fatalf("create through put-transform: %v", err)
		}
		tr.MaxAttempts = 3
		if _, err := h.Pool(ctx, lambdas.PoolInput{Action: "put-transform", Transform: tr}); err != nil {
			t.Fatalf("replace through put-transform: %v", err)
		}
		if got, _ := h.Service.Store.GetTransform(ctx, "report"); got.MaxAttempts != 3 {
			t.Fatalf("put-transform did not replace: %+v", got)
		}
		if _, err := h.Pool(ctx, lambdas.PoolInput{Action: "delete-transform", Name: "report"}); err != nil {
			t.Fatal(err)
		}

	})
}

func TestFinishOfACancelledWait(t *testing.T) {
	forEachHome(t, func(t *testing.T, home string) {
		h, e, _ := setup(t, home)
		ctx := context.Background()
		r, _, err := e.Service.Accept(ctx, sparkflow.RunRequest{Transform: "daily-sales"})
		if err != nil {
			t.Fatal(err)
		}
		var in workflow.FinishInput
		json.Unmarshal([]byte(`{"runId": "`+r.ID+`", "outcome": {"cause": "SubmitFailed", "error": "SparkFlow.Cancelled", "reason": "cancelled by request"}}`), &in)
		res, err := h.Finish(ctx, in)
		if err != nil || res.Retry || res.Status != sparkflow.RunCancelled {
			t.Fatalf("finish: %+v %v", res, err)
		}

	})
}

func TestReserveAndSubmitThroughTheHandlers(t *testing.T) {
	forEachHome(t, func(t *testing.T, home string) {
		h, e, _ := setup(t, home)
		ctx := context.Background()
		deadline := time.Now().Add(10 * time.Second)
		for {
			p, _ := e.GetPool(ctx, "etl")
			if p.Status == sparkflow.PoolReady {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("pool not ready")
			}
			time.Sleep(20 * time.Millisecond)
		}
		r, _, err := e.Service.Accept(ctx, sparkflow.RunRequest{Transform: "daily-sales"})
		if err != nil {
			t.Fatal(err)
		}
		// Tokens here are not waited on by the local engine: resuming them is logged, not an error.
		if err := h.Reserve(ctx, workflow.TokenInput{RunID: r.ID, Token: "reserve-token"}); err != nil {
			t.Fatalf("reserve: %v", err)
		}
		if err := h.Submit(ctx, workflow.TokenInput{RunID: r.ID, Token: "submit-token"}); err != nil {
			t.Fatalf("submit: %v", err)
		}
		if err := h.Submit(ctx, workflow.TokenInput{RunID: r.ID, Token: "retried-token"}); err != nil {
			t.Fatalf("a retried submit: %v", err)
		}
		got, _ := e.GetRun(ctx, r.ID)
		steps, _ := e.Clusters.ListSteps(ctx, got.ClusterID)
		if got.StepID == "" || got.ReservedAt == nil || len(steps) != 1 {
			t.Fatalf("run %+v with %d steps: want one step, found again by name on the retry", got, len(steps))
		}
	})
}
