// Command pool is the SparkFlow pool Lambda (provided.al2023, arm64): it only wires.
package main

import (
	"context"
	_ "time/tzdata" // schedules name IANA zones: the Lambda image need not have them

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/sparkflow/sparkflow/shared/aws/lambdas"
)

func main() {
	lambda.Start(lambdas.MustNew(context.Background()).Pool)
}
