package twin

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/sparkflow/sparkflow/shared/aws/ebschedules"
	"github.com/sparkflow/sparkflow/shared/aws/emf"
	"github.com/sparkflow/sparkflow/shared/aws/names"
	"github.com/sparkflow/sparkflow/shared/metrics"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// World is the deployed stack as a scenariotest.World (with a runs queue and Step Functions
// executions): the AWS backend for what a user does, the twin's controls for what goes wrong.
type World struct {
	Twin *Twin
	b    sparkflow.Backend
	held int
}

// NewWorld returns the world of a running twin.
func NewWorld(ctx context.Context, tw *Twin) (*World, error) {
	b, err := tw.Backend(ctx)
	if err != nil {
		return nil, err
	}
	return &World{Twin: tw, b: b}, nil
}

func (w *World) Backend() sparkflow.Backend { return w.b }
func (w *World) Wait() time.Duration        { return 60 * time.Second }

func (w *World) DropStepEvents(name string, state sparkflow.StepState, n int) error {
	// The reconciler's schedule is held until the scenario runs it itself, so that it cannot repair
	// the loss before the scenario has seen it.
	if err := w.Twin.Post("/schedule/hold", map[string]bool{"hold": true}, nil); err != nil {
		return err
	}
	w.held++
	return w.Twin.Faults(Fault{Match: map[string]string{"detailType": "step", "nameContains": name, "state": string(state)}, Action: "drop", Count: n})
}

func (w *World) DelayStepEvents(name string, state sparkflow.StepState, n int, d time.Duration) error {
	return w.Twin.Faults(Fault{Match: map[string]string{"detailType": "step", "nameContains": name, "state": string(state)}, Action: "delay", Count: n, Seconds: d.Seconds()})
}

// ThrottleEMR throttles that share of the functions' EMR calls.
func (w *World) ThrottleEMR(rate float64) error {
	return w.Twin.Post("/throttle", map[string]any{"service": "elasticmapreduce", "rate": rate}, nil)
}

// StepsAdded counts the AddJobFlowSteps calls that added a step of the run.
func (w *World) StepsAdded(ctx context.Context, runID string) (int, error) {
	calls, err := w.Twin.Calls(0)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range calls {
		if c.Action != "AddJobFlowSteps" {
			continue
		}
		steps, _ := c.Params["Steps"].([]any)
		for _, st := range steps {
			if name, _ := st.(map[string]any)["Name"].(string); strings.Contains(name, runID) {
				n++
			}
		}
	}
	return n, nil
}

func (w *World) DuplicateStepEvents(name string, n int) error {
	return w.Twin.Faults(Fault{Match: map[string]string{"detailType": "step", "nameContains": name}, Action: "duplicate", Count: n})
}

func (w *World) LoseCluster(id string) error {
	var out struct{ Lost bool }
	if err := w.Twin.Post("/emr/lose", map[string]string{"clusterId": id}, &out); err != nil {
		return err
	}
	if !out.Lost {
		return fmt.Errorf("the twin knows no cluster %s", id)
	}
	return nil
}

// FailStarts makes the pool's next launches fail to start with these EMR reason codes.
func (w *World) FailStarts(pool string, codes ...string) error {
	return w.Twin.Post("/emr/start-failures", map[string]any{"pool": pool, "codes": codes}, nil)
}

// EndIdle ends a cluster as EMR's auto-termination policy ends an idle one.
func (w *World) EndIdle(id string) error {
	var out struct{ Lost bool }
	if err := w.Twin.Post("/emr/lose", map[string]string{"clusterId": id, "code": "ALL_STEPS_COMPLETED"}, &out); err != nil {
		return err
	}
	if !out.Lost {
		return fmt.Errorf("the twin knows no cluster %s", id)
	}
	return nil
}

// LoseResumes fails the functions' next n SendTaskSuccess calls with a ThrottlingException.
func (w *World) LoseResumes(n int) error {
	return w.Twin.Post("/fail-next", map[string]any{"action": "SendTaskSuccess", "count": n}, nil)
}

// Reconcile fires the reconciler's schedule now and returns when its pass has run.
func (w *World) Reconcile(ctx context.Context) error {
	var out struct {
		Fired []struct {
			Rule   string
			OK     bool
			Output string
		}
	}
	if err := w.Twin.Post("/schedule/fire", map[string]any{"nameContains": "Reconcile", "sync": true}, &out); err != nil {
		return err
	}
	if len(out.Fired) != 1 || !out.Fired[0].OK {
		return fmt.Errorf("reconciler: %+v", out.Fired)
	}
	for ; w.held > 0; w.held-- {
		if err := w.Twin.Post("/schedule/hold", map[string]bool{"hold": false}, nil); err != nil {
			return err
		}
	}
	return nil
}

func (w *World) SendRaw(ctx context.Context, body string) error {
	_, err := sqs.NewFromConfig(w.Twin.Config()).SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(w.Twin.Outputs[names.OutputRunsQueueURL]), MessageBody: aws.String(body)})
	return err
}

func (w *World) DeliverNextTwice() error {
	return w.Twin.Post("/queue/redeliver-next", map[string]int{"count": 1}, nil)
}

