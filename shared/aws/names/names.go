// Package names holds what the CDK stack and the code that runs in or against it must spell the same
// way: the functions' environment variables, the stack's outputs, the function names and the tag that
// marks a pool's clusters. It imports nothing, so the CDK app depends on it without linking the Lambda
// runtime or any AWS SDK client.
package names

// Environment variables the stack sets on every function.
const (
	EnvTable           = "SPARKFLOW_TABLE"
	EnvStateMachine    = "SPARKFLOW_RUN_STATE_MACHINE"
	EnvServiceRole     = "SPARKFLOW_EMR_SERVICE_ROLE"
	EnvInstanceProfile = "SPARKFLOW_EMR_INSTANCE_PROFILE"
	EnvLogURI          = "SPARKFLOW_EMR_LOG_URI"
	EnvSubnets         = "SPARKFLOW_EMR_SUBNETS"
	EnvBudget          = "SPARKFLOW_RECONCILE_BUDGET"
	EnvTiers           = "SPARKFLOW_TIER_FILE"
	// EnvStack names the stack: it is in every cluster's and step's name and in the stack tag.
	EnvStack = "SPARKFLOW_STACK"
	// EnvRetentionDays is how long ended runs and rejected requests are kept (DynamoDB TTL).
	EnvRetentionDays = "SPARKFLOW_RETENTION_DAYS"
	// EnvRunsQueueARN, EnvScheduleRole and EnvScheduleDLQ are set on the pool function, which keeps
	// the transforms' EventBridge Scheduler schedules: their target (the runs queue), the role the
	// scheduler sends with, and the dead-letter queue of firings it could not deliver.
	EnvRunsQueueARN = "SPARKFLOW_RUNS_QUEUE_ARN"
	EnvScheduleRole = "SPARKFLOW_SCHEDULE_ROLE_ARN"
	EnvScheduleDLQ  = "SPARKFLOW_SCHEDULE_DLQ_ARN"
)

// ScheduleName is the name of transform's EventBridge Scheduler schedule in the default group: the
// stack's name, a dash and the transform's (at most 64 characters: a longer one ends with a hash
// of the whole instead).
func ScheduleName(stack, transform string) string {
	n := stack + "-" + transform
	if len(n) <= 64 {
		return n
	}
	// FNV-1a, 64 bits, in hex: short, stable, and needs no import.
	h := uint64(14695981039346656037)
	for i := 0; i < len(n); i++ {
		h ^= uint64(n[i])
		h *= 1099511628211
	}
	const hex = "0123456789abcdef"
	sum := make([]byte, 16)
	for i := 15; i >= 0; i-- {
		sum[i] = hex[h&15]
		h >>= 4
	}
	return n[:47] + "-" + string(sum)
}

// DefaultRetentionDays is the retention of ended runs and rejected requests when none is given.
const DefaultRetentionDays = 90

// TableTTLAttribute is the table's time-to-live attribute (epoch seconds): DynamoDB deletes an item
// some time after it.
const TableTTLAttribute = "expiresAt"

// Outputs of the stack that the CLI, the UI and the tests read.
const (
	OutputRunsQueueURL            = "RunsQueueUrl"
	OutputRunsDLQURL              = "RunsDLQUrl"
	OutputTableName               = "TableName"
	OutputRunStateMachineARN      = "RunStateMachineArn"
	OutputPoolStateMachineARN     = "PoolStateMachineArn"
	OutputStepInstanceProfileName = "StepInstanceProfileName"
	OutputScheduleDLQURL          = "ScheduleDLQUrl"
)

// Function names: each is built from functions/<name> into <assets>/<name>/bootstrap.
const (
	FunctionIntake    = "intake"
	FunctionReserve   = "reserve"
	FunctionSubmit    = "submit"
	FunctionFinish    = "finish"
	FunctionEMREvents = "emr-events"
	FunctionReconcile = "reconcile"
	FunctionPool      = "pool"
)

// Functions lists every function name.
var Functions = []string{FunctionIntake, FunctionReserve, FunctionSubmit, FunctionFinish, FunctionEMREvents, FunctionReconcile, FunctionPool}

// PoolTag is the EMR cluster tag that names a cluster's pool; the functions' IAM policies allow EMR
// calls only on clusters that carry it.
const PoolTag = "sparkflow:pool"

// StackTag is the EMR cluster tag that names the stack that launched a cluster: the functions' IAM
// policies allow EMR calls only on clusters whose tag names their own stack, so that two stacks in
// one account (staging beside prod) never touch each other's clusters.
const StackTag = "sparkflow:stack"

// NamePrefix starts the name of every cluster and step a stack launches or adds
// ("sparkflow/<stack>:<pool>:<id>", "sparkflow/<stack>:<run>:<attempt>:<transform>"): its EMR event
// rules match only names with it.
func NamePrefix(stack string) string { return "sparkflow/" + stack }

// ManagedPoliciesTag is the tag AWS's v2 EMR managed policies (AmazonEMRServicePolicy_v2) require on
// everything the service role creates or uses: every cluster carries it (EMR propagates it to the
// instances), and the subnets and security groups the clusters use must carry it too.
const ManagedPoliciesTag = "for-use-with-amazon-emr-managed-policies"

// ServiceRolePolicyName names AWS's v2 EMR service role policy, which the stack's own EMR service role
// attaches (in the stack's partition).
const ServiceRolePolicyName = "service-role/AmazonEMRServicePolicy_v2"

// Outputs added with the EMR service role and the subnets parameter.
const (
	OutputEMRServiceRoleName = "EmrServiceRoleName"
	ParameterSubnets         = "EmrSubnets"
	// OutputClusterInstanceProfileName is the instance profile clusters are launched with (the
	// stack's own, or the one given with -c instanceProfile); the doctor checks what it may reach.
	OutputClusterInstanceProfileName = "ClusterInstanceProfileName"
	// OutputLogURI, OutputCodeBuckets and OutputDataBuckets are the deployment's log location and
	// the buckets its step code may read (and write); each is present only when set.
	OutputLogURI      = "EmrLogUri"
	OutputCodeBuckets = "CodeBuckets"
	OutputDataBuckets = "DataBuckets"
	// OutputFunctionLogGroups lists the functions' log groups, comma-separated.
	OutputFunctionLogGroups = "FunctionLogGroups"
)

// EMRServiceName is the service EMR's roles are passed to and its service-linked role belongs to.
const EMRServiceName = "elasticmapreduce.amazonaws.com"

// CleanupRoleName is EMR's service-linked role, which EMR creates at an account's first cluster launch
// with the launching caller's permission.
const CleanupRoleName = "AWSServiceRoleForEMRCleanup"

// The table's key attributes and indexes (the DynamoDB store reads and writes them; the stack declares
// them).
const (
	TableKey     = "pk"
	TableSortKey = "sk"
	TableIndex1  = "gsi1" // lists: pools, transforms, all runs (newest first), rejected requests
	TableIndex2  = "gsi2" // clusters of a pool, all clusters, runs of a transform (newest first)
	TableIndex3  = "gsi3" // sparse: runs not yet ended
)

// TableIndexKeys names the partition and sort key attributes of each index.
var TableIndexKeys = map[string][2]string{TableIndex1: {"g1pk", "g1sk"}, TableIndex2: {"g2pk", "g2sk"}, TableIndex3: {"g3pk", "g3sk"}}
