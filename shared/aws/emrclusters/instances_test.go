package emrclusters_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/emr"
	"github.com/aws/aws-sdk-go-v2/service/emr/types"

	"github.com/sparkflow/sparkflow/shared/aws/emrclusters"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// pagedInstances lists a fleet cluster's instances two to a page, as EMR pages them (50 to a page).
type pagedInstances struct {
	emrclusters.API
	instances []types.Instance
	asked     []types.InstanceState
	pages     int
}

func (p *pagedInstances) ListInstances(ctx context.Context, in *emr.ListInstancesInput, _ ...func(*emr.Options)) (*emr.ListInstancesOutput, error) {
	p.pages++
	p.asked = in.InstanceStates
	start := 0
	if in.Marker != nil {
		fmt.Sscan(*in.Marker, &start)
	}
	end := min(start+2, len(p.instances))
	out := &emr.ListInstancesOutput{Instances: p.instances[start:end]}
	if end < len(p.instances) {
		out.Marker = aws.String(fmt.Sprint(end))
	}
	return out, nil
}

// TestInstancesCountsWhatEMRRuns: a cluster's running instances, every page, counted by type and
// market (a fleet's spot instances apart from its on-demand ones).
func TestInstancesCountsWhatEMRRuns(t *testing.T) {
	in := func(typ string, m types.MarketType) types.Instance {
		return types.Instance{InstanceType: aws.String(typ), Market: m}
	}
	api := &pagedInstances{instances: []types.Instance{
		in("m5.xlarge", types.MarketTypeOnDemand),
		in("r5.2xlarge", types.MarketTypeSpot), in("m5.2xlarge", types.MarketTypeOnDemand),
		in("r5.2xlarge", types.MarketTypeSpot), in("r5.2xlarge", types.MarketTypeOnDemand),
	}}
	got, err := emrclusters.New(api, emrclusters.Config{}).Instances(context.Background(), "j-1")
	if err != nil {
		t.Fatal(err)
	}
	want := []sparkflow.InstanceCount{{Type: "m5.xlarge", Count: 1}, {Type: "r5.2xlarge", Count: 2, Spot: true}, {Type: "m5.2xlarge", Count: 1}, {Type: "r5.2xlarge", Count: 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Instances = %+v, want %+v", got, want)
	}
	if api.pages != 3 || !reflect.DeepEqual(api.asked, []types.InstanceState{types.InstanceStateRunning}) {
		t.Fatalf("read %d pages asking for %v; want 3 pages of the running instances", api.pages, api.asked)
	}
}
