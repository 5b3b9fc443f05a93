package doctor

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// emrDefaultGroups are the security groups EMR creates (or reuses, by name) in a cluster's VPC when it
// is given none of its own.
var emrDefaultGroups = []string{"ElasticMapReduce-master", "ElasticMapReduce-slave", "ElasticMapReduce-ServiceAccess"}

func tagged(tags []ec2types.Tag) bool {
	for _, t := range tags {
		if aws.ToString(t.Key) == managedTag && aws.ToString(t.Value) == "true" {
			return true
		}
	}
	return false
}

// network checks the subnets and security groups the clusters use. With AWS's v2 service policy, EMR
// may launch instances only into subnets and security groups tagged for it, and may create its default
// security groups only in a VPC tagged so.
func (d *Doctor) network(ctx context.Context, fs *facts) []Finding {
	var out []Finding
	ls := fs.launches()
	subnets := distinct(ls, func(l launch) []string { return l.subnets })
	need := func(f Finding) Finding {
		if !fs.v2 && f.Status == Fail {
			f.Status = Warn
			f.Detail += " (the service roles in use do not require the tag)"
		}
		return f
	}
	vpcs := map[string]bool{}
	if len(subnets) == 0 {
		// No subnet given: EMR launches into the default VPC.
		dv, err := d.Clients.EC2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}}})
		if err != nil {
			return append(out, unchecked("subnets", "the default VPC", err, "ec2:DescribeVpcs"))
		}
		if len(dv.Vpcs) == 0 {
			return append(out, Finding{Check: "subnets", Status: Fail, Detail: "no subnets are given and " + d.Region + " has no default VPC: EMR has nowhere to launch",
				Fix: "deploy with subnets: cdk deploy --parameters EmrSubnets=subnet-a,subnet-b (tagged " + managedTag + "=true)"})
		}
		vpc := aws.ToString(dv.Vpcs[0].VpcId)
		vpcs[vpc] = true
		ds, err := d.Clients.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}, {Name: aws.String("default-for-az"), Values: []string{"true"}}}})
		if err != nil {
			return append(out, unchecked("subnets", "the default VPC's subnets", err, "ec2:DescribeSubnets"))
		}
		var untagged []string
		for _, s := range ds.Subnets {
			if !tagged(s.Tags) {
				untagged = append(untagged, aws.ToString(s.SubnetId))
			}
		}
		if len(untagged) > 0 {
			out = append(out, need(Finding{Check: "subnets", Status: Fail, Detail: fmt.Sprintf("no subnets are given, so EMR uses the default VPC %s, whose subnets %s lack the tag %s=true", vpc, strings.Join(untagged, ", "), managedTag),
				Fix: tagFix(untagged...) + " (or deploy with --parameters EmrSubnets=...)"}))
		} else {
			out = append(out, Finding{Check: "subnets", Status: OK, Detail: "no subnets are given; the default VPC " + vpc + "'s subnets are tagged for EMR"})
		}
	} else {
		ids := make([]string, len(subnets))
		for i, s := range subnets {
			ids[i] = s.value
		}
		found := map[string]ec2types.Subnet{}
		for _, id := range ids { // one at a time: a missing id fails the whole call
			ds, err := d.Clients.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{id}})
			if err == nil && len(ds.Subnets) == 1 {
				found[id] = ds.Subnets[0]
			} else if err != nil && !notFound(err) {
				return append(out, unchecked("subnets", "the subnets", err, "ec2:DescribeSubnets"))
			}
		}
		for _, s := range subnets {
			sn, ok := found[s.value]
			switch {
			case !ok:
				out = append(out, Finding{Check: "subnet " + s.value, Status: Fail, Detail: fmt.Sprintf("subnet %s does not exist in %s (%s)", s.value, d.Region, s.usedBy()),
					Fix: "give subnets of this account and region: cdk deploy --parameters EmrSubnets=subnet-a,subnet-b, or the pool's own"})
			case !tagged(sn.Tags):
				vpcs[aws.ToString(sn.VpcId)] = true
				out = append(out, need(Finding{Check: "subnet " + s.value, Status: Fail, Detail: fmt.Sprintf("subnet %s lacks the tag %s=true (%s): EMR's service role may not launch into it", s.value, managedTag, s.usedBy()),
					Fix: tagFix(s.value)}))
			default:
				vpcs[aws.ToString(sn.VpcId)] = true
				out = append(out, Finding{Check: "subnet " + s.value, Status: OK, Detail: "tagged for EMR, in " + aws.ToString(sn.VpcId) + ", " + s.usedBy()})
			}
		}
	}
	for _, vpc := range sortedKeys(vpcs) {
		out = append(out, d.vpcGroups(ctx, vpc, need))
	}
	for _, s := range distinct(ls, func(l launch) []string { return l.securityGroups }) {
		g, err := d.Clients.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{s.value}})
		switch {
		case notFound(err) || (err == nil && len(g.SecurityGroups) == 0):
			out = append(out, Finding{Check: "security group " + s.value, Status: Fail, Detail: "security group " + s.value + " does not exist (" + s.usedBy() + ")", Fix: "give the pool existing security groups of the clusters' VPC"})
		case err != nil:
			out = append(out, unchecked("security group "+s.value, "the security group", err, "ec2:DescribeSecurityGroups"))
		case !tagged(g.SecurityGroups[0].Tags):
			out = append(out, need(Finding{Check: "security group " + s.value, Status: Fail, Detail: fmt.Sprintf("security group %s lacks the tag %s=true (%s)", s.value, managedTag, s.usedBy()), Fix: tagFix(s.value)}))
		default:
			out = append(out, Finding{Check: "security group " + s.value, Status: OK, Detail: "tagged for EMR, " + s.usedBy()})
		}
	}
	return out
}

