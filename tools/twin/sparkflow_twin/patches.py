"""The narrow patches that make moto 5.2.1 a twin of the AWS services SparkFlow's stack uses. Each one
says what moto does upstream and what it does instead; test_patches.py checks each on its own."""
import copy
import datetime
import json
import time

import moto.awslambda.models as lambda_models
import moto.emr.models as emr_models
import moto.emr.responses as emr_responses
import moto.events.models as events_models
import moto.sqs.models as sqs_models
import moto.stepfunctions.parser.models as sfn_models
from moto.core.responses import ActionResult
from moto.utilities.arns import parse_arn


# 1. Step Functions. Upstream, start_execution deep-copies the state machine together with its running
# executions and its backend (every other state machine and their executions), whose threads hold
# locks: the second StartExecution fails with "cannot pickle '_thread.RLock' object". The copy leaves
# the executions out and shares the backend (the clone only needs the definition).
class _CopyWithoutExecutions:
    @staticmethod
    def deepcopy(obj, memo=None):
        memo = {} if memo is None else memo
        backend = getattr(obj, "backend", None)
        if backend is not None:
            memo[id(backend)] = backend
        executions = getattr(obj, "executions", None)
        if executions is None:
            return copy.deepcopy(obj, memo)
        obj.executions = []
        try:
            return copy.deepcopy(obj, memo)
        finally:
            obj.executions = executions


def patch_stepfunctions():
    sfn_models.copy = _CopyWithoutExecutions
    # Upstream, CloudFormation creates state machines in the backend that does not execute them,
    # while the API serves the executing one once execute_state_machine is on: the deployed state
    # machines "do not exist". CloudFormation creates them in the executing backend.
    import moto.stepfunctions.models as sfn_plain

    sfn_plain.stepfunctions_backends = sfn_models.stepfunctions_parser_backends


# 2. Lambda. Upstream, Invoke runs a function only through Docker, which this machine does not have.
# Invoke runs the function's deployed bootstrap through the twin's runtime instead; an asynchronous
# (Event) invocation is queued with Lambda's retry behaviour.
def patch_lambda(runtime):
    def invoke(self, body, request_headers, response_headers):
        payload = body.encode() if isinstance(body, str) else (body or b"{}")
        if request_headers.get("X-Amz-Invocation-Type") == "Event":
            runtime.invoke_async(self, payload, on_failure=send_to_destination)
            return b""
        ok, out = runtime.invoke(self, payload)
        if not ok:
            response_headers["x-amz-function-error"] = "Unhandled"
        return out

    lambda_models.LambdaFunction.invoke = invoke


# 3. SQS. Upstream, SendMessage itself invokes a queue's event-source-mapped function, one message at a
# time, inside the sender's request, ignoring ReportBatchItemFailures and the visibility timeout. The
# twin polls the queues as Lambda does (esm.py); the queue's own list of mappings is kept but never
# iterated here.
class _NoInlineMappings(dict):
    def items(self):
        return []


def patch_sqs():
    original = sqs_models.Queue.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.lambda_event_source_mappings = _NoInlineMappings()

    sqs_models.Queue.__init__ = init


