// Package awsbackend is the CLI's and UI's backend for a deployed stack (sparkflow --target aws): it
// finds the stack's resources from its outputs, reads records from DynamoDB, puts run requests on the
// queue, sends pool and transform changes through the pool workflow, and cancels runs with the task
// logic itself, all with the user's own AWS credentials.
package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/emr"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"

	"github.com/sparkflow/sparkflow/shared/aws/dynamostore"
	"github.com/sparkflow/sparkflow/shared/aws/emrclusters"
	"github.com/sparkflow/sparkflow/shared/aws/lambdas"
	"github.com/sparkflow/sparkflow/shared/aws/names"
	"github.com/sparkflow/sparkflow/shared/aws/sfnworkflow"
	"github.com/sparkflow/sparkflow/shared/aws/sqsqueue"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tasks"
	"github.com/sparkflow/sparkflow/shared/tiers"
	"github.com/sparkflow/sparkflow/shared/workflow"
)

// Outputs are the stack outputs the backend needs.
type Outputs struct {
	// Stack is the stack's name: its clusters' and steps' names start with names.NamePrefix(Stack).
	Stack                                                            string
	RunsQueueURL, TableName, RunStateMachineARN, PoolStateMachineARN string
	// LogGroups are the functions' log groups (a stack of an older version has none listed).
	LogGroups []string
}

// Backend talks to a deployed stack.
type Backend struct {
	svc       *tasks.Service
	queue     *sqsqueue.Queue
	sfn       *sfn.Client
	poolSM    string
	pollWait  time.Duration
	logGroups []string
}

var _ sparkflow.Backend = (*Backend)(nil)

// StackOutputs reads a stack's outputs.
func StackOutputs(ctx context.Context, cfg aws.Config, stack string) (Outputs, error) {
	out, err := cloudformation.NewFromConfig(cfg).DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stack)})
	if err != nil {
		return Outputs{}, sparkflow.Wrap(sparkflow.NotFound, err, "stack %s (deploy it with cdk deploy, or name it with --stack)", stack)
	}
	if len(out.Stacks) != 1 {
		return Outputs{}, sparkflow.Errorf(sparkflow.NotFound, "stack %s not found", stack)
	}
	o := Outputs{Stack: stack}
	for _, op := range out.Stacks[0].Outputs {
		v := aws.ToString(op.OutputValue)
		switch aws.ToString(op.OutputKey) {
		case names.OutputRunsQueueURL:
			o.RunsQueueURL = v
		case names.OutputTableName:
			o.TableName = v
		case names.OutputRunStateMachineARN:
			o.RunStateMachineARN = v
		case names.OutputPoolStateMachineARN:
			o.PoolStateMachineARN = v
		case names.OutputFunctionLogGroups:
			for _, g := range strings.Split(v, ",") {
				if g = strings.TrimSpace(g); g != "" {
					o.LogGroups = append(o.LogGroups, g)
				}
			}
		}
	}
	if o.RunsQueueURL == "" || o.TableName == "" || o.RunStateMachineARN == "" || o.PoolStateMachineARN == "" {
		return o, sparkflow.Errorf(sparkflow.Invalid, "stack %s lacks SparkFlow's outputs (RunsQueueUrl, TableName, RunStateMachineArn, PoolStateMachineArn): is it a SparkFlow stack?", stack)
	}
	return o, nil
}

// New builds the backend from the user's AWS configuration and the stack's outputs.
func New(cfg aws.Config, o Outputs, catalog *tiers.Catalog) *Backend {
	flows := sfn.NewFromConfig(cfg)
	return &Backend{
		svc: tasks.New(tasks.Service{
			Store:     dynamostore.New(dynamodb.NewFromConfig(cfg), o.TableName),
			Clusters:  emrclusters.New(emr.NewFromConfig(cfg), emrclusters.Config{}),
			Callbacks: sfnworkflow.New(flows, o.RunStateMachineARN),
			Tiers:     catalog,
			// The stack's steps are found by their names (a cancel that comes before a step's id is
			// recorded looks for it so).
			NamePrefix: namePrefix(o.Stack),
		}),
		queue:     sqsqueue.New(sqs.NewFromConfig(cfg), o.RunsQueueURL),
		sfn:       flows,
		poolSM:    o.PoolStateMachineARN,
		pollWait:  time.Second,
		logGroups: o.LogGroups,
	}
}

// namePrefix is the stack's name prefix ("": the default, for outputs given without the stack's name).
func namePrefix(stack string) string {
	if stack == "" {
		return ""
	}
	return names.NamePrefix(stack)
}

