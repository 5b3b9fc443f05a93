package emrclusters

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/emr"
	"github.com/aws/smithy-go/middleware"

	"github.com/sparkflow/sparkflow/shared/metrics"
)

// CountCalls is an EMR client option that records every call the client sends (emr_api_calls, each
// attempt of a retried call) and every one refused for throttling (emr_api_throttles), by operation.
// It sits after the SDK's retry step, so it sees each attempt and its deserialized error.
func CountCalls(sink metrics.Sink) func(*emr.Options) {
	return func(o *emr.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("SparkFlowCountEMRCalls",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					op := awsmiddleware.GetOperationName(ctx)
					sink.Record(metrics.EMRCalls, 1, op)
					out, md, err := next.HandleFinalize(ctx, in)
					if err != nil && (retry.ThrottleErrorCode{Codes: retry.DefaultThrottleErrorCodes}).IsErrorThrottle(err) == aws.TrueTernary {
						sink.Record(metrics.EMRThrottles, 1, op)
					}
					return out, md, err
				}), middleware.After)
		})
	}
}
