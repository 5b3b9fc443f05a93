// Package sqsqueue puts run requests on the runs queue (SQS) and, for local tools, reads them back.
package sqsqueue

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// API is the part of the SQS client used.
type API interface {
	SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(context.Context, *sqs.DeleteMessageInput, ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
}

// Queue is the runs queue.
type Queue struct {
	api API
	url string
}

// New returns the queue at url.
func New(api API, url string) *Queue { return &Queue{api: api, url: url} }

// MaxMessage is SQS's message size limit.
const MaxMessage = 1 << 20

func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorFault() == smithy.FaultClient && api.ErrorCode() != "ThrottlingException" && api.ErrorCode() != "RequestThrottled" {
		return sparkflow.Wrap(sparkflow.Invalid, err, "%s", op)
	}
	return sparkflow.Wrap(sparkflow.Transient, err, "%s", op)
}

// Send validates a run request's shape and puts it on the queue; it returns the message id.
func (q *Queue) Send(ctx context.Context, req sparkflow.RunRequest) (string, error) {
	if err := req.Validate(); err != nil {
		return "", err
	}
	b, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	if len(b) > MaxMessage {
		return "", sparkflow.Errorf(sparkflow.Invalid, "run request of %d bytes is over SQS's 1 MiB", len(b))
	}
	out, err := q.api.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.url), MessageBody: aws.String(string(b))})
	if err != nil {
		return "", classify("send run request", err)
	}
	return aws.ToString(out.MessageId), nil
}

// Message is a received message.
type Message struct {
	ID, Body, Receipt string
}

// Receive reads up to max messages (1 to 10), waiting up to wait seconds.
func (q *Queue) Receive(ctx context.Context, max, wait int32) ([]Message, error) {
	out, err := q.api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.url), MaxNumberOfMessages: max, WaitTimeSeconds: wait})
	if err != nil {
		return nil, classify("receive", err)
	}
	msgs := make([]Message, 0, len(out.Messages))
	for _, m := range out.Messages {
		msgs = append(msgs, Message{ID: aws.ToString(m.MessageId), Body: aws.ToString(m.Body), Receipt: aws.ToString(m.ReceiptHandle)})
	}
	return msgs, nil
}

// Delete removes a handled message.
func (q *Queue) Delete(ctx context.Context, receipt string) error {
	_, err := q.api.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.url), ReceiptHandle: aws.String(receipt)})
	return classify("delete message", err)
}
