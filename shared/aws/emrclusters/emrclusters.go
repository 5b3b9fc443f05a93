// Package emrclusters is the AWS home's Clusters: Amazon EMR through the AWS SDK. It builds the
// RunJobFlow request of a pool's cluster from the pool and its tier (instance fleets on Graviton types,
// spot task capacity that falls back to on-demand after the tier's timeout, step concurrency, idle
// auto-termination, tags naming the pool), adds steps, lists them, describes, cancels and terminates.
// SDK errors are classified once here into the domain's kinds.
//
// AddJobFlowSteps has no idempotency token, so it is sent once, never retried by the SDK: a caller
// that is unsure whether a step was added looks for the step's name with ListSteps (package tasks does).
package emrclusters

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/emr"
	"github.com/aws/aws-sdk-go-v2/service/emr/types"
	"github.com/aws/smithy-go"

	"github.com/sparkflow/sparkflow/shared/aws/names"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// API is the part of the EMR client the adapter uses.
type API interface {
	RunJobFlow(context.Context, *emr.RunJobFlowInput, ...func(*emr.Options)) (*emr.RunJobFlowOutput, error)
	DescribeCluster(context.Context, *emr.DescribeClusterInput, ...func(*emr.Options)) (*emr.DescribeClusterOutput, error)
	AddJobFlowSteps(context.Context, *emr.AddJobFlowStepsInput, ...func(*emr.Options)) (*emr.AddJobFlowStepsOutput, error)
	ListSteps(context.Context, *emr.ListStepsInput, ...func(*emr.Options)) (*emr.ListStepsOutput, error)
	CancelSteps(context.Context, *emr.CancelStepsInput, ...func(*emr.Options)) (*emr.CancelStepsOutput, error)
	TerminateJobFlows(context.Context, *emr.TerminateJobFlowsInput, ...func(*emr.Options)) (*emr.TerminateJobFlowsOutput, error)
	ListInstances(context.Context, *emr.ListInstancesInput, ...func(*emr.Options)) (*emr.ListInstancesOutput, error)
}

// Config holds a deployment's defaults; a pool's own settings win.
type Config struct {
	ServiceRole     string // EMR service role
	InstanceProfile string // EC2 instance profile that runs step code
	LogURI          string // s3:// location of cluster logs
	SubnetIDs       []string
	Tags            map[string]string // added to every cluster
}

// PoolTag is the tag that names a cluster's pool; IAM policies scope EMR actions by it.
const PoolTag = names.PoolTag

// MaxStepPages bounds ListSteps to 2 pages (100 steps, newest first): enough to find the step of a
// recent attempt, and EMR's ListSteps budget (about 0.5 call/s) is the scarce resource.
const MaxStepPages = 2

// Clusters implements sparkflow.Clusters on EMR.
type Clusters struct {
	api API
	cfg Config
}

var _ sparkflow.Clusters = (*Clusters)(nil)

// New returns the adapter.
func New(api API, cfg Config) *Clusters { return &Clusters{api: api, cfg: cfg} }

