package ebschedules_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/smithy-go"

	"github.com/sparkflow/sparkflow/shared/aws/ebschedules"
	"github.com/sparkflow/sparkflow/shared/aws/names"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// fake keeps schedules by name as EventBridge Scheduler does: Update of an unknown one and Delete of
// an unknown one are ResourceNotFoundException, Create of a known one ConflictException.
type fake struct {
	byName map[string]*scheduler.CreateScheduleInput
	calls  []string
}

func notFound() error {
	return &smithy.GenericAPIError{Code: "ResourceNotFoundException", Message: "no such schedule"}
}

func (f *fake) CreateSchedule(_ context.Context, in *scheduler.CreateScheduleInput, _ ...func(*scheduler.Options)) (*scheduler.CreateScheduleOutput, error) {
	f.calls = append(f.calls, "create")
	if _, ok := f.byName[*in.Name]; ok {
		return nil, &smithy.GenericAPIError{Code: "ConflictException", Message: "exists"}
	}
	f.byName[*in.Name] = in
	return &scheduler.CreateScheduleOutput{}, nil
}

func (f *fake) UpdateSchedule(_ context.Context, in *scheduler.UpdateScheduleInput, _ ...func(*scheduler.Options)) (*scheduler.UpdateScheduleOutput, error) {
	f.calls = append(f.calls, "update")
	if _, ok := f.byName[*in.Name]; !ok {
		return nil, notFound()
	}
	f.byName[*in.Name] = &scheduler.CreateScheduleInput{Name: in.Name, ScheduleExpression: in.ScheduleExpression, ScheduleExpressionTimezone: in.ScheduleExpressionTimezone,
		FlexibleTimeWindow: in.FlexibleTimeWindow, Target: in.Target, State: in.State, StartDate: in.StartDate}
	return &scheduler.UpdateScheduleOutput{}, nil
}

func (f *fake) DeleteSchedule(_ context.Context, in *scheduler.DeleteScheduleInput, _ ...func(*scheduler.Options)) (*scheduler.DeleteScheduleOutput, error) {
	f.calls = append(f.calls, "delete")
	if _, ok := f.byName[*in.Name]; !ok {
		return nil, notFound()
	}
	delete(f.byName, *in.Name)
	return &scheduler.DeleteScheduleOutput{}, nil
}

func TestASchedulePerTransformFollowsIt(t *testing.T) {
	ctx := context.Background()
	f := &fake{byName: map[string]*scheduler.CreateScheduleInput{}}
	now := time.Date(2026, 12, 3, 10, 7, 30, 0, time.UTC)
	s := ebschedules.New(f, ebschedules.Config{Stack: "SparkFlow", QueueARN: "arn:q", RoleARN: "arn:role", DLQARN: "arn:dlq", Now: func() time.Time { return now }})
	tr := sparkflow.Transform{Name: "daily-sales", Schedule: "cron(0 2 * * ? *)", Timezone: "Europe/Paris"}
	if err := s.PutSchedule(ctx, tr); err != nil {
		t.Fatal(err)
	}
	got := f.byName["SparkFlow-daily-sales"]
	if got == nil {
		t.Fatalf("no schedule named SparkFlow-daily-sales: %v", f.byName)
	}
	if !strings.Contains(aws.ToString(got.Target.Input), `"<aws.scheduler.scheduled-time>"`) {
		t.Errorf("the input does not hold the scheduler's placeholder as is: %s", aws.ToString(got.Target.Input))
	}
	var input map[string]string
	if err := json.Unmarshal([]byte(aws.ToString(got.Target.Input)), &input); err != nil {
		t.Fatal(err)
	}
	switch {
	case aws.ToString(got.ScheduleExpression) != tr.Schedule || aws.ToString(got.ScheduleExpressionTimezone) != "Europe/Paris":
		t.Errorf("expression %q in %q", aws.ToString(got.ScheduleExpression), aws.ToString(got.ScheduleExpressionTimezone))
	case got.FlexibleTimeWindow.Mode != types.FlexibleTimeWindowModeOff:
		t.Errorf("flexible window %v, want OFF", got.FlexibleTimeWindow.Mode)
	case aws.ToString(got.Target.Arn) != "arn:q" || aws.ToString(got.Target.RoleArn) != "arn:role" || aws.ToString(got.Target.DeadLetterConfig.Arn) != "arn:dlq":
		t.Errorf("target %+v", got.Target)
	case input["transform"] != "daily-sales" || input["scheduledTime"] != ebschedules.ScheduledTimePlaceholder:
		t.Errorf("input %v", input)
	case got.State != types.ScheduleStateEnabled || got.StartDate != nil:
		t.Errorf("state %v, start %v (a cron schedule needs no start)", got.State, got.StartDate)
	}
	// Paused: the same schedule, DISABLED (changed in place, not created again).
	tr.Paused = true
	if err := s.PutSchedule(ctx, tr); err != nil {
		t.Fatal(err)
	}
	if st := f.byName["SparkFlow-daily-sales"].State; st != types.ScheduleStateDisabled || len(f.byName) != 1 {
		t.Errorf("paused: state %v, %d schedules", st, len(f.byName))
	}
	// A rate starts at its next epoch-aligned firing, as the local engine fires it.
	tr.Paused, tr.Schedule, tr.Timezone = false, "rate(15 minutes)", ""
	if err := s.PutSchedule(ctx, tr); err != nil {
		t.Fatal(err)
	}
	if start := f.byName["SparkFlow-daily-sales"].StartDate; start == nil || !start.Equal(time.Date(2026, 12, 3, 10, 15, 0, 0, time.UTC)) {
		t.Errorf("rate start %v, want 10:15 UTC", start)
	}
	// No schedule any more: deleted; deleting again is no error.
	tr.Schedule = ""
	if err := s.PutSchedule(ctx, tr); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSchedule(ctx, tr.Name); err != nil || len(f.byName) != 0 {
		t.Fatalf("delete: %v, %d left", err, len(f.byName))
	}
	if want := "update create update update delete delete"; strings.Join(f.calls, " ") != want {
		t.Errorf("calls %v, want %s", f.calls, want)
	}
}

func TestScheduleNamesFitEventBridgeScheduler(t *testing.T) {
	long := strings.Repeat("t", 64)
	a, b := names.ScheduleName("SparkFlow", long), names.ScheduleName("SparkFlow", long[:63]+"u")
	if len(a) > 64 || a == b || !strings.HasPrefix(a, "SparkFlow-") {
		t.Fatalf("%q (%d) and %q", a, len(a), b)
	}
	if n := names.ScheduleName("SparkFlow", "daily"); n != "SparkFlow-daily" {
		t.Fatalf("%q", n)
	}
}
