package sqsqueue_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/sparkflow/sparkflow/shared/aws/awstest"
	"github.com/sparkflow/sparkflow/shared/aws/sqsqueue"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func TestMain(m *testing.M) { awstest.Main(m) }

func TestSendReceiveDelete(t *testing.T) {
	endpoint := awstest.Moto(t)
	api := sqs.NewFromConfig(awstest.Config(), func(o *sqs.Options) { o.BaseEndpoint = aws.String(endpoint) })
	ctx := awstest.Context(t)
	q, err := api.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("sparkflow-runs-test")})
	if err != nil {
		t.Fatal(err)
	}
	queue := sqsqueue.New(api, aws.ToString(q.QueueUrl))
	req := sparkflow.RunRequest{Transform: "daily-sales", Params: map[string]string{"day": "2026-11-22"}}
	id, err := queue.Send(ctx, req)
	if err != nil || id == "" {
		t.Fatalf("send: %q %v", id, err)
	}
	if _, err := queue.Send(ctx, sparkflow.RunRequest{Transform: "bad name"}); !sparkflow.IsCode(err, sparkflow.Invalid) {
		t.Fatalf("a malformed request must be refused before it is sent: %v", err)
	}
	msgs, err := queue.Receive(ctx, 10, 1)
	if err != nil || len(msgs) != 1 || msgs[0].ID != id {
		t.Fatalf("receive: %+v %v", msgs, err)
	}
	var got sparkflow.RunRequest
	dec := json.NewDecoder(strings.NewReader(msgs[0].Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil || got.Transform != "daily-sales" || got.Params["day"] != "2026-11-22" {
		t.Fatalf("body %q: %v", msgs[0].Body, err)
	}
	if err := queue.Delete(ctx, msgs[0].Receipt); err != nil {
		t.Fatal(err)
	}
	if msgs, _ := queue.Receive(ctx, 10, 0); len(msgs) != 0 {
		t.Fatalf("message still there after delete: %+v", msgs)
	}
}
