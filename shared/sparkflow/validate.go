package sparkflow

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/google/uuid"
)

// Limits from EMR and Step Functions (see shared/aws-facts.md); a request over them is refused before
// it reaches AWS.
const (
	// MaxStepChars is EMR's limit on the total length of a HadoopJarStep's strings.
	MaxStepChars = 10240
	// MaxStepConcurrency is EMR's StepConcurrencyLevel maximum (EMR 5.28+).
	MaxStepConcurrency = 256
	// MinIdleTimeoutSeconds and MaxIdleTimeoutSeconds bound EMR's AutoTerminationPolicy.IdleTimeout.
	MinIdleTimeoutSeconds = 60
	MaxIdleTimeoutSeconds = 604800
	// MaxQueueLimit bounds a pool's MaxQueue.
	MaxQueueLimit = 1000000
	// MaxClustersPerPool is SparkFlow's own cap: a pool is a handful of shared clusters, not a fleet.
	MaxClustersPerPool = 100
	// Limits on lists in requests, named in the errors: far above any real use, they keep an absurd
	// request from becoming an absurd record (EMR itself allows 50 tags).
	MaxApplications   = 32
	MaxSubnets        = 32
	MaxSecurityGroups = 16
	MaxParams         = 100
	MaxListItems      = 512
	MaxDescription    = 2000
	// MaxAttempts caps a transform's retry policy.
	MaxAttempts = 10
	// MaxTimeoutSeconds caps every wait (a week); Step Functions would allow a year.
	MaxTimeoutSeconds = 7 * 24 * 3600
	// MaxTags is EMR's limit on tags per cluster; SparkFlow adds one of its own.
	MaxTags = 49
)

// Defaults for fields a request leaves out.
const (
	DefaultReleaseLabel        = "emr-7.5.0"
	DefaultMaxAttempts         = 1
	DefaultTimeoutSeconds      = 6 * 3600
	DefaultQueueTimeoutSeconds = 6 * 3600
)

var (
	nameRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	releaseRE = regexp.MustCompile(`^emr-\d+\.\d+\.\d+$`)
	paramRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
)

// ValidateName checks a pool, tier or transform name.
func ValidateName(field, name string) error {
	if name == "" {
		return FieldError(field, "is required")
	}
	if !nameRE.MatchString(name) {
		return FieldError(field, "%q is not a valid name: use 1 to 64 letters, digits, '-' or '_', starting with a letter or digit", name)
	}
	return nil
}

