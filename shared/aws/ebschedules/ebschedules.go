// Package ebschedules keeps each scheduled transform's EventBridge Scheduler schedule (the AWS home's
// sparkflow.Schedules): one schedule per transform in the account's default group, named
// names.ScheduleName, that sends {"transform": T, "scheduledTime": <the firing's time>} to the runs
// queue with the flexible time window off, a dead-letter queue for firings it cannot deliver, and its
// state DISABLED while the transform's schedule is paused. The intake derives the run's id from the
// transform and the scheduled time, so a firing delivered twice is one run.
package ebschedules

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/smithy-go"

	"github.com/sparkflow/sparkflow/shared/aws/names"
	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// API is the part of the EventBridge Scheduler client the adapter uses.
type API interface {
	CreateSchedule(context.Context, *scheduler.CreateScheduleInput, ...func(*scheduler.Options)) (*scheduler.CreateScheduleOutput, error)
	UpdateSchedule(context.Context, *scheduler.UpdateScheduleInput, ...func(*scheduler.Options)) (*scheduler.UpdateScheduleOutput, error)
	DeleteSchedule(context.Context, *scheduler.DeleteScheduleInput, ...func(*scheduler.Options)) (*scheduler.DeleteScheduleOutput, error)
}

// Config is where the schedules send and with what.
type Config struct {
	Stack    string // the stack's name, the start of every schedule's name
	QueueARN string // the runs queue, the schedules' target
	RoleARN  string // the role EventBridge Scheduler sends with (sqs:SendMessage on QueueARN and DLQARN)
	DLQARN   string // the dead-letter queue of firings the scheduler could not deliver
	// Now is the clock a rate schedule's start is aligned with (default time.Now).
	Now func() time.Time
}

// Schedules is the adapter.
type Schedules struct {
	api API
	cfg Config
}

var _ sparkflow.Schedules = (*Schedules)(nil)

// New returns the adapter.
func New(api API, cfg Config) *Schedules {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Schedules{api: api, cfg: cfg}
}

// ScheduledTimePlaceholder is the context attribute EventBridge Scheduler replaces, in a templated
// target's input, with the firing's scheduled time (RFC 3339, UTC).
const ScheduledTimePlaceholder = "<aws.scheduler.scheduled-time>"

// Input is the message a schedule of transform sends to the runs queue. The placeholder is written
// as is: EventBridge Scheduler replaces only its literal text, and encoding/json would escape its
// angle brackets (\u003c…\u003e) by default.
func Input(transform string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]string{"transform": transform, "scheduledTime": ScheduledTimePlaceholder})
	return strings.TrimSpace(b.String())
}

// PutSchedule creates or changes transform t's schedule to match it, or deletes it when t has none.
func (s *Schedules) PutSchedule(ctx context.Context, t sparkflow.Transform) error {
	if t.Schedule == "" {
		return s.DeleteSchedule(ctx, t.Name)
	}
	sch, err := core.ParseSchedule(t.Schedule, t.Timezone)
	if err != nil {
		return err
	}
	name := names.ScheduleName(s.cfg.Stack, t.Name)
	tz := t.Timezone
	if tz == "" {
		tz = "UTC"
	}
	state := types.ScheduleStateEnabled
	if t.Paused {
		state = types.ScheduleStateDisabled
	}
	target := &types.Target{
		Arn: aws.String(s.cfg.QueueARN), RoleArn: aws.String(s.cfg.RoleARN), Input: aws.String(Input(t.Name)),
		DeadLetterConfig: &types.DeadLetterConfig{Arn: aws.String(s.cfg.DLQARN)},
		// A firing that cannot be sent is retried for up to a day, then goes to the dead-letter queue.
		RetryPolicy: &types.RetryPolicy{MaximumEventAgeInSeconds: aws.Int32(86400), MaximumRetryAttempts: aws.Int32(185)},
	}
	window := &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff}
	desc := aws.String("SparkFlow transform " + t.Name + " (stack " + s.cfg.Stack + ")")
	// A rate schedule counts from its start: starting it at the next firing the local engine would
	// make (rates are aligned to the Unix epoch) fires it at the same instants on both homes.
	var start *time.Time
	if sch.Rate() > 0 {
		at := sch.Next(s.cfg.Now())
		start = &at
	}
	in := &scheduler.UpdateScheduleInput{
		Name: aws.String(name), ScheduleExpression: aws.String(t.Schedule), ScheduleExpressionTimezone: aws.String(tz),
		FlexibleTimeWindow: window, Target: target, State: state, Description: desc, StartDate: start,
		ActionAfterCompletion: types.ActionAfterCompletionNone,
	}
	_, err = s.api.UpdateSchedule(ctx, in)
	if !isCode(err, "ResourceNotFoundException") {
		return classify("update the schedule of transform "+t.Name, err)
	}
	_, err = s.api.CreateSchedule(ctx, createInput(in))
	if isCode(err, "ConflictException") {
		// Created by a concurrent change of the same transform: this one's settings go on it.
		return s.PutSchedule(ctx, t)
	}
	return classify("create the schedule of transform "+t.Name, err)
}

// createInput is the CreateSchedule of the same settings as an UpdateSchedule.
func createInput(u *scheduler.UpdateScheduleInput) *scheduler.CreateScheduleInput {
	return &scheduler.CreateScheduleInput{
		Name: u.Name, ScheduleExpression: u.ScheduleExpression, ScheduleExpressionTimezone: u.ScheduleExpressionTimezone,
		FlexibleTimeWindow: u.FlexibleTimeWindow, Target: u.Target, State: u.State, Description: u.Description,
		StartDate: u.StartDate, EndDate: u.EndDate, GroupName: u.GroupName, KmsKeyArn: u.KmsKeyArn,
		ActionAfterCompletion: u.ActionAfterCompletion,
	}
}

// DeleteSchedule deletes transform's schedule; one that does not exist is no error.
func (s *Schedules) DeleteSchedule(ctx context.Context, transform string) error {
	_, err := s.api.DeleteSchedule(ctx, &scheduler.DeleteScheduleInput{Name: aws.String(names.ScheduleName(s.cfg.Stack, transform))})
	if isCode(err, "ResourceNotFoundException") {
		return nil
	}
	return classify("delete the schedule of transform "+transform, err)
}

func isCode(err error, code string) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == code
}

func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ValidationException":
			return sparkflow.Wrap(sparkflow.Invalid, err, "%s", op)
		case "AccessDeniedException":
			return sparkflow.Wrap(sparkflow.Invalid, err, "%s (the pool function's role needs scheduler:*Schedule on this stack's schedules and iam:PassRole on the schedule role: redeploy the stack)", op)
		}
	}
	return sparkflow.Wrap(sparkflow.Transient, err, "%s", op)
}
