// Package lambdas holds the AWS home's Lambda handlers: each is a thin edge over package tasks that
// decodes its event, calls one task and maps the domain's error kinds to what the caller understands
// (Step Functions error names, SQS partial batch failures, EventBridge retries). The entrypoints in
// functions/<name> only wire them.
package lambdas

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/google/uuid"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tasks"
	"github.com/sparkflow/sparkflow/shared/workflow"
)

// taskError names err for Step Functions the way both homes do (workflow.ErrorName); aws-lambda-go
// sends InvokeResponse_Error's Type as the error name as it is.
func taskError(err error) error {
	if err == nil {
		return nil
	}
	return messages.InvokeResponse_Error{Type: workflow.ErrorName(err), Message: err.Error()}
}

// Starter starts a run's workflow (sfnworkflow.Workflows).
type Starter interface {
	Start(ctx context.Context, in workflow.Input) error
}

// Handlers serves every function.
type Handlers struct {
	Service *tasks.Service
	Starter Starter
	Log     *slog.Logger
	// ReconcileBudget is the most EMR calls a reconcile pass makes.
	ReconcileBudget int
}

// Intake reads run requests from the queue: each valid one is recorded and its workflow started; a
// malformed one is recorded as rejected with its reason and reported failed, so SQS redrives it to the
// dead-letter queue; a transient failure is reported failed, so SQS delivers it again. Only the failed
// messages return (ReportBatchItemFailures).
func (h *Handlers) Intake(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	for _, m := range ev.Records {
		if err := h.intakeOne(ctx, m); err != nil {
			h.Log.WarnContext(ctx, "run request not accepted", "message_id", m.MessageId, "err", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return resp, nil
}

func (h *Handlers) intakeOne(ctx context.Context, m events.SQSMessage) error {
	var req sparkflow.RunRequest
	dec := json.NewDecoder(bytes.NewReader([]byte(m.Body)))
	dec.DisallowUnknownFields()
	err := dec.Decode(&req)
	if err != nil {
		err = sparkflow.Wrap(sparkflow.Invalid, err, "run request is not JSON of the form {\"transform\": NAME, \"params\": {...}}")
	}
	if err == nil && req.ID == "" && req.ScheduledTime == nil {
		// A request without an id gets one derived from its message, so that SQS's redelivery of
		// the message (at least once) is the same run, never a second one. (A schedule's firing
		// has its id derived from its transform and time, by Accept: EventBridge Scheduler may
		// send one firing in two messages.)
		req.ID = uuid.NewSHA1(messageIDSpace, []byte(m.MessageId)).String()
	}
	var r sparkflow.Run
	if err == nil {
		r, _, err = h.Service.Accept(ctx, req)
	}
	if err != nil {
		if sparkflow.IsCode(err, sparkflow.Invalid) || sparkflow.IsCode(err, sparkflow.Conflict) || sparkflow.IsCode(err, sparkflow.NotFound) {
			if rerr := h.Service.Reject(ctx, m.MessageId, m.Body, err); rerr != nil {
				return rerr
			}
		}
		return err
	}
	return h.Starter.Start(ctx, workflow.InputOf(r, 0))
}

// messageIDSpace is the UUID namespace of run ids derived from SQS message ids.
var messageIDSpace = uuid.MustParse("9e4c4b4a-5a0b-4f0e-8a44-5f0b6a2b8c11")

// Reserve is the Reserve task (.waitForTaskToken), and the Hold task of a BLOCKED run (its payload
// says hold): one function serves both, as both wait for the run's turn.
func (h *Handlers) Reserve(ctx context.Context, in workflow.TokenInput) error {
	if in.Hold {
		return taskError(h.Service.HoldTask(ctx, in))
	}
	return taskError(h.Service.ReserveTask(ctx, in))
}

// Submit is the Submit task (.waitForTaskToken).
func (h *Handlers) Submit(ctx context.Context, in workflow.TokenInput) error {
	return taskError(h.Service.SubmitTask(ctx, in))
}

// Finish is the Finish task.
func (h *Handlers) Finish(ctx context.Context, in workflow.FinishInput) (workflow.FinishResult, error) {
	res, err := h.Service.FinishTask(ctx, in)
	return res, taskError(err)
}

// Events handles the state-change events (EMR clusters and steps, run executions) that EventBridge
// put on the events queue, one message each. A failure is reported for its message only
// (ReportBatchItemFailures): a transient one comes back after the visibility timeout; one that can
// never be handled comes back too, and after the queue's receive limit lands in the events
// dead-letter queue, whose alarm says so. No event is dropped without a trace.
func (h *Handlers) Events(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	for _, m := range ev.Records {
		ctx := h.Service.EventScope(ctx, []byte(m.Body))
		err := h.Service.HandleEvent(ctx, json.RawMessage(m.Body))
		if err == nil {
			continue
		}
		switch sparkflow.ErrorCode(err) {
		case sparkflow.Transient, sparkflow.Internal:
			h.Log.WarnContext(ctx, "event not handled yet; it comes back", "message_id", m.MessageId, "err", err)
		default:
			h.Log.ErrorContext(ctx, "event cannot be handled; after its retries it goes to the events dead-letter queue", "message_id", m.MessageId, "err", err, "event", m.Body)
		}
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
	}
	return resp, nil
}

// Reconcile is the scheduled reconciler.
// Each pass also records the pools' gauges (queue depth and oldest wait, slots, clusters, degraded):
// the reconciler's schedule is their period.
func (h *Handlers) Reconcile(ctx context.Context) (tasks.ReconcileReport, error) {
	rep, err := h.Service.Reconcile(ctx, h.ReconcileBudget)
	if gerr := h.Service.RecordGauges(ctx); gerr != nil {
		h.Log.WarnContext(ctx, "reconcile: measure the pools' gauges", "err", gerr)
	}
	return rep, err
}

// PoolInput is an admin request of the pool workflow: create, delete or heal a pool; put (create or
// replace) or delete a transform.
type PoolInput struct {
	Action    string               `json:"action"`
	Pool      *sparkflow.Pool      `json:"pool,omitempty"`
	Transform *sparkflow.Transform `json:"transform,omitempty"`
	Name      string               `json:"name,omitempty"`
	Force     bool                 `json:"force,omitempty"`
}

// Pool serves the pool workflow's admin actions.
func (h *Handlers) Pool(ctx context.Context, in PoolInput) (any, error) {
	switch in.Action {
	case "put-transform":
		if in.Transform == nil {
			return nil, taskError(sparkflow.FieldError("transform", "put-transform needs the transform"))
		}
		t, err := h.Service.UpdateTransform(ctx, *in.Transform)
		if sparkflow.IsCode(err, sparkflow.NotFound) {
			t, err = h.Service.CreateTransform(ctx, *in.Transform)
		}
		return t, taskError(err)
	case "delete-transform":
		return map[string]string{"status": "deleted"}, taskError(h.Service.DeleteTransform(ctx, in.Name))
	case "create":
		if in.Pool == nil {
			return nil, taskError(sparkflow.FieldError("pool", "create needs the pool"))
		}
		v, err := h.Service.CreatePool(ctx, *in.Pool)
		return v, taskError(err)
	case "delete":
		return map[string]string{"status": "deleting"}, taskError(h.Service.DeletePool(ctx, in.Name, in.Force))
	case "heal":
		return map[string]string{"status": "healed"}, taskError(h.Service.ResumeLaunches(ctx, in.Name))
	}
	return nil, taskError(sparkflow.FieldError("action", "%q is not an action: use create, delete, heal, put-transform or delete-transform", in.Action))
}