// Normalize fills a pool's defaults from its tier and validates it. It does not check that the tier
// exists: the caller passes it.
func (p *Pool) Normalize(tier Tier) error {
	if err := ValidateName("name", p.Name); err != nil {
		return err
	}
	if p.Tier == "" {
		p.Tier = tier.Name
	}
	if p.Clusters < 1 || p.Clusters > MaxClustersPerPool {
		return FieldError("clusters", "must be between 1 and %d, got %d", MaxClustersPerPool, p.Clusters)
	}
	if m := p.MinClusters; m != nil {
		if *m < 0 || *m > p.Clusters {
			return FieldError("minClusters", "must be between 0 and clusters (%d, the most the pool has), got %d", p.Clusters, *m)
		}
		if p.IdleTimeoutSeconds == 0 {
			return FieldError("minClusters", "needs an idle timeout (idleTimeoutSeconds): it is what ends the clusters launched beyond the minimum")
		}
	}
	if p.ReleaseLabel == "" {
		p.ReleaseLabel = DefaultReleaseLabel
	}
	if !releaseRE.MatchString(p.ReleaseLabel) {
		return FieldError("releaseLabel", "%q is not an EMR release label; expected the form emr-7.5.0", p.ReleaseLabel)
	}
	if len(p.Applications) == 0 {
		p.Applications = []string{"Spark"}
	}
	if len(p.Applications) > MaxApplications {
		return FieldError("applications", "at most %d applications, got %d", MaxApplications, len(p.Applications))
	}
	if len(p.Network.SubnetIDs) > MaxSubnets {
		return FieldError("network.subnetIds", "at most %d subnets, got %d", MaxSubnets, len(p.Network.SubnetIDs))
	}
	if len(p.Network.SecurityGroups) > MaxSecurityGroups {
		return FieldError("network.securityGroups", "at most %d additional security groups, got %d", MaxSecurityGroups, len(p.Network.SecurityGroups))
	}
	for _, a := range p.Applications {
		if strings.TrimSpace(a) == "" {
			return FieldError("applications", "has an empty name")
		}
	}
	if p.StepConcurrency == 0 {
		p.StepConcurrency = tier.StepConcurrency
	}
	if p.StepConcurrency < 1 || p.StepConcurrency > MaxStepConcurrency {
		return FieldError("stepConcurrency", "must be between 1 and %d, got %d", MaxStepConcurrency, p.StepConcurrency)
	}
	if p.MaxQueue < 0 || p.MaxQueue > MaxQueueLimit {
		return FieldError("maxQueue", "must be 0 (no limit) or between 1 and %d, got %d", MaxQueueLimit, p.MaxQueue)
	}
	if p.IdleTimeoutSeconds != 0 && (p.IdleTimeoutSeconds < MinIdleTimeoutSeconds || p.IdleTimeoutSeconds > MaxIdleTimeoutSeconds) {
		return FieldError("idleTimeoutSeconds", "must be 0 (never) or between %d and %d (EMR's auto-termination limits), got %d", MinIdleTimeoutSeconds, MaxIdleTimeoutSeconds, p.IdleTimeoutSeconds)
	}
	if p.LogURI != "" && !strings.HasPrefix(p.LogURI, "s3://") && !strings.HasPrefix(p.LogURI, "s3n://") {
		return FieldError("logUri", "%q must be an s3:// location (or empty)", p.LogURI)
	}
	if len(p.Tags) > MaxTags {
		return FieldError("tags", "at most %d tags, got %d", MaxTags, len(p.Tags))
	}
	for k, v := range p.Tags {
		if k == "" || len(k) > 128 || len(v) > 256 {
			return FieldError("tags", "tag %q: keys are 1 to 128 characters and values at most 256", k)
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return FieldError("tags", "tag %q: the aws: prefix is reserved", k)
		}
	}
	return validateConfigurations("configurations", p.Configurations, 0)
}

// MaxConfigurationDepth is how deep EMR configurations nest (a classification, its export, …).
const MaxConfigurationDepth = 4

