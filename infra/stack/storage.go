package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/sparkflow/sparkflow/shared/aws/names"
)

// Storage is the table of pools, clusters, transforms, runs, reservations and waiting runs.
type Storage struct {
	Table awsdynamodb.Table
}

// TableLogicalID is pinned: a stateful resource's logical id must never change, or CloudFormation
// replaces the table (and its data).
const TableLogicalID = "SparkflowTable"

// NewStorage declares the table with the store's keys and indexes, point-in-time recovery, on-demand
// capacity, a time-to-live attribute, and RETAIN.
func NewStorage(scope constructs.Construct, id string) *Storage {
	c := constructs.NewConstruct(scope, jsii.String(id))
	str := func(n string) *awsdynamodb.Attribute {
		return &awsdynamodb.Attribute{Name: jsii.String(n), Type: awsdynamodb.AttributeType_STRING}
	}
	t := awsdynamodb.NewTable(c, jsii.String("Table"), &awsdynamodb.TableProps{
		PartitionKey:                     str(names.TableKey),
		SortKey:                          str(names.TableSortKey),
		BillingMode:                      awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{PointInTimeRecoveryEnabled: jsii.Bool(true)},
		RemovalPolicy:                    awscdk.RemovalPolicy_RETAIN,
		// Ended runs and rejected requests carry it (the store sets it from the retention).
		TimeToLiveAttribute: jsii.String(names.TableTTLAttribute),
	})
	for _, idx := range []string{names.TableIndex1, names.TableIndex2, names.TableIndex3} {
		k := names.TableIndexKeys[idx]
		t.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{IndexName: jsii.String(idx), PartitionKey: str(k[0]), SortKey: str(k[1]),
			ProjectionType: awsdynamodb.ProjectionType_ALL})
	}
	t.Node().DefaultChild().(awsdynamodb.CfnTable).OverrideLogicalId(jsii.String(TableLogicalID))
	return &Storage{Table: t}
}