func fleet(kind types.InstanceFleetType, f sparkflow.InstanceFleet, spotTimeout int) types.InstanceFleetConfig {
	cfg := types.InstanceFleetConfig{
		InstanceFleetType:      kind,
		Name:                   aws.String(strings.ToLower(string(kind))),
		TargetOnDemandCapacity: aws.Int32(int32(f.OnDemandCapacity)),
		TargetSpotCapacity:     aws.Int32(int32(f.SpotCapacity)),
	}
	for _, it := range f.InstanceTypes {
		cfg.InstanceTypeConfigs = append(cfg.InstanceTypeConfigs, types.InstanceTypeConfig{InstanceType: aws.String(it), WeightedCapacity: aws.Int32(1)})
	}
	if f.SpotCapacity > 0 {
		cfg.LaunchSpecifications = &types.InstanceFleetProvisioningSpecifications{
			SpotSpecification: &types.SpotProvisioningSpecification{
				TimeoutDurationMinutes: aws.Int32(int32(spotTimeout)),
				TimeoutAction:          types.SpotProvisioningTimeoutActionSwitchToOnDemand,
				AllocationStrategy:     types.SpotProvisioningAllocationStrategyPriceCapacityOptimized,
			},
			OnDemandSpecification: &types.OnDemandProvisioningSpecification{AllocationStrategy: types.OnDemandProvisioningAllocationStrategyLowestPrice},
		}
	}
	return cfg
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// LaunchInput builds the RunJobFlow request of one cluster of a pool.
func LaunchInput(spec sparkflow.LaunchSpec, cfg Config) *emr.RunJobFlowInput {
	p, t := spec.Pool, spec.Tier
	fleets := []types.InstanceFleetConfig{
		fleet(types.InstanceFleetTypeMaster, t.Primary, t.SpotTimeoutMinutes),
		fleet(types.InstanceFleetTypeCore, t.Core, t.SpotTimeoutMinutes),
	}
	if t.Task.OnDemandCapacity+t.Task.SpotCapacity > 0 {
		fleets = append(fleets, fleet(types.InstanceFleetTypeTask, t.Task, t.SpotTimeoutMinutes))
	}
	subnets := p.Network.SubnetIDs
	if len(subnets) == 0 {
		subnets = cfg.SubnetIDs
	}
	inst := &types.JobFlowInstancesConfig{
		InstanceFleets:              fleets,
		KeepJobFlowAliveWhenNoSteps: aws.Bool(true), // a pool's clusters wait for work
		TerminationProtected:        aws.Bool(p.TerminationProtection),
		Ec2SubnetIds:                subnets,
	}
	if p.Network.KeyName != "" {
		inst.Ec2KeyName = aws.String(p.Network.KeyName)
	}
	if len(p.Network.SecurityGroups) > 0 {
		inst.AdditionalMasterSecurityGroups = p.Network.SecurityGroups
		inst.AdditionalSlaveSecurityGroups = p.Network.SecurityGroups
	}
	in := &emr.RunJobFlowInput{
		Name:                 aws.String(spec.Name),
		ReleaseLabel:         aws.String(p.ReleaseLabel),
		Instances:            inst,
		ServiceRole:          aws.String(firstNonEmpty(p.Network.ServiceRole, cfg.ServiceRole)),
		JobFlowRole:          aws.String(firstNonEmpty(p.Network.InstanceProfile, cfg.InstanceProfile)),
		StepConcurrencyLevel: aws.Int32(int32(max(p.StepConcurrency, 1))),
		VisibleToAllUsers:    aws.Bool(true),
	}
	if uri := firstNonEmpty(p.LogURI, cfg.LogURI); uri != "" {
		in.LogUri = aws.String(uri)
	}
	for _, a := range p.Applications {
		in.Applications = append(in.Applications, types.Application{Name: aws.String(a)})
	}
	in.Configurations = configurations(p.Configurations)
	if p.IdleTimeoutSeconds > 0 && !spec.Kept { // an elastic pool's minimum is kept: no idle end
		in.AutoTerminationPolicy = &types.AutoTerminationPolicy{IdleTimeout: aws.Int64(int64(p.IdleTimeoutSeconds))}
	}
	tags := map[string]string{}
	for k, v := range cfg.Tags {
		tags[k] = v
	}
	for k, v := range p.Tags {
		tags[k] = v
	}
	tags[PoolTag] = p.Name
	// AWS's v2 EMR service role acts only on resources with this tag: without it, the default service
	// role cannot launch the cluster's instances.
	tags[names.ManagedPoliciesTag] = "true"
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		in.Tags = append(in.Tags, types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return in
}

// configurations are a pool's EMR configurations as RunJobFlow takes them.
func configurations(cs []sparkflow.Configuration) []types.Configuration {
	var out []types.Configuration
	for _, c := range cs {
		out = append(out, types.Configuration{Classification: aws.String(c.Classification), Properties: c.Properties, Configurations: configurations(c.Configurations)})
	}
	return out
}

// classify turns EMR errors into domain kinds.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		msg := strings.ToLower(api.ErrorMessage())
		switch {
		case strings.Contains(api.ErrorCode(), "Throttl") || api.ErrorCode() == "RequestLimitExceeded" || api.ErrorFault() == smithy.FaultServer:
			return sparkflow.Wrap(sparkflow.Transient, err, "%s", op)
		case strings.Contains(msg, "not found") || strings.Contains(msg, "does not exist") || strings.Contains(msg, "not valid"):
			return sparkflow.Wrap(sparkflow.NotFound, err, "%s", op)
		case strings.Contains(msg, "shutting down") || strings.Contains(msg, "terminated") || strings.Contains(msg, "may not be modified"):
			return sparkflow.Wrap(sparkflow.Conflict, err, "%s", op)
		case api.ErrorCode() == "ValidationException" || api.ErrorCode() == "InvalidRequestException":
			return sparkflow.Wrap(sparkflow.Invalid, err, "%s", op)
		}
		return sparkflow.Wrap(sparkflow.Internal, err, "%s", op)
	}
	return sparkflow.Wrap(sparkflow.Transient, err, "%s", op) // network, timeouts
}

