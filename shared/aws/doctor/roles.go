package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/sparkflow/sparkflow/shared/aws/names"
)

// cleanupRole is the service-linked role EMR uses to clean up after clusters. EMR creates it at an
// account's first cluster launch with the caller's own permissions (iam:CreateServiceLinkedRole), and
// a launch whose caller may not create it ends at once with VALIDATION_ERROR.
const cleanupRole = names.CleanupRoleName

// roleInfo is what the checks learn of a role.
type roleInfo struct {
	arn      string
	trusts   []string
	attached []string
}

func (d *Doctor) role(ctx context.Context, name string) (roleInfo, error) {
	out, err := d.Clients.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	if err != nil {
		return roleInfo{}, err
	}
	ri := roleInfo{arn: aws.ToString(out.Role.Arn), trusts: trustedServices(aws.ToString(out.Role.AssumeRolePolicyDocument))}
	pols, err := d.Clients.IAM.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(name)})
	if err == nil {
		for _, p := range pols.AttachedPolicies {
			ri.attached = append(ri.attached, aws.ToString(p.PolicyName))
		}
	}
	return ri, nil
}

// trustedServices reads the services a trust policy lets assume the role (IAM returns the document
// URL-encoded).
func trustedServices(doc string) []string {
	if d, err := url.QueryUnescape(doc); err == nil {
		doc = d
	}
	var p struct {
		Statement []struct {
			Effect    string
			Principal struct{ Service any }
		}
	}
	if json.Unmarshal([]byte(doc), &p) != nil {
		return nil
	}
	var out []string
	for _, st := range p.Statement {
		if st.Effect != "Allow" {
			continue
		}
		switch v := st.Principal.Service.(type) {
		case string:
			out = append(out, v)
		case []any:
			for _, s := range v {
				if s, ok := s.(string); ok {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

func trusts(ri roleInfo, service string) bool {
	for _, s := range ri.trusts {
		if s == service || strings.HasPrefix(s, service+".") { // elasticmapreduce.amazonaws.com(.cn)
			return true
		}
	}
	return false
}

func (ri roleInfo) has(policy string) bool {
	for _, p := range ri.attached {
		if p == policy {
			return true
		}
	}
	return false
}

// serviceRoles checks every EMR service role in use: it exists, EMR may assume it, and which of AWS's
// EMR policies it carries (the v2 one makes the network's tags matter).
func (d *Doctor) serviceRoles(ctx context.Context, fs *facts) []Finding {
	var out []Finding
	v2 := strings.TrimPrefix(names.ServiceRolePolicyName, "service-role/")
	for _, s := range distinct(fs.launches(), func(l launch) []string { return one(l.serviceRole) }) {
		check := "service role " + s.value
		ri, err := d.role(ctx, s.value)
		switch {
		case notFound(err):
			out = append(out, Finding{Check: check, Status: Fail, Detail: "EMR service role " + s.value + " does not exist (" + s.usedBy() + ")",
				Fix: "deploy without -c emrServiceRole (the stack then creates its own), or create EMR's default roles: aws emr create-default-roles"})
			continue
		case err != nil:
			out = append(out, unchecked(check, "the EMR service role", err, "iam:GetRole"))
			fs.v2 = true // assume the strictest
			continue
		case !trusts(ri, "elasticmapreduce.amazonaws.com"):
			out = append(out, Finding{Check: check, Status: Fail, Detail: "EMR may not assume " + s.value + ": its trust policy does not name elasticmapreduce.amazonaws.com",
				Fix: "let the service elasticmapreduce.amazonaws.com assume the role (its trust relationship)"})
			continue
		}
		f := Finding{Check: check, Status: OK, Detail: "trusted by EMR, " + s.usedBy()}
		switch {
		case ri.has(v2):
			fs.v2 = true
			f.Detail = "trusted by EMR, with " + v2 + " (clusters, subnets and security groups need the tag " + managedTag + "=true), " + s.usedBy()
		case ri.has("AmazonElasticMapReduceRole"):
			f.Status, f.Detail = Warn, "trusted by EMR, with AmazonElasticMapReduceRole, which AWS has deprecated, "+s.usedBy()
			f.Fix = "use a role with " + v2 + " (deploy without -c emrServiceRole: the stack creates one)"
		default:
			fs.v2 = true // its own policies may have the same conditions; the tags are checked anyway
			f.Detail = "trusted by EMR, with neither of AWS's EMR service policies (what it may do is simulated below), " + s.usedBy()
		}
		out = append(out, f)
	}
	return out
}

// cleanupRole checks EMR's service-linked role: present, or creatable by the functions that launch.
func (d *Doctor) cleanupRole(ctx context.Context, fs *facts) Finding {
	_, err := d.Clients.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(cleanupRole)})
	switch {
	case err == nil:
		return Finding{Check: "service-linked role", Status: OK, Detail: cleanupRole + " exists"}
	case notFound(err):
		return Finding{Check: "service-linked role", Status: Warn,
			Detail: cleanupRole + " does not exist yet: EMR creates it at this account's first cluster launch, which the stack's functions may do (iam:CreateServiceLinkedRole for EMR only)",
			Fix:    "nothing, with the stack's functions; or create it now: aws iam create-service-linked-role --aws-service-name elasticmapreduce.amazonaws.com"}
	}
	return unchecked("service-linked role", cleanupRole, err, "iam:GetRole")
}

// instanceProfiles checks every instance profile in use: it exists with one role that EC2 may assume,
// the service roles it is launched with may pass that role, its step code is kept from SparkFlow's
// table and queues, and it may write its clusters' logs and read the code and data it needs.
func (d *Doctor) instanceProfiles(ctx context.Context, fs *facts) []Finding {
	var out []Finding
	ls := fs.launches()
	for _, s := range distinct(ls, func(l launch) []string { return one(l.profile) }) {
		check := "instance profile " + s.value
		prof, err := d.Clients.IAM.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(s.value)})
		if notFound(err) {
			out = append(out, Finding{Check: check, Status: Fail, Detail: "instance profile " + s.value + " does not exist (" + s.usedBy() + ")",
				Fix: "deploy without -c instanceProfile (the stack then uses its own), or create it with a role EC2 may assume"})
			continue
		} else if err != nil {
			out = append(out, unchecked(check, "the instance profile", err, "iam:GetInstanceProfile"))
			continue
		}
		roles := prof.InstanceProfile.Roles
		if len(roles) != 1 {
			out = append(out, Finding{Check: check, Status: Fail, Detail: fmt.Sprintf("instance profile %s has %d roles; EC2 needs exactly one", s.value, len(roles)),
				Fix: "aws iam add-role-to-instance-profile --instance-profile-name " + s.value + " --role-name ROLE"})
			continue
		}
		role := roles[0]
		if !trusts(roleInfo{trusts: trustedServices(aws.ToString(role.AssumeRolePolicyDocument))}, "ec2.amazonaws.com") {
			out = append(out, Finding{Check: check, Status: Fail, Detail: "EC2 may not assume " + aws.ToString(role.RoleName) + ", the role of " + s.value,
				Fix: "let the service ec2.amazonaws.com assume the role (its trust relationship)"})
			continue
		}
		out = append(out, Finding{Check: check, Status: OK, Detail: "role " + aws.ToString(role.RoleName) + ", trusted by EC2, " + s.usedBy()})
		out = append(out, d.passable(ctx, fs, ls, s.value, role)...)
		out = append(out, d.stepAccess(ctx, fs, ls, s.value, role)...)
	}
	return out
}

// passable checks that each service role launched with the profile may pass the profile's role to
// EC2 (AWS's v2 policy may pass only EMR_EC2_DefaultRole).
func (d *Doctor) passable(ctx context.Context, fs *facts, ls []launch, profile string, role iamtypes.Role) []Finding {
	var out []Finding
	seen := map[string]bool{}
	for _, l := range ls {
		if l.profile != profile || seen[l.serviceRole] || l.serviceRole == "" {
			continue
		}
		seen[l.serviceRole] = true
		sr, err := d.Clients.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(l.serviceRole)})
		if err != nil {
			continue // reported by serviceRoles
		}
		check := "service role " + l.serviceRole
		dec, err := d.simulate(ctx, aws.ToString(sr.Role.Arn), []string{"iam:PassRole"}, aws.ToString(role.Arn), map[string]string{"iam:PassedToService": "ec2.amazonaws.com"})
		switch {
		case err != nil:
			out = append(out, unchecked(check, "what the service role may pass", err, "iam:SimulatePrincipalPolicy"))
		case dec["iam:PassRole"] != "allowed":
			out = append(out, Finding{Check: check, Status: Fail, Detail: fmt.Sprintf("%s may not pass %s (the role of %s) to EC2 (%s): EMR cannot start the clusters' instances", l.serviceRole, aws.ToString(role.RoleName), profile, dec["iam:PassRole"]),
				Fix: fmt.Sprintf("allow iam:PassRole on %s with the condition iam:PassedToService = ec2.amazonaws.com in %s, or deploy without -c emrServiceRole (the stack's own role may pass the stack's step role)", aws.ToString(role.Arn), l.serviceRole)})
		default:
			out = append(out, Finding{Check: check, Status: OK, Detail: "may pass " + aws.ToString(role.RoleName) + " to EC2"})
		}
	}
	return out
}