// RunTrace says where the functions logged about a run: their log groups, with the Logs Insights
// query (and the AWS CLI command) that gives the run's lines in order.
func (b *Backend) RunTrace(ctx context.Context, id string) (sparkflow.RunTrace, error) {
	r, err := b.svc.Store.GetRun(ctx, id)
	if err != nil {
		return sparkflow.RunTrace{}, err
	}
	if len(b.logGroups) == 0 {
		return sparkflow.RunTrace{Where: "the stack's function log groups (/aws/lambda/…; redeploy this version to have them listed)"}, nil
	}
	query := fmt.Sprintf(`fields @timestamp, level, msg, attempt, cluster_id, step_id, err | filter run_id = "%s" | sort @timestamp asc`, id)
	start := r.CreatedAt.Add(-time.Minute).Unix()
	end := time.Now().Add(time.Minute).Unix()
	if r.EndedAt != nil {
		end = r.EndedAt.Add(10 * time.Minute).Unix()
	}
	return sparkflow.RunTrace{
		Where: "CloudWatch Logs groups " + strings.Join(b.logGroups, ", "),
		Query: query,
		Command: fmt.Sprintf("aws logs start-query --log-group-names %s --start-time %d --end-time %d --query-string '%s'  (then aws logs get-query-results --query-id ID)",
			strings.Join(b.logGroups, " "), start, end, query),
	}, nil
}

var _ sparkflow.TraceFinder = (*Backend)(nil)

// admin runs an action of the pool workflow and waits for its result.
func (b *Backend) admin(ctx context.Context, in lambdas.PoolInput, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	ex, err := b.sfn.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(b.poolSM), Input: aws.String(string(body)),
		Name: aws.String(in.Action + "-" + uuid.NewString()[:8])})
	if err != nil {
		return sparkflow.Wrap(sparkflow.Transient, err, "start the pool workflow")
	}
	for {
		d, err := b.sfn.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: ex.ExecutionArn})
		if err != nil {
			return sparkflow.Wrap(sparkflow.Transient, err, "follow the pool workflow")
		}
		switch d.Status {
		case types.ExecutionStatusSucceeded:
			if out != nil && d.Output != nil {
				return json.Unmarshal([]byte(*d.Output), out)
			}
			return nil
		case types.ExecutionStatusRunning, types.ExecutionStatusPendingRedrive:
		default:
			// The task's own error says what is wrong (validation, not found, conflict), in the
			// names both homes give errors.
			return workflow.ErrorOf(aws.ToString(d.Error), aws.ToString(d.Cause))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped waiting; the pool workflow %s goes on", aws.ToString(ex.ExecutionArn))
		case <-time.After(b.pollWait):
		}
	}
}

func (b *Backend) Tiers(ctx context.Context) ([]sparkflow.Tier, error) { return b.svc.Tiers.All(), nil }

func (b *Backend) CreatePool(ctx context.Context, p sparkflow.Pool) (sparkflow.PoolView, error) {
	var v sparkflow.PoolView
	return v, b.admin(ctx, lambdas.PoolInput{Action: "create", Pool: &p}, &v)
}

func (b *Backend) ListPools(ctx context.Context) ([]sparkflow.PoolView, error) {
	return b.svc.ListPools(ctx)
}

func (b *Backend) GetPool(ctx context.Context, name string) (sparkflow.PoolView, error) {
	return b.svc.GetPool(ctx, name)
}

func (b *Backend) DeletePool(ctx context.Context, name string, force bool) error {
	return b.admin(ctx, lambdas.PoolInput{Action: "delete", Name: name, Force: force}, nil)
}

func (b *Backend) HealPool(ctx context.Context, name string) error {
	return b.admin(ctx, lambdas.PoolInput{Action: "heal", Name: name}, nil)
}

func (b *Backend) CreateTransform(ctx context.Context, t sparkflow.Transform) (sparkflow.Transform, error) {
	if _, err := b.svc.Store.GetTransform(ctx, t.Name); err == nil {
		return t, sparkflow.Errorf(sparkflow.Conflict, "transform %q exists already", t.Name)
	}
	var out sparkflow.Transform
	return out, b.admin(ctx, lambdas.PoolInput{Action: "put-transform", Transform: &t}, &out)
}

