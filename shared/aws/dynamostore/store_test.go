package dynamostore_test

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/sparkflow/sparkflow/shared/aws/awstest"
	"github.com/sparkflow/sparkflow/shared/aws/dynamostore"
	"github.com/sparkflow/sparkflow/shared/contract/storetest"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func TestMain(m *testing.M) { awstest.Main(m) }

var tables atomic.Int64

func contract(t *testing.T, endpoint string, opt storetest.Options) {
	db := dynamodb.NewFromConfig(awstest.Config(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
	storetest.Run(t, func(t *testing.T) sparkflow.Store {
		name := fmt.Sprintf("sparkflow-test-%d-%d", os.Getpid(), tables.Add(1))
		if err := dynamostore.CreateTable(awstest.Context(t), db, name); err != nil {
			t.Fatal(err)
		}
		return dynamostore.New(db, name)
	}, opt)
}

func TestContractOnMoto(t *testing.T) {
	contract(t, awstest.Moto(t), storetest.Options{
		NoConcurrency: "moto does not isolate concurrent transactions (seen: 4 reservations on a 3-slot cluster); TestContractOnDynamoDBLocal checks this on DynamoDB Local",
	})
}

// TestContractOnDynamoDBLocal runs the whole contract, concurrency included, on DynamoDB Local.
func TestContractOnDynamoDBLocal(t *testing.T) {
	awstest.DynamoDBLocal(t, func(t *testing.T, endpoint string) { contract(t, endpoint, storetest.Options{}) })
}