// stepAccess checks what the code that steps run may reach with the profile's role.
func (d *Doctor) stepAccess(ctx context.Context, fs *facts, ls []launch, profile string, role iamtypes.Role) []Finding {
	arn, name := aws.ToString(role.Arn), aws.ToString(role.RoleName)
	check := "step access " + name
	var out []Finding
	// SparkFlow's own records and queues: step code must not reach them.
	table := fs.arn("dynamodb", d.Region, "table/"+fs.outputs[names.OutputTableName])
	queue := fs.arn("sqs", d.Region, queueName(fs.outputs[names.OutputRunsQueueURL]))
	reach := []string{}
	for _, probe := range [][2]string{{"dynamodb:PutItem", table}, {"sqs:SendMessage", queue}} {
		dec, err := d.simulate(ctx, arn, []string{probe[0]}, probe[1], nil)
		if err != nil {
			return append(out, unchecked(check, "what step code may reach", err, "iam:SimulatePrincipalPolicy"))
		}
		if dec[probe[0]] == "allowed" {
			reach = append(reach, probe[0]+" on "+probe[1])
		}
	}
	if len(reach) > 0 {
		out = append(out, Finding{Check: check, Status: Fail, Detail: "step code on the clusters could change SparkFlow's own records and queues (" + strings.Join(reach, ", ") + ")",
			Fix: "deny dynamodb:* and sqs:* on the stack's table and queues in " + name + ", or deploy without -c instanceProfile (the stack's own profile is denied them)"})
	} else {
		out = append(out, Finding{Check: check, Status: OK, Detail: "step code is denied SparkFlow's table and queues"})
	}
	// The logs of the clusters launched with this profile.
	seen := map[string]bool{}
	for _, l := range ls {
		if l.profile != profile || l.logURI == "" || seen[l.logURI] {
			continue
		}
		seen[l.logURI] = true
		loc, ok := parseS3(l.logURI)
		if !ok {
			continue
		}
		obj := fmt.Sprintf("arn:%s:s3:::%s/%sj-EXAMPLE/steps/s-EXAMPLE/stdout.gz", fs.partition, loc.bucket, withSlash(loc.key))
		dec, err := d.simulate(ctx, arn, []string{"s3:PutObject"}, obj, nil)
		if err != nil {
			out = append(out, unchecked(check, "the log location", err, "iam:SimulatePrincipalPolicy"))
		} else if dec["s3:PutObject"] != "allowed" {
			out = append(out, Finding{Check: check, Status: Fail, Detail: fmt.Sprintf("clusters launched with %s cannot write their logs to %s (%s)", profile, l.logURI, dec["s3:PutObject"]),
				Fix: fmt.Sprintf("allow s3:PutObject on arn:%s:s3:::%s/%s* in %s (the stack's own profile gets it from -c logUri)", fs.partition, loc.bucket, withSlash(loc.key), name)})
		}
	}
	// The code of every transform whose pool launches with this profile.
	pools := map[string]bool{}
	for _, l := range ls {
		if l.profile == profile {
			pools[strings.TrimPrefix(l.who, "pool ")] = true
		}
	}
	for _, t := range fs.transforms {
		loc, ok := parseS3(t.MainResource)
		if !pools[t.Pool] || !ok {
			continue
		}
		obj := fmt.Sprintf("arn:%s:s3:::%s/%s", fs.partition, loc.bucket, loc.key)
		dec, err := d.simulate(ctx, arn, []string{"s3:GetObject"}, obj, nil)
		if err != nil {
			out = append(out, unchecked("transform "+t.Name, "what its step may read", err, "iam:SimulatePrincipalPolicy"))
		} else if dec["s3:GetObject"] != "allowed" {
			out = append(out, Finding{Check: "transform " + t.Name, Status: Fail, Detail: fmt.Sprintf("its step cannot read %s with %s (%s): every run would fail", t.MainResource, name, dec["s3:GetObject"]),
				Fix: fmt.Sprintf("deploy with -c codeBuckets=%s (the stack's profile may then read it), or allow s3:GetObject on it in %s", loc.bucket, name)})
		}
	}
	return out
}

// simulate asks IAM's policy simulator what principal may do on resource; it returns each action's
// decision ("allowed", "implicitDeny", "explicitDeny").
func (d *Doctor) simulate(ctx context.Context, principal string, actions []string, resource string, keys map[string]string) (map[string]string, error) {
	in := &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(principal), ActionNames: actions, ResourceArns: []string{resource}}
	for k, v := range keys {
		in.ContextEntries = append(in.ContextEntries, iamtypes.ContextEntry{ContextKeyName: aws.String(k), ContextKeyValues: []string{v}, ContextKeyType: iamtypes.ContextKeyTypeEnumString})
	}
	out, err := d.Clients.IAM.SimulatePrincipalPolicy(ctx, in)
	if err != nil {
		return nil, err
	}
	dec := map[string]string{}
	for _, r := range out.EvaluationResults {
		dec[aws.ToString(r.EvalActionName)] = string(r.EvalDecision)
	}
	return dec, nil
}

func queueName(url string) string {
	url = strings.TrimRight(url, "/")
	return url[strings.LastIndex(url, "/")+1:]
}