// vpcGroups checks EMR's default security groups in a VPC: those that exist must be tagged (EMR
// launches into them and edits their rules); if none exists, EMR creates them, which the v2 policy
// allows only in a tagged VPC.
func (d *Doctor) vpcGroups(ctx context.Context, vpc string, need func(Finding) Finding) Finding {
	check := "security groups of " + vpc
	g, err := d.Clients.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{vpc}}, {Name: aws.String("group-name"), Values: emrDefaultGroups}}})
	if err != nil {
		return unchecked(check, "EMR's security groups", err, "ec2:DescribeSecurityGroups")
	}
	var untagged, present []string
	for _, sg := range g.SecurityGroups {
		present = append(present, aws.ToString(sg.GroupName))
		if !tagged(sg.Tags) {
			untagged = append(untagged, aws.ToString(sg.GroupId))
		}
	}
	if len(untagged) > 0 {
		return need(Finding{Check: check, Status: Fail, Detail: fmt.Sprintf("EMR's security groups %s in %s lack the tag %s=true: EMR reuses them and may not use them", strings.Join(untagged, ", "), vpc, managedTag),
			Fix: tagFix(untagged...)})
	}
	if len(present) > 0 {
		return Finding{Check: check, Status: OK, Detail: "EMR's security groups (" + strings.Join(present, ", ") + ") are tagged for EMR"}
	}
	v, err := d.Clients.EC2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{vpc}})
	if err != nil || len(v.Vpcs) == 0 {
		return unchecked(check, "the VPC", err, "ec2:DescribeVpcs")
	}
	if !tagged(v.Vpcs[0].Tags) {
		return need(Finding{Check: check, Status: Fail, Detail: fmt.Sprintf("EMR's security groups do not exist yet in %s, and EMR may create them only in a VPC tagged %s=true", vpc, managedTag),
			Fix: tagFix(vpc)})
	}
	return Finding{Check: check, Status: OK, Detail: "EMR creates its security groups in " + vpc + " (tagged for EMR) at the first launch"}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
