// Command infra is the CDK app (cdk.json runs it): it reads the deployment's settings from CDK context
// (-c key=value or cdk.json) and synthesizes the SparkFlow stack.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/sparkflow/sparkflow/infra/stack"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	ctx := func(key, def string) string {
		switch v := app.Node().TryGetContext(jsii.String(key)).(type) {
		case string:
			if v != "" {
				return v
			}
		case float64: // a number in cdk.json
			return strconv.FormatFloat(v, 'f', -1, 64)
		}
		return def
	}
	fail := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "sparkflow infra: "+format+"\n", a...)
		os.Exit(1)
	}
	minutes, err := strconv.ParseFloat(ctx("reconcileMinutes", "5"), 64)
	if err != nil || minutes < 1 {
		fail("-c reconcileMinutes=%s: give the reconciler's period in minutes, at least 1", ctx("reconcileMinutes", ""))
	}
	var retention *int
	if v := ctx("retentionDays", ""); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			fail("-c retentionDays=%s: give whole days (0 keeps ended runs forever)", v)
		}
		retention = &n
	}
	list := func(key string) []string {
		var out []string
		for _, v := range strings.Split(ctx(key, ""), ",") {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
		return out
	}
	for _, key := range []string{"codeBuckets", "dataBuckets", "logUri"} {
		for _, v := range list(key) {
			if _, err := stack.ParseS3Location(v); err != nil {
				fail("-c %s: %v", key, err)
			}
		}
	}
	oldestWait, err := strconv.ParseFloat(ctx("oldestWaitAlarmMinutes", "60"), 64)
	if err != nil || oldestWait < 1 {
		fail("-c oldestWaitAlarmMinutes=%s: give the minutes a run may wait for a slot before the alarm, at least 1", ctx("oldestWaitAlarmMinutes", ""))
	}
	stack.New(app, ctx("stackName", "SparkFlow"), stack.Props{
		EMRServiceRole:         ctx("emrServiceRole", ""),
		InstanceProfile:        ctx("instanceProfile", ""),
		SubnetIDs:              list("subnets"),
		CodeBuckets:            list("codeBuckets"),
		DataBuckets:            list("dataBuckets"),
		LogURI:                 ctx("logUri", ""),
		AssetDir:               ctx("assetDir", "dist/lambdas"),
		ReconcileMinutes:       minutes,
		RetentionDays:          retention,
		AlarmTopicARN:          ctx("alarmTopicArn", ""),
		OldestWaitAlarmMinutes: oldestWait,
	})
	app.Synth(nil)
}
