package crosshome_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/sparkflow/sparkflow/shared/aws/awstest"
	"github.com/sparkflow/sparkflow/shared/aws/dynamostore"
	"github.com/sparkflow/sparkflow/shared/local/engine"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/workflow"
)

// TestEngineOnDynamoDBLocal runs the whole local engine on the DynamoDB store in DynamoDB Local, which
// isolates concurrent transactions as DynamoDB does (moto does not).
func TestEngineOnDynamoDBLocal(t *testing.T) {
	awstest.DynamoDBLocal(t, enginePipeline)
}

// enginePipeline runs the whole local engine (task logic, workflow runner, local clusters) on the
// DynamoDB store: a burst of runs on 2 clusters × 3 slots all succeed, and no cluster ever holds more
// than its slots.
func enginePipeline(t *testing.T, endpoint string) {
	db := dynamodb.NewFromConfig(awstest.Config(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
	name := fmt.Sprintf("sparkflow-engine-%d", os.Getpid())
	if err := dynamostore.CreateTable(awstest.Context(t), db, name); err != nil {
		t.Fatal(err)
	}
	e, err := engine.Open(engine.Config{DataDir: t.TempDir(), Store: dynamostore.New(db, name), ProvisionDelay: 50 * time.Millisecond,
		ReconcileInterval: time.Second, Retry: &workflow.Retry{Interval: 20 * time.Millisecond, BackoffRate: 2, MaxAttempts: 5}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	if _, err := e.CreatePool(ctx, sparkflow.Pool{Name: "ddb", Tier: "tiny", Clusters: 2, StepConcurrency: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.CreateTransform(ctx, sparkflow.Transform{Name: "quick", Pool: "ddb", Command: []string{"sleep", "0.1"}}); err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := 0; i < n; i++ {
		if _, err := e.SubmitRun(ctx, sparkflow.RunRequest{Transform: "quick"}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(90 * time.Second)
	worst := 0
	for {
		cs, _ := e.Store.ListClusters(ctx, "ddb")
		for _, c := range cs {
			worst = max(worst, len(c.Reservations))
		}
		active, err := e.Store.ListRuns(ctx, sparkflow.RunFilter{Active: true})
		if err == nil && len(active) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d runs still active after 90s", len(active))
		}
		time.Sleep(50 * time.Millisecond)
	}
	runs, _ := e.Store.ListRuns(ctx, sparkflow.RunFilter{})
	if len(runs) != n {
		t.Fatalf("%d runs, want %d", len(runs), n)
	}
	for _, r := range runs {
		if r.Status != sparkflow.RunSucceeded {
			t.Fatalf("run %s %s: %s", r.ID, r.Status, r.Reason)
		}
	}
	if worst > 3 {
		t.Fatalf("a cluster held %d reservations, capacity 3", worst)
	}
}