func (w *World) DeadLetters(ctx context.Context) (int, error) {
	out, err := sqs.NewFromConfig(w.Twin.Config()).GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(w.Twin.Outputs[names.OutputRunsDLQURL]), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
}

// StopExecution stops a run's execution from outside, as an operator in the console would.
func (w *World) StopExecution(ctx context.Context, runID string) error {
	arn := w.Twin.Outputs[names.OutputRunStateMachineARN]
	execARN := "arn:aws:states:us-east-1:123456789012:execution:" + arn[len("arn:aws:states:us-east-1:123456789012:stateMachine:"):] + ":" + runID
	_, err := sfn.NewFromConfig(w.Twin.Config()).StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: aws.String(execARN), Error: aws.String("Operator"), Cause: aws.String("stopped from the console")})
	return err
}

// LoseExecutionEvents makes the next n execution status events go undelivered.
func (w *World) LoseExecutionEvents(n int) error {
	return w.Twin.Post("/executions/drop-events", map[string]any{"count": n}, nil)
}

// Diagnose lists the run's execution history, to say where a stuck run's workflow stands.
func (w *World) Diagnose(ctx context.Context, runID string) string {
	arn := w.Twin.Outputs[names.OutputRunStateMachineARN]
	execARN := strings.Replace(arn, ":stateMachine:", ":execution:", 1) + ":" + runID
	h, err := sfn.NewFromConfig(w.Twin.Config()).GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(execARN), MaxResults: 200})
	if err != nil {
		return "execution history: " + err.Error()
	}
	var b strings.Builder
	for _, e := range h.Events {
		fmt.Fprintf(&b, "  %s %s", e.Timestamp.Format("15:04:05.000"), e.Type)
		if d := e.StateEnteredEventDetails; d != nil {
			fmt.Fprintf(&b, " %s", aws.ToString(d.Name))
		}
		if d := e.TaskFailedEventDetails; d != nil {
			fmt.Fprintf(&b, " %s %s", aws.ToString(d.Error), aws.ToString(d.Cause))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Metrics reads the stack's metrics as CloudWatch would from the functions' logs: every EMF line
// the deployed functions wrote, added up (counters summed, each gauge's last value, distributions'
// samples).
func (w *World) Metrics(ctx context.Context) (metrics.Reading, error) {
	files, err := filepath.Glob(filepath.Join(w.Twin.Dir, "logs", "*.log"))
	if err != nil {
		return metrics.Reading{}, err
	}
	var all []emf.Parsed
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return metrics.Reading{}, err
		}
		for _, p := range emf.Parse(b) {
			if p.Stack == w.Twin.Stack {
				all = append(all, p)
			}
		}
	}
	// Gauges keep their latest value: fold in time order (each file is in order already).
	sort.SliceStable(all, func(i, j int) bool { return all[i].At.Before(all[j].At) })
	samples := make([]metrics.Sample, len(all))
	for i, p := range all {
		samples[i] = p.Sample
	}
	return metrics.Fold(samples), nil
}

// FireSchedule does what EventBridge Scheduler does when transform's schedule comes due at at: it
// reads the schedule the pool function keeps, checks it is one SparkFlow's intake can take (the
// runs queue as its target, the flexible window off, a dead-letter queue, the schedule role), and
// sends its input with the scheduled time filled in to the target, unless it is DISABLED (paused).
// The schedule role's right to send is evaluated with the stack's IAM report (make twin).
func (w *World) FireSchedule(ctx context.Context, transform string, at time.Time) (bool, error) {
	cfg := w.Twin.Config()
	name := names.ScheduleName(w.Twin.Stack, transform)
	s, err := scheduler.NewFromConfig(cfg).GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String(name)})
	if err != nil {
		return false, fmt.Errorf("schedule %s of transform %s: %w", name, transform, err)
	}
	queueURL := w.Twin.Outputs[names.OutputRunsQueueURL]
	queueARN := "arn:aws:sqs:us-east-1:123456789012:" + queueURL[strings.LastIndex(queueURL, "/")+1:]
	switch tg := s.Target; {
	case tg == nil || aws.ToString(tg.Arn) != queueARN:
		return false, fmt.Errorf("schedule %s does not target the runs queue %s: %+v", name, queueARN, tg)
	case s.FlexibleTimeWindow == nil || s.FlexibleTimeWindow.Mode != schedtypes.FlexibleTimeWindowModeOff:
		return false, fmt.Errorf("schedule %s has a flexible time window: its runs would not start on time", name)
	case tg.DeadLetterConfig == nil || aws.ToString(tg.DeadLetterConfig.Arn) == "":
		return false, fmt.Errorf("schedule %s has no dead-letter queue: a firing it cannot send would be lost", name)
	case aws.ToString(tg.RoleArn) == "":
		return false, fmt.Errorf("schedule %s has no role to send with", name)
	}
	if s.State == schedtypes.ScheduleStateDisabled {
		return false, nil
	}
	body := strings.ReplaceAll(aws.ToString(s.Target.Input), ebschedules.ScheduledTimePlaceholder, at.UTC().Format(time.RFC3339))
	_, err = sqs.NewFromConfig(cfg).SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(body)})
	return err == nil, err
}
