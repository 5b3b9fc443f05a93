// Command infra is the CDK app (cdk.json runs it): it reads the deployment's settings from CDK context
// (-c key=value or cdk.json) and synthesizes the SparkFlow stack.
package main

import (
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
		if v, ok := app.Node().TryGetContext(jsii.String(key)).(string); ok && v != "" {
			return v
		}
		return def
	}
	minutes, _ := strconv.ParseFloat(ctx("reconcileMinutes", "5"), 64)
	var subnets []string
	if v := ctx("subnets", ""); v != "" {
		subnets = strings.Split(v, ",")
	}
	stack.New(app, ctx("stackName", "SparkFlow"), stack.Props{
		EMRServiceRole:   ctx("emrServiceRole", ""),
		InstanceProfile:  ctx("instanceProfile", ""),
		SubnetIDs:        subnets,
		LogURI:           ctx("logUri", ""),
		AssetDir:         ctx("assetDir", "dist/lambdas"),
		ReconcileMinutes: minutes,
	})
	app.Synth(nil)
}
