// Package lambdas wires the AWS home for a Lambda entrypoint: it reads the function's configuration
// from its environment once, builds every adapter from one aws.Config, and returns the handlers.
package lambdas

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/emr"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/sparkflow/sparkflow/shared/aws/dynamostore"
	"github.com/sparkflow/sparkflow/shared/aws/ebschedules"
	"github.com/sparkflow/sparkflow/shared/aws/emf"
	"github.com/sparkflow/sparkflow/shared/aws/emrclusters"
	"github.com/sparkflow/sparkflow/shared/aws/names"
	"github.com/sparkflow/sparkflow/shared/aws/sfnworkflow"
	"github.com/sparkflow/sparkflow/shared/tasks"
	"github.com/sparkflow/sparkflow/shared/tiers"
)

// DefaultReconcileBudget keeps a reconcile pass within EMR's throttling (about 0.5 DescribeCluster
// and ListSteps calls per second per account; a 5-minute schedule with 60 calls stays far below).
const DefaultReconcileBudget = 60

// New builds the handlers from the environment.
func New(ctx context.Context) (*Handlers, error) {
	env := func(k string) string { return strings.TrimSpace(os.Getenv(k)) }
	for _, k := range []string{names.EnvTable, names.EnvStateMachine, names.EnvServiceRole, names.EnvInstanceProfile, names.EnvStack} {
		if env(k) == "" {
			return nil, fmt.Errorf("environment variable %s is not set (the CDK stack sets it)", k)
		}
	}
	budget := DefaultReconcileBudget
	if v := env(names.EnvBudget); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s=%q is not a positive number", names.EnvBudget, v)
		}
		budget = n
	}
	retention, err := RetentionFromEnv(env(names.EnvRetentionDays))
	if err != nil {
		return nil, err
	}
	catalog, err := tiers.Load(env(names.EnvTiers))
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	var subnets []string
	if v := env(names.EnvSubnets); v != "" {
		subnets = strings.Split(v, ",")
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	sink := emf.New(os.Stdout, env(names.EnvStack))
	flows := sfnworkflow.New(sfn.NewFromConfig(cfg), env(names.EnvStateMachine))
	clusters := emrclusters.New(emr.NewFromConfig(cfg, emrclusters.CountCalls(sink)), emrclusters.Config{ServiceRole: env(names.EnvServiceRole), InstanceProfile: env(names.EnvInstanceProfile),
		LogURI: env(names.EnvLogURI), SubnetIDs: subnets, Tags: map[string]string{names.StackTag: env(names.EnvStack)}})
	svc := tasks.New(tasks.Service{
		Store:    dynamostore.New(dynamodb.NewFromConfig(cfg), env(names.EnvTable)).WithRetention(retention),
		Clusters: clusters,
		// Only the emr-events function handles cluster events (and has elasticmapreduce:ListInstances).
		Instances:  clusters,
		Callbacks:  flows,
		Tiers:      catalog,
		Log:        log,
		Metrics:    sink,
		NamePrefix: names.NamePrefix(env(names.EnvStack)),
	})
	if role := env(names.EnvScheduleRole); role != "" {
		// The pool function keeps the transforms' schedules (the stack sets these on it alone).
		svc.Schedules = ebschedules.New(scheduler.NewFromConfig(cfg), ebschedules.Config{
			Stack: env(names.EnvStack), QueueARN: env(names.EnvRunsQueueARN), RoleARN: role, DLQARN: env(names.EnvScheduleDLQ)})
	}
	return &Handlers{Service: svc, Starter: flows, Log: log, ReconcileBudget: budget}, nil
}

// RetentionFromEnv reads the retention of ended runs and rejected requests: whole days, default
// names.DefaultRetentionDays, 0 to keep them forever.
func RetentionFromEnv(v string) (time.Duration, error) {
	days := names.DefaultRetentionDays
	if v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%s=%q is not a number of days (0 keeps ended runs forever)", names.EnvRetentionDays, v)
		}
		days = n
	}
	return time.Duration(days) * 24 * time.Hour, nil
}

// MustNew is New for a main: it exits with the reason when the function is misconfigured.
func MustNew(ctx context.Context) *Handlers {
	h, err := New(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sparkflow:", err)
		os.Exit(1)
	}
	return h
}