func validateConfigurations(field string, cs []Configuration, depth int) error {
	if len(cs) > 0 && depth >= MaxConfigurationDepth {
		return FieldError(field, "configurations nest at most %d deep", MaxConfigurationDepth)
	}
	for i, c := range cs {
		at := fmt.Sprintf("%s[%d]", field, i)
		if strings.TrimSpace(c.Classification) == "" {
			return FieldError(at, "needs a classification (spark-defaults, say)")
		}
		for k := range c.Properties {
			if k == "" {
				return FieldError(at, "classification %s has a property with an empty name", c.Classification)
			}
		}
		if err := validateConfigurations(at+".configurations", c.Configurations, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// Normalize fills a transform's defaults and validates it. It does not check that the pool exists.
func (t *Transform) Normalize() error {
	if err := ValidateName("name", t.Name); err != nil {
		return err
	}
	if err := ValidateName("pool", t.Pool); err != nil {
		return err
	}
	if len(t.Description) > MaxDescription {
		return FieldError("description", "at most %d characters, got %d", MaxDescription, len(t.Description))
	}
	for field, n := range map[string]int{"command": len(t.Command), "args": len(t.Args), "sparkOptions": len(t.SparkOptions)} {
		if n > MaxListItems {
			return FieldError(field, "at most %d items, got %d", MaxListItems, n)
		}
	}
	if len(t.Params) > MaxParams {
		return FieldError("params", "at most %d parameters, got %d", MaxParams, len(t.Params))
	}
	switch t.Kind {
	case "":
		if len(t.Command) > 0 {
			t.Kind = KindCommand
		} else {
			t.Kind = KindSpark
		}
	case KindSpark, KindCommand:
	default:
		return FieldError("kind", "%q is not a transform kind: use spark or command", t.Kind)
	}
	switch t.Kind {
	case KindSpark:
		if t.MainResource == "" {
			return FieldError("mainResource", "a spark transform needs its main jar or script (for example s3://bucket/jobs/etl.jar or s3://bucket/jobs/etl.py)")
		}
		if len(t.Command) > 0 {
			return FieldError("command", "a spark transform has no command; use kind command for a plain command line")
		}
		if strings.HasSuffix(t.MainResource, ".py") && t.MainClass != "" {
			return FieldError("mainClass", "a Python script has no main class")
		}
		for _, o := range t.SparkOptions {
			if o == "--deploy-mode" || o == "--master" {
				return FieldError("sparkOptions", "%s is set by SparkFlow (--master yarn --deploy-mode cluster on EMR)", o)
			}
		}
	case KindCommand:
		if len(t.Command) == 0 || strings.TrimSpace(t.Command[0]) == "" {
			return FieldError("command", "a command transform needs a command line")
		}
		if t.MainResource != "" || t.MainClass != "" || len(t.SparkOptions) > 0 {
			return FieldError("kind", "mainResource, mainClass and sparkOptions belong to spark transforms")
		}
	}
	for k, v := range t.Params {
		if !paramRE.MatchString(k) {
			return FieldError("params", "%q is not a valid parameter name: letters, digits and '_', not starting with a digit", k)
		}
		if k == "run_id" || k == "attempt" {
			return FieldError("params", "%q is set by SparkFlow for every run and cannot be a parameter", k)
		}
		if len(v) > MaxStepChars {
			return FieldError("params", "parameter %q is longer than %d characters", k, MaxStepChars)
		}
	}
	if err := checkPlaceholders(t); err != nil {
		return err
	}
	if t.MaxAttempts == 0 {
		t.MaxAttempts = DefaultMaxAttempts
	}
	if t.MaxAttempts < 1 || t.MaxAttempts > MaxAttempts {
		return FieldError("maxAttempts", "must be between 1 and %d, got %d", MaxAttempts, t.MaxAttempts)
	}
	if t.TimeoutSeconds == 0 {
		t.TimeoutSeconds = DefaultTimeoutSeconds
	}
	if t.TimeoutSeconds < 1 || t.TimeoutSeconds > MaxTimeoutSeconds {
		return FieldError("timeoutSeconds", "must be between 1 and %d (a week), got %d", MaxTimeoutSeconds, t.TimeoutSeconds)
	}
	if t.QueueTimeoutSeconds == 0 {
		t.QueueTimeoutSeconds = DefaultQueueTimeoutSeconds
	}
	if t.QueueTimeoutSeconds < 1 || t.QueueTimeoutSeconds > MaxTimeoutSeconds {
		return FieldError("queueTimeoutSeconds", "must be between 1 and %d (a week), got %d", MaxTimeoutSeconds, t.QueueTimeoutSeconds)
	}
	if !t.Priority.Valid() {
		return priorityError("priority", t.Priority)
	}
	if t.MaxConcurrent < 0 || t.MaxConcurrent > MaxConcurrentRuns {
		return FieldError("maxConcurrent", "must be between 0 (no limit) and %d, got %d", MaxConcurrentRuns, t.MaxConcurrent)
	}
	up, err := uniqueNames("upstream", t.Upstream)
	if err != nil {
		return err
	}
	for _, u := range up {
		if u == t.Name {
			return FieldError("upstream", "transform %s cannot wait for itself", t.Name)
		}
	}
	t.Upstream = up
	t.Schedule, t.Timezone = strings.TrimSpace(t.Schedule), strings.TrimSpace(t.Timezone)
	switch {
	case t.Schedule == "" && (t.Timezone != "" || t.CatchUp != "" || t.Paused):
		return FieldError("schedule", "timezone, catch-up and paused belong to a schedule; give --schedule too")
	case t.Schedule != "" && t.CatchUp == "":
		t.CatchUp = "latest"
	}
	if c := t.CatchUp; c != "" && c != "none" && c != "latest" && c != "all" {
		return FieldError("catchUp", "%q is not a catch-up policy: use none, latest or all", c)
	}
	return nil
}

// MaxConcurrentRuns bounds a transform's concurrency limit; MaxUpstream how many transforms or runs
// one may wait for.
const (
	MaxConcurrentRuns = 10000
	MaxUpstream       = 50
)

// uniqueNames validates a list of names, drops repeats and keeps the order.
func uniqueNames(field string, names []string) ([]string, error) {
	if len(names) > MaxUpstream {
		return nil, FieldError(field, "at most %d, got %d", MaxUpstream, len(names))
	}
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		n = strings.TrimSpace(n)
		if err := ValidateName(field, n); err != nil {
			return nil, err
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

var placeholderRE = regexp.MustCompile(`\$\{([^}]*)\}`)

// checkPlaceholders refuses a ${name} that names no parameter, so a typo fails at create time and
// not at 3 a.m. on a cluster.
func checkPlaceholders(t *Transform) error {
	all := append(append(append([]string{t.MainResource, t.MainClass}, t.SparkOptions...), t.Command...), t.Args...)
	for _, s := range all {
		for _, m := range placeholderRE.FindAllStringSubmatch(s, -1) {
			name := m[1]
			if name == "run_id" || name == "attempt" {
				continue
			}
			if _, ok := t.Params[name]; !ok {
				return FieldError("args", "${%s} names no parameter; declare it with a default (params %s=VALUE) or use ${run_id} / ${attempt}", name, name)
			}
		}
	}
	return nil
}

// ResolveParams merges a run's overrides into the transform's parameter defaults, refusing names the
// transform does not declare.
func (t Transform) ResolveParams(overrides map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(t.Params)+len(overrides))
	for k, v := range t.Params {
		out[k] = v
	}
	for k, v := range overrides {
		if _, ok := t.Params[k]; !ok {
			known := make([]string, 0, len(t.Params))
			for n := range t.Params {
				known = append(known, n)
			}
			sort.Strings(known)
			hint := "it declares none"
			if len(known) > 0 {
				hint = "it declares " + strings.Join(known, ", ")
			}
			return nil, FieldError("params", "transform %s has no parameter %q (%s)", t.Name, k, hint)
		}
		if len(v) > MaxStepChars {
			return nil, FieldError("params", "value of %q is longer than %d characters", k, MaxStepChars)
		}
		out[k] = v
	}
	return out, nil
}

// Expand replaces ${name} in s with params[name]; unknown names are left as they are.
func Expand(s string, params map[string]string) string {
	return placeholderRE.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := params[m[2:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

// Validate checks a run request's shape (the transform's existence is checked by the caller).
func (r *RunRequest) Validate() error {
	if err := ValidateName("transform", r.Transform); err != nil {
		return err
	}
	if len(r.Params) > MaxParams {
		return FieldError("params", "at most %d parameters, got %d", MaxParams, len(r.Params))
	}
	if !r.Priority.Valid() {
		return priorityError("priority", r.Priority)
	}
	if r.ID != "" {
		id, err := CanonicalRunID(r.ID)
		if err != nil {
			return err
		}
		r.ID = id
	}
	for k := range r.Params {
		if !paramRE.MatchString(k) {
			return FieldError("params", "%q is not a valid parameter name", k)
		}
	}
	if len(r.After) > MaxUpstream {
		return FieldError("after", "a run may wait for at most %d runs, got %d", MaxUpstream, len(r.After))
	}
	var after []string
	seen := map[string]bool{}
	for _, a := range r.After {
		id, err := CanonicalRunID(strings.TrimSpace(a))
		if err != nil {
			return FieldError("after", "%q is not a run id (a UUID, as run list shows them in full)", a)
		}
		if id == r.ID {
			return FieldError("after", "a run cannot wait for itself")
		}
		if !seen[id] {
			seen[id] = true
			after = append(after, id)
		}
	}
	r.After = after
	return nil
}

// CanonicalRunID returns a run id in its one canonical form (a UUID in lower case, as uuid.NewString
// writes it). An id in upper case is the same id; braces, a urn:uuid: prefix or any other form are
// refused rather than read as a different run.
func CanonicalRunID(id string) (string, error) {
	u, err := uuid.Parse(id)
	if err != nil || len(id) != 36 {
		return "", FieldError("id", "%q is not a UUID written as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx; leave it out to get one", id)
	}
	return u.String(), nil
}
