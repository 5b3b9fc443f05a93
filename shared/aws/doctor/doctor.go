// Package doctor is the read-only preflight of a deployed stack (sparkflow doctor --target aws): before
// the first run it checks what AWS needs for a cluster to start and a step to run — the credentials,
// the stack, the EMR roles and the service-linked role, the instance profile and what its step code may
// reach, the subnets' and security groups' tags that AWS's v2 EMR policy requires, the buckets, the EMR
// release and instance types in the region, the pools' launch state and the stack's alarms — and says
// each problem with its fix. It only reads (Describe, Get, List, Head and IAM's policy simulator).
package doctor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/smithy-go"

	"github.com/sparkflow/sparkflow/shared/aws/names"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tiers"
)

// Status is a finding's verdict.
type Status string

const (
	// OK: checked, nothing to do.
	OK Status = "ok"
	// Warn: works, but not as well as it could, or could not be checked.
	Warn Status = "warn"
	// Fail: a cluster will not start or a run will fail until it is fixed.
	Fail Status = "FAIL"
)

// Finding is one check's result: what was checked, the verdict, what was seen, and the fix.
type Finding struct {
	Check  string `json:"check"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Report is every finding of one doctor pass.
type Report struct {
	Stack    string    `json:"stack"`
	Region   string    `json:"region"`
	Account  string    `json:"account,omitempty"`
	Findings []Finding `json:"findings"`
}

// Count returns how many findings have the status.
func (r Report) Count(s Status) int {
	n := 0
	for _, f := range r.Findings {
		if f.Status == s {
			n++
		}
	}
	return n
}

// Records are the stack's pools and transforms, read through the backend the CLI uses.
type Records interface {
	ListPools(ctx context.Context) ([]sparkflow.PoolView, error)
	ListTransforms(ctx context.Context, pool string) ([]sparkflow.Transform, error)
}

// Doctor checks one stack.
type Doctor struct {
	Clients Clients
	Region  string
	Stack   string
	// Records, when set, lets the doctor check what the pools and transforms use (their releases,
	// tiers, networks and code); without it only the stack's defaults are checked.
	Records Records
	Tiers   *tiers.Catalog
}

// facts are what the checks learn and share.
type facts struct {
	partition, account string
	outputs            map[string]string
	params             map[string]string
	pools              []sparkflow.PoolView
	transforms         []sparkflow.Transform
	// v2 is whether any service role in use carries AWS's v2 policy (whose tag conditions apply).
	v2 bool
}

func (f *facts) arn(service, region, resource string) string {
	return fmt.Sprintf("arn:%s:%s:%s:%s:%s", f.partition, service, region, f.account, resource)
}

// Run checks the stack and returns every finding, problems first within each area.
func (d *Doctor) Run(ctx context.Context) Report {
	rep := Report{Stack: d.Stack, Region: d.Region}
	add := func(f ...Finding) { rep.Findings = append(rep.Findings, f...) }
	fs := &facts{}
	id, f := d.credentials(ctx)
	add(f)
	if f.Status == Fail {
		return rep
	}
	fs.account, fs.partition = id.account, id.partition
	rep.Account = id.account
	stackFindings, ok := d.stack(ctx, fs)
	add(stackFindings...)
	if !ok {
		return rep
	}
	add(d.records(ctx, fs)...)
	add(d.serviceRoles(ctx, fs)...)
	add(d.cleanupRole(ctx, fs))
	add(d.instanceProfiles(ctx, fs)...)
	add(d.network(ctx, fs)...)
	add(d.buckets(ctx, fs)...)
	add(d.releases(ctx, fs)...)
	add(PoolFindings("sparkflow --target aws --stack "+d.Stack, fs.pools)...)
	add(d.alarms(ctx, fs)...)
	return rep
}

// records reads the pools and transforms the later checks look at.
func (d *Doctor) records(ctx context.Context, fs *facts) []Finding {
	if d.Records == nil {
		return nil
	}
	var err error
	if fs.pools, err = d.Records.ListPools(ctx); err != nil {
		return []Finding{{Check: "records", Status: Warn, Detail: "could not read the pools: " + err.Error(), Fix: "check read access to the stack's table; the checks of pools and transforms are left out"}}
	}
	if fs.transforms, err = d.Records.ListTransforms(ctx, ""); err != nil {
		return []Finding{{Check: "records", Status: Warn, Detail: "could not read the transforms: " + err.Error()}}
	}
	return []Finding{{Check: "records", Status: OK, Detail: fmt.Sprintf("%d pools, %d transforms", len(fs.pools), len(fs.transforms))}}
}

// launch is what one pool's clusters are launched with (or, for the stack's default, what a pool
// that sets nothing of its own gets).
type launch struct {
	who                          string
	serviceRole, profile, logURI string
	subnets, securityGroups      []string
	release, tier                string
	// ownTier is the pool's own tier (an imported pool's), checked instead of the catalogue's.
	ownTier *sparkflow.Tier
}

// launches are the stack's defaults and every pool's effective settings.
func (fs *facts) launches() []launch {
	def := launch{who: "the stack's default", serviceRole: fs.outputs[names.OutputEMRServiceRoleName], profile: fs.outputs[names.OutputClusterInstanceProfileName],
		logURI: fs.outputs[names.OutputLogURI], subnets: splitList(fs.params[names.ParameterSubnets]), release: sparkflow.DefaultReleaseLabel}
	out := []launch{def}
	for _, p := range fs.pools {
		l := def
		l.who = "pool " + p.Name
		l.serviceRole = firstSet(p.Network.ServiceRole, def.serviceRole)
		l.profile = firstSet(p.Network.InstanceProfile, def.profile)
		l.logURI = firstSet(p.LogURI, def.logURI)
		if len(p.Network.SubnetIDs) > 0 {
			l.subnets = p.Network.SubnetIDs
		}
		l.securityGroups = p.Network.SecurityGroups
		l.release, l.tier, l.ownTier = firstSet(p.ReleaseLabel, def.release), p.Tier, p.CustomTier
		out = append(out, l)
	}
	return out
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func firstSet(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// poolSetting is one value of a setting and the launches (pools, or the stack default) that use it.
type poolSetting struct {
	value string
	users []string
}

// distinct collects the values of a setting over the launches, each with its users, in first-seen order.
func distinct(ls []launch, of func(launch) []string) []poolSetting {
	by := map[string][]string{}
	var order []string
	for _, l := range ls {
		for _, v := range of(l) {
			if v == "" {
				continue
			}
			if _, ok := by[v]; !ok {
				order = append(order, v)
			}
			if u := by[v]; len(u) == 0 || u[len(u)-1] != l.who {
				by[v] = append(by[v], l.who)
			}
		}
	}
	out := make([]poolSetting, 0, len(order))
	for _, v := range order {
		out = append(out, poolSetting{v, by[v]})
	}
	return out
}

func one(v string) []string { return []string{v} }

func (s poolSetting) usedBy() string {
	u := append([]string{}, s.users...)
	sort.Strings(u)
	if len(u) > 3 {
		u = append(u[:3], fmt.Sprintf("%d more", len(u)-3))
	}
	return "used by " + strings.Join(u, ", ")
}

// errorCode is the AWS error code of err ("" when it is not an API error).
func errorCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

func accessDenied(err error) bool {
	switch errorCode(err) {
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden", "403":
		return true
	}
	return false
}

func notFound(err error) bool {
	switch c := errorCode(err); {
	case c == "NoSuchEntity", c == "NotFound", c == "NoSuchBucket", c == "404", c == "ValidationError":
		return true
	case strings.HasPrefix(c, "InvalidSubnet"), strings.HasPrefix(c, "InvalidGroup"), strings.HasPrefix(c, "InvalidVpc"):
		return true
	}
	return false
}

// unchecked is the finding of a check that could not be made: denied calls say which permission the
// doctor's caller lacks.
func unchecked(check, what string, err error, permission string) Finding {
	if accessDenied(err) {
		return Finding{Check: check, Status: Warn, Detail: fmt.Sprintf("could not check %s: your credentials may not call %s", what, permission),
			Fix: "grant " + permission + " to the identity running sparkflow doctor, or check it by hand"}
	}
	return Finding{Check: check, Status: Warn, Detail: fmt.Sprintf("could not check %s: %v", what, err)}
}

// managedTag is the tag AWS's v2 EMR policy requires on the network a cluster uses.
const managedTag = names.ManagedPoliciesTag

func tagFix(ids ...string) string {
	return fmt.Sprintf("aws ec2 create-tags --resources %s --tags Key=%s,Value=true", strings.Join(ids, " "), managedTag)
}
