package main

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/sparkflow/sparkflow/shared/aws/backend"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tiers"
)

// awsBackend connects to a deployed stack with the user's own AWS configuration (profile, region,
// AWS_ENDPOINT_URL and so on, as the AWS CLI reads them).
func awsBackend(ctx context.Context, stack string) (sparkflow.Backend, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, sparkflow.Wrap(sparkflow.Invalid, err, "AWS configuration")
	}
	if cfg.Region == "" {
		return nil, sparkflow.Errorf(sparkflow.Invalid, "no AWS region: set AWS_REGION or a profile's region")
	}
	out, err := backend.StackOutputs(ctx, cfg, stack)
	if err != nil {
		return nil, err
	}
	return backend.New(cfg, out, tiers.Default()), nil
}