// Launch starts a cluster.
func (c *Clusters) Launch(ctx context.Context, spec sparkflow.LaunchSpec) (string, error) {
	out, err := c.api.RunJobFlow(ctx, LaunchInput(spec, c.cfg), noRetry)
	if err != nil {
		return "", classify("run job flow for pool "+spec.Pool.Name, err)
	}
	return aws.ToString(out.JobFlowId), nil
}

// noRetry sends a call with no idempotency token once: a retry could start a second cluster or add a
// second step.
func noRetry(o *emr.Options) { o.RetryMaxAttempts = 1 }

// Describe returns a cluster's state.
func (c *Clusters) Describe(ctx context.Context, id string) (sparkflow.ClusterInfo, error) {
	out, err := c.api.DescribeCluster(ctx, &emr.DescribeClusterInput{ClusterId: aws.String(id)})
	if err != nil {
		return sparkflow.ClusterInfo{}, classify("describe cluster "+id, err)
	}
	cl := out.Cluster
	info := sparkflow.ClusterInfo{ID: aws.ToString(cl.Id), Name: aws.ToString(cl.Name), NormalizedInstanceHours: int(aws.ToInt32(cl.NormalizedInstanceHours))}
	if st := cl.Status; st != nil {
		info.State = sparkflow.ClusterState(st.State)
		if r := st.StateChangeReason; r != nil {
			info.Reason = sparkflow.StateReason{Code: string(r.Code), Message: aws.ToString(r.Message)}
		}
		if tl := st.Timeline; tl != nil && tl.ReadyDateTime != nil {
			t := tl.ReadyDateTime.UTC()
			info.ReadyAt = &t
		}
	}
	return info, nil
}

// AddStep adds one step, once.
func (c *Clusters) AddStep(ctx context.Context, id string, step sparkflow.StepSpec) (string, error) {
	out, err := c.api.AddJobFlowSteps(ctx, &emr.AddJobFlowStepsInput{JobFlowId: aws.String(id), Steps: []types.StepConfig{{
		Name:            aws.String(step.Name),
		ActionOnFailure: types.ActionOnFailure(step.ActionOnFailure),
		HadoopJarStep:   &types.HadoopJarStepConfig{Jar: aws.String(step.Jar), Args: step.Args},
	}}}, noRetry)
	if err != nil {
		return "", classify("add step to "+id, err)
	}
	if len(out.StepIds) != 1 {
		return "", sparkflow.Errorf(sparkflow.Internal, "add step to %s: EMR returned %d step ids", id, len(out.StepIds))
	}
	return out.StepIds[0], nil
}

// ListSteps lists a cluster's newest steps (at most MaxStepPages pages), newest first.
func (c *Clusters) ListSteps(ctx context.Context, id string) ([]sparkflow.StepInfo, error) {
	out, _, err := c.ListStepsPages(ctx, id, MaxStepPages)
	return out, err
}