def eventbridge_envelope(event):
    """An event as EventBridge hands it to a target: moto's own has a float time and an extra field."""
    out = {k: event[k] for k in ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail") if k in event}
    t = out.get("time")
    if isinstance(t, (int, float)):
        out["time"] = datetime.datetime.fromtimestamp(t, tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


# 4. EventBridge. Upstream, a rule delivers only to SQS, log groups and buses, and raises
# NotImplementedError for a Lambda target; an SQS target gets moto's own event (an extra field); and a
# scheduled rule, having no event pattern, matches every event put on the bus (its target runs on every
# EMR event). A Lambda target is invoked asynchronously, as EventBridge does, and an SQS target gets a
# message, each with the event in EventBridge's exact envelope; a scheduled rule
# runs only when its schedule fires (control.fire_schedules); other targets go to moto as before.
DELIVERED = []  # (rule, queue, event) of every event an SQS target got, for the control API


def patch_events(runtime, lambda_backend_for):
    original = events_models.Rule.send_to_targets

    def send_to_targets(self, original_event, transform_input=True, scheduled=False):
        if self.scheduled_expression and not self.event_pattern.get_pattern() and not scheduled:
            return
        if not self.event_pattern.matches_event(original_event):
            return
        rest = []
        for target in self.targets:
            arn = parse_arn(target["Arn"])
            if arn.service == "sqs" and not target.get("Input") and not target.get("InputTransformer"):
                # The message body is the event in EventBridge's envelope, as for a Lambda target.
                event = eventbridge_envelope(original_event)
                sqs_models.sqs_backends[arn.account][arn.region].send_message(queue_name=arn.resource_id, message_body=json.dumps(event))
                DELIVERED.append({"rule": self.name, "queue": arn.resource_id, "event": event})
                continue
            if arn.service != "lambda":
                rest.append(target)
                continue
            fn = lambda_backend_for(arn.account, arn.region).get_function(target["Arn"])
            event = eventbridge_envelope(original_event)
            if target.get("Input"):
                event = json.loads(target["Input"])
            runtime.invoke_async(fn, json.dumps(event).encode(), on_failure=send_to_destination)
        if rest:
            clone = copy.copy(self)
            clone.targets = rest
            original(clone, original_event, transform_input)

    events_models.Rule.send_to_targets = send_to_targets


# 5. EMR. Upstream, a new cluster is WAITING at once and never changes, a step is RUNNING or PENDING
# forever, and CancelSteps does not exist. The player (player.py) owns clusters' and steps' states: a
# new cluster is STARTING (with no ready time: upstream sets it at creation, and SparkFlow reads it to
# tell a cluster that ran from a failed start), every new step PENDING, and CancelSteps is answered
# and passed to the player.
def patch_emr(player):
    original_init = emr_models.Cluster.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.state = "STARTING"
        self.ready_datetime = None
        player.launched(self)

    emr_models.Cluster.__init__ = init

    def add_steps(self, steps):
        if getattr(self, "state", None) in ("TERMINATING", "TERMINATED", "TERMINATED_WITH_ERRORS"):
            raise emr_models.ValidationException(f"A job flow that is shutting down, terminated, or finished may not be modified. ({self.id})")
        added = []
        for step in steps:
            fake = emr_models.Step(state="PENDING", **step)
            self.steps.append(fake)
            added.append(fake)
        player.steps_added(self, added)
        return added

    emr_models.Cluster.add_steps = add_steps

    original_terminate = emr_models.ElasticMapReduceBackend.terminate_job_flows

    def terminate_job_flows(self, job_flow_ids):
        for cid in job_flow_ids:
            if cid in self.clusters and not self.clusters[cid].termination_protected:
                player.terminate(self.clusters[cid], "USER_REQUEST", "Terminated by user request")
        return [self.clusters[c] for c in job_flow_ids if c in self.clusters]

    emr_models.ElasticMapReduceBackend.terminate_job_flows = terminate_job_flows
    emr_models.ElasticMapReduceBackend._twin_original_terminate = original_terminate

    def cancel_steps(self):
        cluster_id = self._get_param("ClusterId")
        step_ids = self._get_param("StepIds", [])
        cluster = self.backend.describe_cluster(cluster_id)
        infos = []
        for sid in step_ids:
            ok = player.cancel(cluster, sid)
            infos.append({"StepId": sid, "Status": "SUBMITTED" if ok else "FAILED", "Reason": "" if ok else "the step has ended or does not exist"})
        return ActionResult({"CancelStepsInfoList": infos})

    emr_responses.ElasticMapReduceResponse.cancel_steps = cancel_steps


def send_to_destination(destination, entry):
    """Sends a failed asynchronous invocation's record to its on-failure destination (an SQS queue),
    in Lambda's documented record shape."""
    import moto.sqs.models as sqs

    arn = parse_arn(destination)
    if arn.service != "sqs":
        return
    record = {"version": "1.0", "requestContext": {"functionArn": entry["function"], "condition": "RetriesExhausted", "approximateInvokeCount": 3},
              "requestPayload": json.loads(entry["payload"]) if entry["payload"].startswith("{") else entry["payload"],
              "responseContext": {"statusCode": 200, "functionError": "Unhandled"}, "responsePayload": entry["error"]}
    sqs.sqs_backends[arn.account][arn.region].send_message(arn.resource_id, json.dumps(record))


def lambda_backend_for(account, region):
    return lambda_models.lambda_backends[account][region]


# 6. Step Functions events. Upstream, an execution that ends emits nothing on EventBridge; Step
# Functions emits "Step Functions Execution Status Change" (source aws.states) for every status. The
# twin emits it when an execution ends, in the documented shape, so the stack's own rule routes it.
EXECUTION_EVENT_DROPS = {"count": 0, "dropped": []}


def patch_execution_events(put_events):
    import moto.stepfunctions.parser.backend.execution as exec_models

    original = exec_models.BaseExecutionWorkerCommunication.terminated

    def terminated(self):
        original(self)
        ex = self.execution
        if getattr(ex, "_twin_event_sent", False):
            return
        emit(ex, str(getattr(ex.exec_status, "value", ex.exec_status)))

    def emit(ex, status):
        ex._twin_event_sent = True
        if EXECUTION_EVENT_DROPS["count"] > 0:  # a scenario loses the event, as EventBridge may
            EXECUTION_EVENT_DROPS["count"] -= 1
            EXECUTION_EVENT_DROPS["dropped"].append((ex.name, status))
            return

        def ms(t):
            return int(t.timestamp() * 1000) if t else None

        detail = {"executionArn": ex.exec_arn, "stateMachineArn": ex.state_machine_arn, "name": ex.name, "status": status,
                  "startDate": ms(ex.start_date), "stopDate": ms(ex.stop_date), "input": json.dumps(ex.input_data),
                  "inputDetails": {"included": True}, "output": json.dumps(ex.output) if ex.output is not None else None,
                  "outputDetails": {"included": True} if ex.output is not None else None,
                  "error": ex.error, "cause": ex.cause}
        put_events(ex.account_id, ex.region_name, [{"Source": "aws.states", "DetailType": "Step Functions Execution Status Change",
                                                    "Detail": json.dumps(detail), "Resources": [ex.exec_arn],
                                                    "Time": datetime.datetime.now(tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}])

    exec_models.BaseExecutionWorkerCommunication.terminated = terminated

    # Upstream, StopExecution reaches a task waiting for its token only when the wait ends (a step's
    # end, hours later); Step Functions stops the execution at once. The execution is ABORTED now (as
    # DescribeExecution says) and its event goes out now.
    original_stop = exec_models.Execution.stop
    from moto.stepfunctions.parser.api import ExecutionStatus

    def stop(self, stop_date, error, cause):
        # A stop right after the start can come before the execution's thread has made its
        # environment (upstream then fails with an AttributeError): wait for it, briefly.
        worker = getattr(self, "exec_worker", None)
        deadline = time.time() + 5
        while worker is not None and getattr(worker, "env", None) is None and time.time() < deadline:
            time.sleep(0.01)
        original_stop(self, stop_date, error, cause)
        self.stop_date, self.error, self.cause = stop_date, error, cause
        self.exec_status = ExecutionStatus.ABORTED
        emit(self, "ABORTED")

    exec_models.Execution.stop = stop


# 7. DynamoDB. Upstream, moto does not isolate concurrent requests: two transactions can both pass
# their condition checks before either writes (seen: 3 reservations on a 2-slot cluster). DynamoDB's
# condition checks are atomic and its transactions serializable; the twin serializes every table
# operation with one lock, which is that and more.
def patch_dynamodb():
    import threading

    import moto.dynamodb.models as ddb

    lock = threading.RLock()
    for name in ("put_item", "get_item", "query", "scan", "update_item", "delete_item", "transact_write_items",
                 "batch_get_item", "batch_write_item", "transact_get_items"):
        original = getattr(ddb.DynamoDBBackend, name)

        def locked(self, *args, _original=original, **kwargs):
            with lock:
                return _original(self, *args, **kwargs)

        setattr(ddb.DynamoDBBackend, name, locked)


# 8. IAM. Upstream, CloudFormation's AWS::IAM::Role ignores ManagedPolicyArns: a role the stack gives
# an AWS managed policy has none in the twin. The twin attaches them (the policies exist: the twin
# loads AWS's managed policies, as an account has them).
def patch_iam_roles():
    import moto.iam.models as iam_models

    original = iam_models.Role.create_from_cloudformation_json.__func__

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        role = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        backend = iam_models.iam_backends[account_id][iam_models.get_partition(region_name)]
        for arn in cloudformation_json["Properties"].get("ManagedPolicyArns", []) or []:
            backend.attach_role_policy(arn, role.name)
        return role

    iam_models.Role.create_from_cloudformation_json = classmethod(create)


# 9. IAM policy simulation. Upstream, SimulatePrincipalPolicy is not implemented. The twin answers it
# for a role as IAM does: every action on every resource evaluated against the role's identity
# policies (as the twin holds them after the deploy), the context entries as condition keys, with the
# same offline evaluator as the twin's IAM report (iam.simulate). sparkflow doctor asks it.
def patch_iam_simulation(simulate):
    import moto.iam.responses as iam_responses

    def simulate_principal_policy(self):
        principal = self._get_param("PolicySourceArn")
        actions = self._get_param("ActionNames") or []
        resources = self._get_param("ResourceArns") or ["*"]
        context = {}
        for e in self._get_param("ContextEntries") or []:
            values = e.get("ContextKeyValues") or []
            context[e["ContextKeyName"]] = values if e.get("ContextKeyType", "string").endswith("List") or len(values) > 1 else (values[0] if values else "")
        results = [{"EvalActionName": a, "EvalResourceName": r, "EvalDecision": d}
                   for a, r, d in simulate(self.current_account, principal, actions, resources, context)]
        return ActionResult({"EvaluationResults": results, "IsTruncated": False})

    iam_responses.IamResponse.simulate_principal_policy = simulate_principal_policy


# 10. EMR's service-linked role. Upstream, RunJobFlow needs nothing of IAM. EMR creates its cleanup
# role (AWSServiceRoleForEMRCleanup) at an account's first cluster launch, with the launching caller's
# permission (iam:CreateServiceLinkedRole): a caller without it gets a cluster that ends at once with
# VALIDATION_ERROR. The twin creates the role at the first launch and records the request under the
# launching function (current_function names it), so the IAM report evaluates it against that
# function's role; allowed(function) says at once whether the launch may go on.
CLEANUP_ROLE = "AWSServiceRoleForEMRCleanup"
EMR_SERVICE = "elasticmapreduce.amazonaws.com"


def patch_emr_cleanup_role(current_function, record, allowed):
    import moto.iam.models as iam_models

    original = emr_models.ElasticMapReduceBackend.run_job_flow

    def run_job_flow(self, **kwargs):
        cluster = original(self, **kwargs)
        iam = iam_models.iam_backends[self.account_id]["aws"]
        try:
            iam.get_role(CLEANUP_ROLE)
            return cluster
        except Exception:
            pass
        fn = current_function()
        record(fn, "iam", "CreateServiceLinkedRole", {"AWSServiceName": EMR_SERVICE, "RoleName": CLEANUP_ROLE})
        if fn is not None and not allowed(fn):
            cluster._twin_start_failure = ("VALIDATION_ERROR", "Service-linked role " + CLEANUP_ROLE + " does not exist and the caller may not create it (iam:CreateServiceLinkedRole)")
            return cluster
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": EMR_SERVICE}, "Action": "sts:AssumeRole"}]})
        iam.create_role(CLEANUP_ROLE, trust, f"/aws-service-role/{EMR_SERVICE}/", None, "EMR's cleanup role", [], None)
        return cluster

    emr_models.ElasticMapReduceBackend.run_job_flow = run_job_flow


# 11. CloudWatch alarms in CloudFormation. Upstream, AWS::CloudWatch::Alarm is not supported: a stack's
# alarms are left out ("No Moto CloudFormation support"), so nothing can read them. The twin creates
# them in CloudWatch with the template's properties (metric alarms, INSUFFICIENT_DATA until a
# scenario sets their state, as on AWS before the first evaluation), named as CloudFormation names
# them, and deletes them with the stack.
def patch_cloudwatch_alarms():
    import moto.cloudformation.parsing as parsing
    import moto.cloudwatch.models as cw
    from moto.core.common_models import CloudFormationModel

    class AlarmResource(CloudFormationModel):
        def __init__(self, alarm):
            self.alarm = alarm
            self.physical_resource_id = alarm.name

        @staticmethod
        def cloudformation_name_type():
            return "AlarmName"

        @staticmethod
        def cloudformation_type():
            return "AWS::CloudWatch::Alarm"

        @classmethod
        def has_cfn_attr(cls, attr):
            return attr == "Arn"

        def get_cfn_attribute(self, attr):
            if attr == "Arn":
                return self.alarm.alarm_arn
            raise KeyError(attr)

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            p = cloudformation_json["Properties"]
            alarm = cw.cloudwatch_backends[account_id][region_name].put_metric_alarm(
                name=p.get("AlarmName") or resource_name, namespace=p.get("Namespace"), metric_name=p.get("MetricName"),
                comparison_operator=p["ComparisonOperator"], evaluation_periods=int(p["EvaluationPeriods"]), period=int(p.get("Period", 60)),
                threshold=float(p.get("Threshold", 0)), statistic=p.get("Statistic"), description=p.get("AlarmDescription", ""),
                dimensions=p.get("Dimensions", []), alarm_actions=p.get("AlarmActions", []), ok_actions=p.get("OKActions"),
                treat_missing_data=p.get("TreatMissingData"), datapoints_to_alarm=p.get("DatapointsToAlarm"))
            return cls(alarm)

        @classmethod
        def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
            cw.cloudwatch_backends[account_id][region_name].delete_alarms([original_resource.physical_resource_id])
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
            cw.cloudwatch_backends[account_id][region_name].delete_alarms([resource_name])

        def is_created(self):
            return True

    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
