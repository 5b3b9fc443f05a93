package emrclusters_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/emr"
	"github.com/aws/smithy-go"

	"github.com/sparkflow/sparkflow/shared/aws/emrclusters"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// fake answers every call with err and records the options each call was sent with.
type fake struct {
	emrclusters.API
	err     error
	retries map[string]int
}

func (f *fake) opts(op string, fns []func(*emr.Options)) {
	o := emr.Options{RetryMaxAttempts: 3}
	for _, fn := range fns {
		fn(&o)
	}
	f.retries[op] = o.RetryMaxAttempts
}

func (f *fake) AddJobFlowSteps(ctx context.Context, in *emr.AddJobFlowStepsInput, fns ...func(*emr.Options)) (*emr.AddJobFlowStepsOutput, error) {
	f.opts("AddJobFlowSteps", fns)
	return nil, f.err
}

func (f *fake) RunJobFlow(ctx context.Context, in *emr.RunJobFlowInput, fns ...func(*emr.Options)) (*emr.RunJobFlowOutput, error) {
	f.opts("RunJobFlow", fns)
	return nil, f.err
}

func (f *fake) DescribeCluster(ctx context.Context, in *emr.DescribeClusterInput, fns ...func(*emr.Options)) (*emr.DescribeClusterOutput, error) {
	f.opts("DescribeCluster", fns)
	return nil, f.err
}

func TestErrorsAreClassifiedAndUnsafeCallsNotRetried(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want sparkflow.Code
	}{
		{"throttled", &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}, sparkflow.Transient},
		{"server fault", &smithy.GenericAPIError{Code: "InternalServerError", Message: "oops", Fault: smithy.FaultServer}, sparkflow.Transient},
		{"unknown cluster", &smithy.GenericAPIError{Code: "InvalidRequestException", Message: "Cluster id 'j-X' is not valid."}, sparkflow.NotFound},
		{"terminated", &smithy.GenericAPIError{Code: "ValidationException", Message: "A job flow that is shutting down, terminated, or finished may not be modified."}, sparkflow.Conflict},
		{"bad request", &smithy.GenericAPIError{Code: "ValidationException", Message: "Invalid InstanceType"}, sparkflow.Invalid},
		{"network", context.DeadlineExceeded, sparkflow.Transient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fake{err: tc.err, retries: map[string]int{}}
			c := emrclusters.New(f, emrclusters.Config{})
			_, err := c.AddStep(context.Background(), "j-1", sparkflow.StepSpec{Name: "s", Jar: "command-runner.jar"})
			if got := sparkflow.ErrorCode(err); got != tc.want {
				t.Fatalf("AddStep error %v classified %s, want %s", err, got, tc.want)
			}
			if _, err := c.Describe(context.Background(), "j-1"); sparkflow.ErrorCode(err) != tc.want {
				t.Fatalf("Describe error classified %s, want %s", sparkflow.ErrorCode(err), tc.want)
			}
			c.Launch(context.Background(), smallPool())
			if f.retries["AddJobFlowSteps"] != 1 || f.retries["RunJobFlow"] != 1 {
				t.Fatalf("calls without an idempotency token must not be retried by the SDK: %v", f.retries)
			}
			if f.retries["DescribeCluster"] != 3 {
				t.Fatalf("a read keeps the SDK's retries: %v", f.retries)
			}
		})
	}
}
