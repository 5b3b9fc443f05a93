package dynamostore_test

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sparkflow/sparkflow/shared/aws/awstest"
	"github.com/sparkflow/sparkflow/shared/aws/dynamostore"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// TestSlotsKeepReservationsTakenBeforeTheirLayout: a slot an earlier version reserved (an item of its
// own, RES#<run>, beside the run id in the cluster's set) is found, taken over and freed as a slot
// kept on the run's item is, so a stack upgraded with runs under way frees every slot it holds.
func TestSlotsKeepReservationsTakenBeforeTheirLayout(t *testing.T) {
	ctx := awstest.Context(t)
	db := dynamodb.NewFromConfig(awstest.Config(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(awstest.Moto(t)) })
	name := fmt.Sprintf("sparkflow-res-legacy-%d", os.Getpid())
	if err := dynamostore.CreateTable(ctx, db, name); err != nil {
		t.Fatal(err)
	}
	s := dynamostore.New(db, name)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	must(s.CreateCluster(ctx, sparkflow.Cluster{ID: "j-1", Pool: "p", State: sparkflow.ClusterWaiting, Capacity: 2, CreatedAt: at, StateTime: at}))
	must(s.CreateCluster(ctx, sparkflow.Cluster{ID: "j-2", Pool: "p", State: sparkflow.ClusterWaiting, Capacity: 2, CreatedAt: at, StateTime: at}))
	for _, id := range []string{"old", "older"} {
		_, err := s.CreateRun(ctx, sparkflow.Run{ID: id, Transform: "daily", Pool: "p", Status: sparkflow.RunRunning, Attempt: 1, CreatedAt: at})
		must(err)
	}
	// As the earlier layout reserved them: a RES# item each, and the run ids in j-1's set.
	s1 := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	for _, id := range []string{"old", "older"} {
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(name), Item: map[string]types.AttributeValue{
			dynamostore.AttrPK: s1("RES#" + id), dynamostore.AttrSK: s1("#"), "cl": s1("j-1"), "att": &types.AttributeValueMemberN{Value: "1"}}})
		must(err)
	}
	_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(name),
		Key:              map[string]types.AttributeValue{dynamostore.AttrPK: s1("CLUSTER#j-1"), dynamostore.AttrSK: s1("#")},
		UpdateExpression: aws.String("ADD res :r"), ExpressionAttributeValues: map[string]types.AttributeValue{":r": &types.AttributeValueMemberSS{Value: []string{"old", "older"}}}})
	must(err)

	// Found: Reserve gives the slot held, and a grant written with another slot is refused.
	got, err := s.Reserve(ctx, "old", 1, "j-2")
	must(err)
	if got != "j-1" {
		t.Fatalf("Reserve of a run holding a slot of the earlier layout gave %s, want j-1", got)
	}
	r, err := s.GetRun(ctx, "old")
	must(err)
	if _, err := s.UpdateRunSlot(ctx, r, sparkflow.SlotChange{Take: "j-2"}); !errors.Is(err, sparkflow.ErrHeld) {
		t.Fatalf("a grant on j-2 of a run holding j-1 (earlier layout) gave %v, want ErrHeld", err)
	}
	// Taken over by a retry; the ended attempt's late release leaves it; the retry's frees it.
	got, err = s.Reserve(ctx, "old", 2, "j-2")
	must(err)
	if got != "j-1" {
		t.Fatalf("the retry's Reserve gave %s, want the slot on j-1", got)
	}
	must(s.Release(ctx, "old", 1, "j-1", at))
	if c, _ := s.GetCluster(ctx, "j-1"); !c.Holds("old") {
		t.Fatal("the late release of attempt 1 freed the slot attempt 2 took over")
	}
	must(s.Release(ctx, "old", 2, "j-1", at))
	// The other ends with its slot freed in the same write as its end.
	r, err = s.GetRun(ctx, "older")
	must(err)
	r.Status = sparkflow.RunSucceeded
	r, err = s.UpdateRunSlot(ctx, r, sparkflow.SlotChange{Free: "j-1", At: at})
	must(err)
	if c, _ := s.GetCluster(ctx, "j-1"); len(c.Reservations) != 0 {
		t.Fatalf("j-1 still holds %v", c.Reservations)
	}
	if got, _ := s.GetRun(ctx, "older"); got.Status != sparkflow.RunSucceeded || got.Version != r.Version {
		t.Fatalf("the run's end was not written with its slot freed: %+v", got)
	}
	for _, id := range []string{"old", "older"} {
		out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(name), Key: map[string]types.AttributeValue{dynamostore.AttrPK: s1("RES#" + id), dynamostore.AttrSK: s1("#")}})
		must(err)
		if out.Item != nil {
			t.Fatalf("the reservation item of %s was left behind", id)
		}
	}
	// Both can take slots again, now kept on their items.
	for _, id := range []string{"old", "older"} {
		if _, err := s.Reserve(ctx, id, 3, "j-2"); err != nil {
			t.Fatalf("%s reserves again: %v", id, err)
		}
	}
}
