package doctor

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/emr"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// releases checks that the EMR release of every launch is offered in the region, and that each pool's
// tier has instance types that release supports there.
func (d *Doctor) releases(ctx context.Context, fs *facts) []Finding {
	offered, newest, err := d.releaseLabels(ctx)
	if err != nil {
		return []Finding{unchecked("emr release", "the region's EMR releases", err, "elasticmapreduce:ListReleaseLabels")}
	}
	var out []Finding
	ls := fs.launches()
	for _, s := range distinct(ls, func(l launch) []string { return one(l.release) }) {
		check := "emr release " + s.value
		if !offered[s.value] {
			st := Fail
			if len(s.users) == 1 && s.users[0] == "the stack's default" {
				st = Warn // only pools created without a release would use it
			}
			out = append(out, Finding{Check: check, Status: st, Detail: fmt.Sprintf("EMR does not offer %s in %s (%s)", s.value, d.Region, s.usedBy()),
				Fix: "use one it offers (the newest: " + strings.Join(newest, ", ") + "): sparkflow pool create … --release LABEL"})
			continue
		}
		out = append(out, Finding{Check: check, Status: OK, Detail: "offered in " + d.Region + ", " + s.usedBy()})
	}
	if d.Tiers == nil {
		return out
	}
	supported := map[string]map[string]bool{}
	for _, l := range ls {
		if l.tier == "" || !offered[l.release] {
			continue
		}
		tier, err := d.Tiers.Get(l.tier)
		if l.ownTier != nil {
			tier, err = *l.ownTier, nil
		}
		if err != nil {
			continue
		}
		types, ok := supported[l.release]
		if !ok {
			if types, err = d.instanceTypes(ctx, l.release); err != nil {
				out = append(out, unchecked(l.who, "the instance types of "+l.release, err, "elasticmapreduce:ListSupportedInstanceTypes"))
				continue
			}
			supported[l.release] = types
		}
		out = append(out, fleetFindings(l, tier, types)...)
	}
	return out
}

func fleetFindings(l launch, tier sparkflow.Tier, types map[string]bool) []Finding {
	var out []Finding
	for _, f := range []struct {
		role  string
		fleet sparkflow.InstanceFleet
	}{{"primary", tier.Primary}, {"core", tier.Core}, {"task", tier.Task}} {
		if len(f.fleet.InstanceTypes) == 0 {
			continue
		}
		var missing []string
		for _, t := range f.fleet.InstanceTypes {
			if !types[t] {
				missing = append(missing, t)
			}
		}
		switch {
		case len(missing) == len(f.fleet.InstanceTypes):
			out = append(out, Finding{Check: l.who, Status: Fail, Detail: fmt.Sprintf("tier %s's %s fleet has no instance type %s supports here (%s)", tier.Name, f.role, l.release, strings.Join(missing, ", ")),
				Fix: "use another tier or release, or a tier file with types offered in the region (sparkflow tier list)"})
		case len(missing) > 0:
			out = append(out, Finding{Check: l.who, Status: Warn, Detail: fmt.Sprintf("tier %s's %s fleet lists types %s does not support here: %s (EMR uses the others)", tier.Name, f.role, l.release, strings.Join(missing, ", "))})
		}
	}
	if len(out) == 0 {
		out = append(out, Finding{Check: l.who, Status: OK, Detail: fmt.Sprintf("tier %s's instance types are supported by %s here", tier.Name, l.release)})
	}
	return out
}

// releaseLabels lists every EMR release offered in the region, and the three newest.
func (d *Doctor) releaseLabels(ctx context.Context) (map[string]bool, []string, error) {
	all := map[string]bool{}
	var order []string
	in := &emr.ListReleaseLabelsInput{}
	for page := 0; page < 50; page++ {
		out, err := d.Clients.EMR.ListReleaseLabels(ctx, in)
		if err != nil {
			return nil, nil, err
		}
		for _, l := range out.ReleaseLabels {
			if !all[l] {
				all[l] = true
				order = append(order, l)
			}
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	if len(order) > 3 {
		order = order[:3] // EMR lists the newest first
	}
	return all, order, nil
}

func (d *Doctor) instanceTypes(ctx context.Context, release string) (map[string]bool, error) {
	types := map[string]bool{}
	in := &emr.ListSupportedInstanceTypesInput{ReleaseLabel: aws.String(release)}
	for page := 0; page < 100; page++ {
		out, err := d.Clients.EMR.ListSupportedInstanceTypes(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, t := range out.SupportedInstanceTypes {
			types[aws.ToString(t.Type)] = true
		}
		if aws.ToString(out.Marker) == "" {
			break
		}
		in.Marker = out.Marker
	}
	return types, nil
}
