package crosshome_test

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/sparkflow/sparkflow/shared/aws/awstest"
	"github.com/sparkflow/sparkflow/shared/aws/dynamostore"
	"github.com/sparkflow/sparkflow/shared/sim"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// TestSimulationOnDynamoDBLocal runs a batch of the simulation's schedules on the AWS home's store,
// DynamoDB (Local: it isolates concurrent transactions as DynamoDB does), a fresh table each
// (SPARKFLOW_SIM_DYNAMODB_SCHEDULES sets how many).
func TestSimulationOnDynamoDBLocal(t *testing.T) {
	awstest.DynamoDBLocal(t, func(t *testing.T, endpoint string) {
		n := 2 * len(sim.Profiles)
		if v, err := strconv.Atoi(os.Getenv("SPARKFLOW_SIM_DYNAMODB_SCHEDULES")); err == nil && v > 0 {
			n = v
		}
		db := dynamodb.NewFromConfig(awstest.Config(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
		var tables atomic.Int64
		open := func() (sparkflow.Store, func(), error) {
			name := fmt.Sprintf("sim-%d-%d", os.Getpid(), tables.Add(1))
			if err := dynamostore.CreateTable(awstest.Context(t), db, name); err != nil {
				return nil, nil, err
			}
			return dynamostore.New(db, name), func() { db.DeleteTable(awstest.Context(t), &dynamodb.DeleteTableInput{TableName: aws.String(name)}) }, nil
		}
		rep := sim.BatchOn(open, 1, n, 2, nil)
		var b bytes.Buffer
		rep.Print(&b)
		t.Log("\n" + b.String())
		if rep.Violations() > 0 || rep.Schedules != n {
			t.Fatalf("on DynamoDB Local:\n%s", b.String())
		}
	})
}