func (b *Backend) UpdateTransform(ctx context.Context, t sparkflow.Transform) (sparkflow.Transform, error) {
	if _, err := b.svc.Store.GetTransform(ctx, t.Name); err != nil {
		return t, err
	}
	var out sparkflow.Transform
	return out, b.admin(ctx, lambdas.PoolInput{Action: "put-transform", Transform: &t}, &out)
}

func (b *Backend) ListTransforms(ctx context.Context, pool string) ([]sparkflow.Transform, error) {
	return b.svc.Store.ListTransforms(ctx, pool)
}

func (b *Backend) GetTransform(ctx context.Context, name string) (sparkflow.Transform, error) {
	return b.svc.Store.GetTransform(ctx, name)
}

func (b *Backend) DeleteTransform(ctx context.Context, name string) error {
	return b.admin(ctx, lambdas.PoolInput{Action: "delete-transform", Name: name}, nil)
}

// SubmitRun puts the request on the runs queue with a new run id, so the run can be followed at once;
// the intake function records it (a request it cannot accept is kept as rejected, with the reason).
func (b *Backend) SubmitRun(ctx context.Context, req sparkflow.RunRequest) (sparkflow.Run, error) {
	if err := req.Validate(); err != nil {
		return sparkflow.Run{}, err
	}
	if req.ID == "" {
		req.ID = uuid.NewString()
	}
	t, err := b.svc.Store.GetTransform(ctx, req.Transform)
	if sparkflow.IsCode(err, sparkflow.NotFound) {
		return sparkflow.Run{}, sparkflow.MissingError("transform", "transform %q does not exist (sparkflow transform list shows the known ones)", req.Transform)
	}
	// A full queue refuses the run here, with the reason (the intake refuses it too, for any other
	// producer, and keeps it as rejected).
	if err == nil {
		if p, perr := b.svc.Store.GetPool(ctx, t.Pool); perr == nil {
			if err := b.svc.CheckQueue(ctx, p); err != nil {
				return sparkflow.Run{}, err
			}
		}
	}
	if err := b.checkAfter(ctx, req); err != nil {
		return sparkflow.Run{}, err
	}
	if _, err := b.queue.Send(ctx, req); err != nil {
		return sparkflow.Run{}, err
	}
	now := time.Now().UTC()
	return sparkflow.Run{ID: req.ID, Transform: req.Transform, Params: req.Params, Status: sparkflow.RunQueued, CreatedAt: now, UpdatedAt: now}, nil
}

// afterGrace is how long a submit waits for a run it is to wait for (--after) to be recorded: one
// submitted a moment ago may still be on the runs queue.
const afterGrace = 15 * time.Second

// checkAfter refuses a run that waits for a run SparkFlow does not know (after afterGrace).
func (b *Backend) checkAfter(ctx context.Context, req sparkflow.RunRequest) error {
	deadline := time.Now().Add(afterGrace)
	for {
		err := b.svc.CheckAfter(ctx, req)
		if err == nil || !sparkflow.IsCode(err, sparkflow.NotFound) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (b *Backend) ListRuns(ctx context.Context, f sparkflow.RunFilter) ([]sparkflow.Run, error) {
	return b.svc.Store.ListRuns(ctx, f)
}

// GetRun reads a run; one still on the queue (not yet recorded by the intake) is reported QUEUED.
func (b *Backend) GetRun(ctx context.Context, id string) (sparkflow.Run, error) {
	return b.svc.Store.GetRun(ctx, id)
}

func (b *Backend) CancelRun(ctx context.Context, id string) (sparkflow.Run, error) {
	return b.svc.Cancel(ctx, id)
}

// ListRejected lists the requests the intake could not accept, with their reasons.
func (b *Backend) ListRejected(ctx context.Context, limit int) ([]sparkflow.Rejected, error) {
	return b.svc.Store.ListRejected(ctx, limit)
}

// RunLogs: on AWS the step logs are in the pool's S3 log location, not served here; the error says
// where they are.
func (b *Backend) RunLogs(ctx context.Context, id string, q sparkflow.LogQuery) (string, error) {
	r, err := b.svc.Store.GetRun(ctx, id)
	if err != nil {
		return "", err
	}
	if q.Stream == "" {
		q.Stream = "stdout"
	}
	step, cluster := r.AttemptStep(q.Attempt)
	return "", sparkflow.Errorf(sparkflow.Invalid, "on AWS the step's logs are in the pool's S3 log location (run %s, cluster %s, step %s): aws s3 cp s3://LOG-URI/%s/steps/%s/%s.gz -", id, cluster, step, cluster, step, q.Stream)
}