// ListStepsPages lists a cluster's newest steps, reading at most maxPages pages (each an EMR call),
// and says how many it read.
func (c *Clusters) ListStepsPages(ctx context.Context, id string, maxPages int) ([]sparkflow.StepInfo, int, error) {
	var out []sparkflow.StepInfo
	var marker *string
	page := 0
	for ; page < maxPages; page++ {
		resp, err := c.api.ListSteps(ctx, &emr.ListStepsInput{ClusterId: aws.String(id), Marker: marker})
		if err != nil {
			return nil, page + 1, classify("list steps of "+id, err)
		}
		for _, s := range resp.Steps {
			info := sparkflow.StepInfo{ID: aws.ToString(s.Id), Name: aws.ToString(s.Name)}
			if s.Status != nil {
				info.State = sparkflow.StepState(s.Status.State)
				if fd := s.Status.FailureDetails; fd != nil {
					info.Reason = sparkflow.StateReason{Code: aws.ToString(fd.Reason), Message: aws.ToString(fd.Message)}
					if lf := aws.ToString(fd.LogFile); lf != "" {
						info.LogURI = lf
					}
				} else if r := s.Status.StateChangeReason; r != nil {
					info.Reason = sparkflow.StateReason{Code: string(r.Code), Message: aws.ToString(r.Message)}
				}
			}
			out = append(out, info)
		}
		if resp.Marker == nil {
			page++
			break
		}
		marker = resp.Marker
	}
	return out, page, nil
}

var _ sparkflow.StepPager = (*Clusters)(nil)

// CancelStep cancels a step with SIGTERM (SEND_INTERRUPT); EMR cancels asynchronously.
func (c *Clusters) CancelStep(ctx context.Context, id, stepID string) error {
	out, err := c.api.CancelSteps(ctx, &emr.CancelStepsInput{ClusterId: aws.String(id), StepIds: []string{stepID},
		StepCancellationOption: types.StepCancellationOptionSendInterrupt})
	if err != nil {
		return classify("cancel step "+stepID, err)
	}
	for _, info := range out.CancelStepsInfoList {
		if info.Status == types.CancelStepsRequestStatusFailed {
			reason := aws.ToString(info.Reason)
			if strings.Contains(strings.ToLower(reason), "not found") || strings.Contains(strings.ToLower(reason), "does not exist") {
				return sparkflow.Errorf(sparkflow.NotFound, "step %s not found on cluster %s: %s", stepID, id, reason)
			}
			// An ended step cannot be cancelled: as with the local clusters, that is not an error.
		}
	}
	return nil
}

// Terminate terminates a cluster (TerminateJobFlows is idempotent).
func (c *Clusters) Terminate(ctx context.Context, id string) error {
	_, err := c.api.TerminateJobFlows(ctx, &emr.TerminateJobFlowsInput{JobFlowIds: []string{id}})
	return classify("terminate "+id, err)
}

// maxInstancePages bounds the ListInstances pages read for one cluster (50 instances a page).
const maxInstancePages = 20

// Instances lists the instances a cluster runs now, counted by type and market (ListInstances, a
// page of 50 at a time), for what the cluster costs.
func (c *Clusters) Instances(ctx context.Context, id string) ([]sparkflow.InstanceCount, error) {
	type key struct {
		typ  string
		spot bool
	}
	counts := map[key]int{}
	var order []key
	var marker *string
	for page := 0; page < maxInstancePages; page++ {
		out, err := c.api.ListInstances(ctx, &emr.ListInstancesInput{ClusterId: aws.String(id), Marker: marker,
			InstanceStates: []types.InstanceState{types.InstanceStateRunning}})
		if err != nil {
			return nil, classify("list instances of "+id, err)
		}
		for _, in := range out.Instances {
			k := key{aws.ToString(in.InstanceType), in.Market == types.MarketTypeSpot}
			if k.typ == "" {
				continue
			}
			if counts[k] == 0 {
				order = append(order, k)
			}
			counts[k]++
		}
		if marker = out.Marker; marker == nil || *marker == "" {
			break
		}
	}
	res := make([]sparkflow.InstanceCount, 0, len(order))
	for _, k := range order {
		res = append(res, sparkflow.InstanceCount{Type: k.typ, Count: counts[k], Spot: k.spot})
	}
	return res, nil
}

var _ sparkflow.InstanceLister = (*Clusters)(nil)
