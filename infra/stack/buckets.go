package stack

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
)

// bucketName is S3's rule for general purpose bucket names (3-63 characters of lower-case letters,
// digits, dots and hyphens, starting and ending with a letter or digit).
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// S3Location is a bucket and a key prefix in it ("" for the whole bucket).
type S3Location struct {
	Bucket, Prefix string
}

// ParseS3Location reads "bucket", "bucket/prefix" or "s3://bucket/prefix".
func ParseS3Location(s string) (S3Location, error) {
	rest := strings.TrimPrefix(strings.TrimSpace(s), "s3://")
	bucket, prefix, _ := strings.Cut(rest, "/")
	if !bucketName.MatchString(bucket) {
		return S3Location{}, fmt.Errorf("%q: %q is not an S3 bucket name (3-63 lower-case letters, digits, dots and hyphens); write bucket, bucket/prefix or s3://bucket/prefix", s, bucket)
	}
	return S3Location{Bucket: bucket, Prefix: strings.Trim(prefix, "/")}, nil
}

func (l S3Location) bucketARN() *string {
	return awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:s3:::"+l.Bucket), nil)
}

func (l S3Location) objectsARN() *string {
	p := l.Prefix
	if p != "" {
		p += "/"
	}
	return awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:s3:::"+l.Bucket+"/"+p+"*"), nil)
}

// grantBuckets lets the role that runs step code read the code locations, read and write the data
// locations (a job reads its input and writes its output there), and write the clusters' logs.
func grantBuckets(role awsiam.Role, code, data []S3Location, logs *S3Location) {
	add := func(sid string, actions []string, locs []S3Location, objects bool) {
		if len(locs) == 0 {
			return
		}
		var res []*string
		for _, l := range locs {
			if objects {
				res = append(res, l.objectsARN())
			} else {
				res = append(res, l.bucketARN())
			}
		}
		role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String(sid), Actions: jsii.Strings(actions...), Resources: &res}))
	}
	all := append(append([]S3Location{}, code...), data...)
	add("ListCodeAndDataBuckets", []string{"s3:ListBucket", "s3:GetBucketLocation"}, all, false)
	add("ReadCode", []string{"s3:GetObject"}, code, true)
	add("ReadWriteData", []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}, data, true)
	if logs != nil {
		add("WriteClusterLogs", []string{"s3:PutObject"}, []S3Location{*logs}, true)
	}
}
