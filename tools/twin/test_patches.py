"""Each twin patch on its own, against moto 5.2.1 in process: what upstream does is the reason for the
patch, and each test fails without it. Run: python3 -m unittest tools/twin/test_patches.py"""
import io
import json
import os
import sys
import time
import unittest
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from sparkflow_twin import patches  # noqa: E402


class FakeRuntime:
    def __init__(self):
        self.sync, self.async_ = [], []

    def invoke(self, fn, payload):
        self.sync.append((fn.function_name, json.loads(payload)))
        return (b"boom" not in payload), json.dumps({"errorType": "X", "errorMessage": "boom"} if b"boom" in payload else {"ok": True}).encode()

    def invoke_async(self, fn, payload, on_failure=None):
        self.async_.append((fn.function_name, json.loads(payload)))


class FakePlayer:
    def __init__(self):
        self.launched_ids, self.added, self.cancelled, self.ended = [], [], [], []

    def launched(self, cl):
        self.launched_ids.append(cl.id)

    def steps_added(self, cl, steps):
        self.added.extend(s.id for s in steps)

    def cancel(self, cl, sid):
        self.cancelled.append(sid)
        return True

    def terminate(self, cl, code, msg):
        self.ended.append((cl.id, code))


RUNTIME, PLAYER = FakeRuntime(), FakePlayer()
EXEC_EVENTS = []
patches.patch_stepfunctions()
patches.patch_lambda(RUNTIME)
patches.patch_sqs()
patches.patch_events(RUNTIME, patches.lambda_backend_for)
patches.patch_emr(PLAYER)
patches.patch_execution_events(lambda account, region, entries: EXEC_EVENTS.extend(entries))
patches.patch_dynamodb()
patches.patch_iam_roles()
from sparkflow_twin import iam as twin_iam  # noqa: E402

patches.patch_iam_simulation(twin_iam.simulate)
patches.patch_cloudwatch_alarms()
LAUNCHER = {"function": "pool-fn", "allowed": True}
LAUNCH_RECORDS = []
patches.patch_emr_cleanup_role(lambda: LAUNCHER["function"], lambda *call: LAUNCH_RECORDS.append(call), lambda fn: LAUNCHER["allowed"])

ROLE = "arn:aws:iam::123456789012:role/r"


def function(client, name):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\n")
    return client.create_function(FunctionName=name, Runtime="provided.al2023", Role=ROLE, Handler="bootstrap", Code={"ZipFile": buf.getvalue()})["FunctionArn"]


@mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "iam": {"load_aws_managed_policies": False}})
class Patches(unittest.TestCase):
    def setUp(self):
        iam = boto3.client("iam")
        try:
            iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")
        except Exception:
            pass

    def test_stepfunctions_second_execution_and_cloudformation_state_machines(self):
        sfn = boto3.client("stepfunctions")
        wait = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": True}}}
        a = sfn.create_state_machine(name="a", definition=json.dumps(wait), roleArn=ROLE)["stateMachineArn"]
        b = sfn.create_state_machine(name="b", definition=json.dumps(wait), roleArn=ROLE)["stateMachineArn"]
        sfn.start_execution(stateMachineArn=a, name="one", input="{}")
        # Upstream, this second start deep-copies a's running execution and fails to pickle its lock.
        sfn.start_execution(stateMachineArn=b, name="two", input="{}")
        sfn.start_execution(stateMachineArn=a, name="three", input="{}")
        self.assertEqual(len(sfn.list_executions(stateMachineArn=a)["executions"]), 2)
        # A state machine that CloudFormation creates is one the executing backend serves.
        tmpl = {"Resources": {"M": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {"StateMachineName": "cfn", "DefinitionString": json.dumps(wait), "RoleArn": ROLE}}}}
        boto3.client("cloudformation").create_stack(StackName="s", TemplateBody=json.dumps(tmpl))
        arn = "arn:aws:states:us-east-1:123456789012:stateMachine:cfn"
        self.assertEqual(sfn.describe_state_machine(stateMachineArn=arn)["name"], "cfn")
        sfn.start_execution(stateMachineArn=arn, name="x", input="{}")

    def test_lambda_invoke_runs_through_the_runtime(self):
        lam = boto3.client("lambda")
        function(lam, "f")
        out = lam.invoke(FunctionName="f", Payload=b'{"a": 1}')
        self.assertEqual(json.loads(out["Payload"].read()), {"ok": True})
        self.assertNotIn("FunctionError", out)
        bad = lam.invoke(FunctionName="f", Payload=b'{"boom": 1}')
        self.assertEqual(bad["FunctionError"], "Unhandled")
        self.assertEqual(json.loads(bad["Payload"].read())["errorType"], "X")
        lam.invoke(FunctionName="f", InvocationType="Event", Payload=b'{"later": 1}')
        self.assertIn(("f", {"later": 1}), RUNTIME.async_)

    def test_sqs_send_does_not_invoke_the_mapped_function_inline(self):
        lam, sqs = boto3.client("lambda"), boto3.client("sqs")
        function(lam, "consumer")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="consumer", BatchSize=10)
        before = len(RUNTIME.sync)
        sqs.send_message(QueueUrl=url, MessageBody="hello")
        self.assertEqual(len(RUNTIME.sync), before, "upstream invokes the function inside SendMessage")
        self.assertEqual(sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"], "hello")

    def test_eventbridge_delivers_to_lambda_asynchronously_in_its_envelope(self):
        lam, ev = boto3.client("lambda"), boto3.client("events")
        fn = function(lam, "handler")
        ev.put_rule(Name="emr", EventPattern=json.dumps({"source": ["aws.emr"]}))
        ev.put_targets(Rule="emr", Targets=[{"Id": "1", "Arn": fn}])
        # Upstream, a Lambda target raises NotImplementedError.
        ev.put_events(Entries=[{"Source": "aws.emr", "DetailType": "EMR Step Status Change", "Detail": json.dumps({"state": "RUNNING"}), "Time": "2026-11-24T10:00:00Z"}])
        got = [p for name, p in RUNTIME.async_ if name == "handler"]
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0]["detail"], {"state": "RUNNING"})
        self.assertNotIn("ingestion-time", got[0])
        self.assertEqual(sorted(got[0]), sorted(["version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"]))
        # An SQS target gets the same envelope as the message body.
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="events")["QueueUrl"]
        qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        ev.put_rule(Name="emr-to-queue", EventPattern=json.dumps({"source": ["aws.emr"], "detail": {"name": [{"prefix": "sparkflow/A:"}]}}))
        ev.put_targets(Rule="emr-to-queue", Targets=[{"Id": "1", "Arn": qarn}])
        ev.put_events(Entries=[{"Source": "aws.emr", "DetailType": "EMR Step Status Change", "Detail": json.dumps({"name": "sparkflow/A:r:1:t"}), "Time": "2026-11-24T10:00:00Z"},
                               {"Source": "aws.emr", "DetailType": "EMR Step Status Change", "Detail": json.dumps({"name": "sparkflow/B:r:1:t"}), "Time": "2026-11-24T10:00:00Z"}])
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        self.assertEqual(len(msgs), 1, "only the event whose name has the rule's prefix")
        body = json.loads(msgs[0]["Body"])
        self.assertEqual(sorted(body), sorted(["version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"]))
        self.assertEqual(body["detail"], {"name": "sparkflow/A:r:1:t"})
        self.assertEqual(body["time"], "2026-11-24T10:00:00Z")
        # Upstream, a scheduled rule (no event pattern) matches every event on the bus.
        tick = function(lam, "ticker")
        ev.put_rule(Name="tick", ScheduleExpression="rate(5 minutes)")
        ev.put_targets(Rule="tick", Targets=[{"Id": "1", "Arn": tick}])
        ev.put_events(Entries=[{"Source": "aws.emr", "DetailType": "EMR Step Status Change", "Detail": "{}"}])
        self.assertEqual([p for name, p in RUNTIME.async_ if name == "ticker"], [])

    def test_emr_clusters_start_and_steps_wait_for_the_player(self):
        emr = boto3.client("emr")
        cid = emr.run_job_flow(Name="c", ReleaseLabel="emr-7.5.0", Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True},
                               JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole")["JobFlowId"]
        status = emr.describe_cluster(ClusterId=cid)["Cluster"]["Status"]
        self.assertEqual(status["State"], "STARTING")
        self.assertNotIn("ReadyDateTime", status.get("Timeline", {}))  # set by the player when it is ready
        self.assertIn(cid, PLAYER.launched_ids)
        sid = emr.add_job_flow_steps(JobFlowId=cid, Steps=[{"Name": "s", "ActionOnFailure": "CONTINUE", "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["true"]}}])["StepIds"][0]
        self.assertEqual(emr.list_steps(ClusterId=cid)["Steps"][0]["Status"]["State"], "PENDING")
        self.assertIn(sid, PLAYER.added)
        # Upstream, CancelSteps is not implemented.
        out = emr.cancel_steps(ClusterId=cid, StepIds=[sid])
        self.assertEqual(out["CancelStepsInfoList"][0]["Status"], "SUBMITTED")
        self.assertIn(sid, PLAYER.cancelled)
        emr.terminate_job_flows(JobFlowIds=[cid])
        self.assertIn((cid, "USER_REQUEST"), PLAYER.ended)


    def test_an_ended_execution_is_an_event(self):
        sfn = boto3.client("stepfunctions")
        wait = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": True}}}
        arn = sfn.create_state_machine(name="stopme", definition=json.dumps(wait), roleArn=ROLE)["stateMachineArn"]
        ex = sfn.start_execution(stateMachineArn=arn, name="run-1", input="{}")["executionArn"]
        sfn.stop_execution(executionArn=ex, error="Operator", cause="stopped")
        # Upstream, the execution stays RUNNING until its wait would have ended.
        self.assertEqual(sfn.describe_execution(executionArn=ex)["status"], "ABORTED")
        deadline = time.time() + 10
        while time.time() < deadline and not any(e["Source"] == "aws.states" for e in EXEC_EVENTS):
            time.sleep(0.05)
        got = [json.loads(e["Detail"]) for e in EXEC_EVENTS if e["DetailType"] == "Step Functions Execution Status Change"]
        self.assertTrue(got, "upstream emits no execution status event")
        self.assertEqual((got[-1]["name"], got[-1]["status"], got[-1]["stateMachineArn"]), ("run-1", "ABORTED", arn))


    def test_dynamodb_conditional_transactions_are_isolated(self):
        import threading

        ddb = boto3.client("dynamodb")
        ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        ddb.put_item(TableName="t", Item={"pk": {"S": "slots"}, "n": {"N": "0"}})
        won = []

        def take(i):
            try:
                ddb.transact_write_items(TransactItems=[
                    {"Update": {"TableName": "t", "Key": {"pk": {"S": "slots"}}, "UpdateExpression": "SET n = n + :one",
                                "ConditionExpression": "n < :cap", "ExpressionAttributeValues": {":one": {"N": "1"}, ":cap": {"N": "2"}}}},
                    {"Put": {"TableName": "t", "Item": {"pk": {"S": f"holder-{i}"}}}}])
                won.append(i)
            except Exception:
                pass

        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # switch threads as often as Python allows, as a busy server does
        try:
            threads = [threading.Thread(target=take, args=(i,)) for i in range(40)]
            [t.start() for t in threads]
            [t.join() for t in threads]
        finally:
            sys.setswitchinterval(interval)
        n = int(ddb.get_item(TableName="t", Key={"pk": {"S": "slots"}})["Item"]["n"]["N"])
        self.assertEqual((len(won), n), (2, 2), "two slots, so two winners")


    def test_cloudformation_roles_get_their_managed_policies(self):
        iam = boto3.client("iam")
        arn = iam.create_policy(PolicyName="managed", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))["Policy"]["Arn"]
        tmpl = {"Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "withmanaged", "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []}, "ManagedPolicyArns": [arn]}}}}
        boto3.client("cloudformation").create_stack(StackName="roles", TemplateBody=json.dumps(tmpl))
        attached = iam.list_attached_role_policies(RoleName="withmanaged")["AttachedPolicies"]
        self.assertEqual([a["PolicyArn"] for a in attached], [arn], "upstream ignores ManagedPolicyArns")

    def test_iam_simulation_evaluates_the_roles_policies(self):
        iam = boto3.client("iam")
        arn = iam.create_role(RoleName="sim", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        iam.put_role_policy(RoleName="sim", PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::code/*"},
            {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::code/locked/*"},
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*", "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}}]}))

        def decision(action, resource, context=()):
            # Upstream, SimulatePrincipalPolicy is not implemented.
            out = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=[action], ResourceArns=[resource],
                                                ContextEntries=[{"ContextKeyName": k, "ContextKeyValues": [v], "ContextKeyType": "string"} for k, v in context])
            return out["EvaluationResults"][0]["EvalDecision"]

        self.assertEqual(decision("s3:GetObject", "arn:aws:s3:::code/job.jar"), "allowed")
        self.assertEqual(decision("s3:GetObject", "arn:aws:s3:::other/job.jar"), "implicitDeny")
        self.assertEqual(decision("s3:PutObject", "arn:aws:s3:::code/locked/x"), "explicitDeny")
        self.assertEqual(decision("iam:PassRole", "arn:aws:iam::123456789012:role/x", [("iam:PassedToService", "ec2.amazonaws.com")]), "allowed")
        self.assertEqual(decision("iam:PassRole", "arn:aws:iam::123456789012:role/x", [("iam:PassedToService", "lambda.amazonaws.com")]), "implicitDeny")

    def test_first_launch_creates_emrs_cleanup_role_with_the_callers_permission(self):
        emr, iam = boto3.client("emr"), boto3.client("iam")

        def launch():
            return emr.run_job_flow(Name="c", ReleaseLabel="emr-7.5.0", Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True},
                                    JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole")["JobFlowId"]

        try:
            iam.delete_role(RoleName=patches.CLEANUP_ROLE)
        except Exception:
            pass
        LAUNCH_RECORDS.clear()
        # A caller that may not create the role: its cluster will fail to start, and no role exists.
        LAUNCHER["allowed"] = False
        import moto.emr.models as emr_models

        denied = launch()
        cluster = emr_models.emr_backends["123456789012"]["us-east-1"].clusters[denied]
        self.assertEqual(cluster._twin_start_failure[0], "VALIDATION_ERROR")
        self.assertRaises(Exception, iam.get_role, RoleName=patches.CLEANUP_ROLE)
        self.assertEqual([r[:3] for r in LAUNCH_RECORDS], [("pool-fn", "iam", "CreateServiceLinkedRole")])
        # A caller that may: the role exists after the launch, and the next launch asks nothing.
        LAUNCHER["allowed"] = True
        ok = launch()
        self.assertFalse(hasattr(emr_models.emr_backends["123456789012"]["us-east-1"].clusters[ok], "_twin_start_failure"))
        self.assertEqual(iam.get_role(RoleName=patches.CLEANUP_ROLE)["Role"]["Path"], "/aws-service-role/elasticmapreduce.amazonaws.com/")
        launch()
        self.assertEqual(len(LAUNCH_RECORDS), 2, "upstream asks nothing of IAM; the twin asks once per missing role")

    def test_cloudformation_creates_the_stacks_alarms(self):
        cf, cw = boto3.client("cloudformation"), boto3.client("cloudwatch")
        tmpl = {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}, "DlqNotEmpty": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "AlarmDescription": "SparkFlow: a DLQ has messages", "Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["Q", "QueueName"]}}], "Statistic": "Maximum", "Period": 300,
            "EvaluationPeriods": 1, "Threshold": 1, "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching"}}}}
        cf.create_stack(StackName="alarms", TemplateBody=json.dumps(tmpl))
        res = {r["LogicalResourceId"]: r for r in cf.describe_stack_resources(StackName="alarms")["StackResources"]}
        self.assertIn("DlqNotEmpty", res, "upstream leaves the alarm out of the stack")
        name = res["DlqNotEmpty"]["PhysicalResourceId"]
        alarms = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        self.assertEqual([(a["AlarmDescription"], a["Threshold"], a["Dimensions"][0]["Name"]) for a in alarms], [("SparkFlow: a DLQ has messages", 1.0, "QueueName")])
        cf.delete_stack(StackName="alarms")
        self.assertEqual(cw.describe_alarms(AlarmNames=[name])["MetricAlarms"], [])


class Envelope(unittest.TestCase):
    def test_time_is_rfc3339_seconds(self):
        out = patches.eventbridge_envelope({"version": "0", "id": "i", "time": 0.0, "detail": {}, "ingestion-time": 1})
        self.assertEqual(out["time"], "1970-01-01T00:00:00Z")
        self.assertNotIn("ingestion-time", out)


if __name__ == "__main__":
    unittest.main()
