package doctor

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sparkflow/sparkflow/shared/aws/names"
)

type s3Location struct{ bucket, key string }

// parseS3 reads s3://bucket/key (s3a:// and s3n:// as Hadoop writes them).
func parseS3(uri string) (s3Location, bool) {
	for _, scheme := range []string{"s3://", "s3a://", "s3n://"} {
		if rest, ok := strings.CutPrefix(uri, scheme); ok {
			b, k, _ := strings.Cut(rest, "/")
			return s3Location{b, k}, b != ""
		}
	}
	return s3Location{}, false
}

func withSlash(prefix string) string {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		return prefix + "/"
	}
	return prefix
}

// buckets checks the log location of every launch, the stack's code and data buckets, and the code
// every transform runs.
func (d *Doctor) buckets(ctx context.Context, fs *facts) []Finding {
	var out []Finding
	logs := distinct(fs.launches(), func(l launch) []string { return one(l.logURI) })
	if len(logs) == 0 {
		out = append(out, Finding{Check: "log bucket", Status: Warn, Detail: "no log location: EMR keeps a step's logs only while its cluster lives, and sparkflow run logs cannot say where they are",
			Fix: "deploy with -c logUri=s3://BUCKET/emr-logs/ (the stack's instance profile may then write there)"})
	}
	for _, s := range logs {
		loc, ok := parseS3(s.value)
		if !ok {
			out = append(out, Finding{Check: "log bucket", Status: Fail, Detail: fmt.Sprintf("log location %q is not an s3:// URI (%s)", s.value, s.usedBy()), Fix: "give it as s3://BUCKET/PREFIX/"})
			continue
		}
		out = append(out, d.bucket(ctx, "log bucket", loc.bucket, s.usedBy()))
	}
	for _, key := range []string{names.OutputCodeBuckets, names.OutputDataBuckets} {
		for _, b := range splitList(fs.outputs[key]) {
			loc, ok := parseS3("s3://" + strings.TrimPrefix(b, "s3://"))
			if !ok {
				continue
			}
			what := map[string]string{names.OutputCodeBuckets: "code bucket", names.OutputDataBuckets: "data bucket"}[key]
			out = append(out, d.bucket(ctx, what, loc.bucket, "granted to the stack's instance profile"))
		}
	}
	for _, t := range fs.transforms {
		loc, ok := parseS3(t.MainResource)
		if !ok || loc.key == "" {
			continue
		}
		_, err := d.Clients.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(loc.bucket), Key: aws.String(loc.key)})
		switch {
		case err == nil:
			out = append(out, Finding{Check: "transform " + t.Name, Status: OK, Detail: t.MainResource + " exists"})
		case notFound(err):
			out = append(out, Finding{Check: "transform " + t.Name, Status: Fail, Detail: t.MainResource + " does not exist: every run would fail",
				Fix: fmt.Sprintf("upload it (aws s3 cp FILE %s), or point the transform at it: sparkflow transform edit %s --jar/--script URI", t.MainResource, t.Name)})
		default:
			out = append(out, unchecked("transform "+t.Name, t.MainResource, err, "s3:GetObject"))
		}
	}
	return out
}

// bucket checks that a bucket exists, is visible to the caller, and is in the stack's region.
func (d *Doctor) bucket(ctx context.Context, check, name, usedBy string) Finding {
	check += " " + name
	_, err := d.Clients.S3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(name)})
	switch {
	case notFound(err):
		return Finding{Check: check, Status: Fail, Detail: "bucket " + name + " does not exist (" + usedBy + ")", Fix: fmt.Sprintf("aws s3 mb s3://%s --region %s", name, d.Region)}
	case accessDenied(err):
		return Finding{Check: check, Status: Warn, Detail: "bucket " + name + " exists but your credentials may not see it (another account's?)", Fix: "check its bucket policy lets the stack's roles use it"}
	case err != nil:
		return unchecked(check, "the bucket", err, "s3:ListBucket")
	}
	loc, err := d.Clients.S3.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(name)})
	if err != nil {
		return Finding{Check: check, Status: OK, Detail: "exists (" + usedBy + ")"}
	}
	region := string(loc.LocationConstraint)
	if region == "" {
		region = "us-east-1" // S3 says nothing for its first region
	}
	if region != d.Region {
		return Finding{Check: check, Status: Warn, Detail: fmt.Sprintf("bucket %s is in %s, the stack in %s: every read and write crosses regions (slower, and billed)", name, region, d.Region),
			Fix: "use a bucket in " + d.Region}
	}
	return Finding{Check: check, Status: OK, Detail: "exists in " + region + " (" + usedBy + ")"}
}
