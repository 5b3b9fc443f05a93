package doctor

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/emr"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// The calls the doctor makes, one narrow interface per service (the SDK clients satisfy them; the
// tests give fakes). Every one of them only reads.
type (
	STS interface {
		GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
	}
	CloudFormation interface {
		DescribeStacks(context.Context, *cloudformation.DescribeStacksInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
		DescribeStackResources(context.Context, *cloudformation.DescribeStackResourcesInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStackResourcesOutput, error)
	}
	IAM interface {
		GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
		GetInstanceProfile(context.Context, *iam.GetInstanceProfileInput, ...func(*iam.Options)) (*iam.GetInstanceProfileOutput, error)
		ListAttachedRolePolicies(context.Context, *iam.ListAttachedRolePoliciesInput, ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error)
		SimulatePrincipalPolicy(context.Context, *iam.SimulatePrincipalPolicyInput, ...func(*iam.Options)) (*iam.SimulatePrincipalPolicyOutput, error)
	}
	EC2 interface {
		DescribeSubnets(context.Context, *ec2.DescribeSubnetsInput, ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
		DescribeVpcs(context.Context, *ec2.DescribeVpcsInput, ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error)
		DescribeSecurityGroups(context.Context, *ec2.DescribeSecurityGroupsInput, ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
	}
	S3 interface {
		HeadBucket(context.Context, *s3.HeadBucketInput, ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
		GetBucketLocation(context.Context, *s3.GetBucketLocationInput, ...func(*s3.Options)) (*s3.GetBucketLocationOutput, error)
		HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	}
	EMR interface {
		ListReleaseLabels(context.Context, *emr.ListReleaseLabelsInput, ...func(*emr.Options)) (*emr.ListReleaseLabelsOutput, error)
		ListSupportedInstanceTypes(context.Context, *emr.ListSupportedInstanceTypesInput, ...func(*emr.Options)) (*emr.ListSupportedInstanceTypesOutput, error)
	}
	CloudWatch interface {
		DescribeAlarms(context.Context, *cloudwatch.DescribeAlarmsInput, ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error)
	}
)

// Clients are the service clients of one AWS configuration.
type Clients struct {
	STS            STS
	CloudFormation CloudFormation
	IAM            IAM
	EC2            EC2
	S3             S3
	EMR            EMR
	CloudWatch     CloudWatch
}

// NewClients builds the clients from the user's AWS configuration.
func NewClients(cfg aws.Config) Clients {
	return Clients{
		STS:            sts.NewFromConfig(cfg),
		CloudFormation: cloudformation.NewFromConfig(cfg),
		IAM:            iam.NewFromConfig(cfg),
		EC2:            ec2.NewFromConfig(cfg),
		// Path-style addressing: bucket names with dots, and endpoints given by AWS_ENDPOINT_URL.
		S3:         s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = cfg.BaseEndpoint != nil }),
		EMR:        emr.NewFromConfig(cfg),
		CloudWatch: cloudwatch.NewFromConfig(cfg),
	}
}
