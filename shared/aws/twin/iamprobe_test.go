package twin_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sparkflow/sparkflow/shared/aws/twin"
)

// The IAM evaluation can fail: a RunJobFlow the stack really made passes for the function's role and
// for EMR's service role; the same call into an untagged subnet, into a tagged subnet of an untagged
// VPC (where EMR would create its security groups), without the managed-policies tag, or passing a
// role the service role may not pass, is denied, saying why.
func testIAMCatchesLaunchGaps(t *testing.T) {
	calls, err := tw.Calls(0)
	if err != nil {
		t.Fatal(err)
	}
	var launch *twin.Call
	for i := range calls {
		if calls[i].Action == "RunJobFlow" {
			launch = &calls[i]
			break
		}
	}
	if launch == nil {
		t.Fatal("no RunJobFlow was recorded")
	}
	clone := func(mod func(p map[string]any)) twin.Call {
		b, _ := json.Marshal(launch.Params)
		var p map[string]any
		json.Unmarshal(b, &p)
		mod(p)
		c := *launch
		c.Params = p
		return c
	}
	rep, err := tw.Probe([]twin.Call{*launch})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Denied) != 0 {
		t.Fatalf("the stack's own launch is denied: %+v", rep.Denied)
	}
	if err := tw.Post("/emr/default-roles", map[string]any{}, nil); err != nil {
		t.Fatal(err)
	}
	var untagged struct{ Subnet string }
	if err := tw.Post("/network", map[string]any{"tagged": false, "cidr": "10.9.0.0/16", "subnet": "10.9.1.0/24"}, &untagged); err != nil {
		t.Fatal(err)
	}
	var untaggedVPC struct{ Subnet, VPC string }
	if err := tw.Post("/network", map[string]any{"tagged": true, "vpcTagged": false, "cidr": "10.8.0.0/16", "subnet": "10.8.1.0/24"}, &untaggedVPC); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		call twin.Call
		want string
	}{
		"untagged subnet": {clone(func(p map[string]any) {
			p["Instances"].(map[string]any)["Ec2SubnetIds"] = []any{untagged.Subnet}
		}), "subnet " + untagged.Subnet + " must be tagged"},
		"tagged subnet in an untagged VPC": {clone(func(p map[string]any) {
			p["Instances"].(map[string]any)["Ec2SubnetIds"] = []any{untaggedVPC.Subnet}
		}), "EMR creates its default security groups in " + untaggedVPC.VPC},
		"cluster without the managed-policies tag": {clone(func(p map[string]any) {
			var keep []any
			for _, tag := range p["Tags"].([]any) {
				if tag.(map[string]any)["Key"] != "for-use-with-amazon-emr-managed-policies" {
					keep = append(keep, tag)
				}
			}
			p["Tags"] = keep
		}), "the cluster must be tagged"},
		"an instance profile the service role may not pass": {clone(func(p map[string]any) {
			p["ServiceRole"] = "EMR_DefaultRole_V2"
		}), "the service role must be allowed to pass the instance profile's role"},
	} {
		rep, err := tw.Probe([]twin.Call{c.call})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		denied := ""
		for _, d := range rep.Denied {
			if d["function"] == "emr-service-role" {
				denied += d["action"].(string) + " " + d["detail"].(string) + "; "
			}
		}
		if denied == "" || !strings.Contains(denied, c.want) {
			t.Errorf("%s: denied %q, want a denial saying %q", name, denied, c.want)
		}
	}
}
