"""Evaluates every AWS call the functions made against their own roles' policies, offline, with
@cloud-copilot/iam-simulate (tools/twin/iam): each recorded call becomes the IAM request AWS makes for
it (action, resource ARN, the condition keys the call carries: request tags, the cluster's resource
tags, the passed role and the service it is passed to), evaluated against the role's policies as moto
holds them after the deploy. The report lists denied calls, and every granted action no call used
(each must be removed from the stack or justified in tools/twin/iam/justified.json)."""
import fnmatch
import json
import os
import subprocess
import urllib.parse

import moto.awslambda.models as lambda_models
import moto.emr.models as emr_models
import moto.iam.models as iam_models

HERE = os.path.dirname(os.path.abspath(__file__))
IAM_DIR = os.path.join(os.path.dirname(HERE), "iam")

_SERVICE_POLICY_FIXTURE = os.path.join(IAM_DIR, "fixtures", "AmazonEMRServicePolicy_v2.json")
MANAGED_TAG = "for-use-with-amazon-emr-managed-policies"

_TRANSACT = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}


def _queue_arn(account, region, params):
    if params.get("QueueArn"):
        return params["QueueArn"]
    url = params.get("QueueUrl", "")
    return f"arn:aws:sqs:{region}:{account}:{urllib.parse.urlparse(url).path.rstrip('/').split('/')[-1]}"


def _cluster(account, region, cid):
    return emr_models.emr_backends[account][region].clusters.get(cid)


def _role_arn(iam, account, name):
    if name.startswith("arn:"):
        return name
    try:
        return iam.get_role(name).arn
    except Exception:
        return f"arn:aws:iam::{account}:role/{name}"


def requests_for(call, account, region):
    """The IAM requests (action, resource, context) one recorded call makes."""
    svc, act, p = call["service"], call["action"], call.get("params") or {}
    table = lambda name: f"arn:aws:dynamodb:{region}:{account}:table/{name}"
    if act.endswith(":Throttled"):
        return []
    if svc == "dynamodb":
        if act == "TransactWriteItems" or act == "TransactGetItems":
            out = []
            for item in p.get("TransactItems", []):
                for k, v in item.items():
                    out.append(("dynamodb:" + _TRANSACT[k], table(v["TableName"]), {}))
            return out
        res = table(p.get("TableName", ""))
        if p.get("IndexName"):
            res += "/index/" + p["IndexName"]
        return [("dynamodb:" + act, res, {})]
    if svc == "sqs":
        return [("sqs:" + act, _queue_arn(account, region, p), {})]
    if svc == "iam" and act == "CreateServiceLinkedRole":
        # Made by EMR on the launching caller's behalf (patches.patch_emr_cleanup_role).
        name = p.get("AWSServiceName", "")
        return [("iam:CreateServiceLinkedRole", f"arn:aws:iam::{account}:role/aws-service-role/{name}/{p.get('RoleName', '')}", {"iam:AWSServiceName": name})]
    if svc == "states":
        res = p.get("stateMachineArn") or p.get("executionArn") or "*"
        return [("states:" + act, res, {})]
    if svc == "elasticmapreduce":
        iam = iam_models.iam_backends[account]["aws"]
        if act == "RunJobFlow":
            tags = {t["Key"]: t["Value"] for t in p.get("Tags", [])}
            ctx = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
            ctx["aws:TagKeys"] = sorted(tags)
            out = [("elasticmapreduce:RunJobFlow", "*", ctx)]
            if p.get("ServiceRole"):
                out.append(("iam:PassRole", _role_arn(iam, account, p["ServiceRole"]), {"iam:PassedToService": "elasticmapreduce.amazonaws.com"}))
            if p.get("JobFlowRole"):
                try:
                    roles = [r.arn for r in iam.get_instance_profile(p["JobFlowRole"]).roles]
                except Exception:
                    roles = [_role_arn(iam, account, p["JobFlowRole"])]
                for r in roles:
                    out.append(("iam:PassRole", r, {"iam:PassedToService": "ec2.amazonaws.com"}))
            return out
        ids = p.get("JobFlowIds") or [p.get("ClusterId") or p.get("JobFlowId") or p.get("ResourceId")]
        out = []
        for cid in ids:
            c = _cluster(account, region, cid)
            ctx = {}
            for k, v in (getattr(c, "_tags", {}) or {}).items():
                ctx[f"elasticmapreduce:ResourceTag/{k}"] = v
                ctx[f"aws:ResourceTag/{k}"] = v
            out.append(("elasticmapreduce:" + act, f"arn:aws:elasticmapreduce:{region}:{account}:cluster/{cid}", ctx))
        return out
    if svc == "scheduler":
        # EventBridge Scheduler is a REST API: the action is the method on /schedules/{Name}.
        method, _, path = act.partition(" ")
        name = urllib.parse.unquote(path.rsplit("/", 1)[-1])
        verb = {"POST": "CreateSchedule", "PUT": "UpdateSchedule", "GET": "GetSchedule", "DELETE": "DeleteSchedule"}.get(method, method)
        group = p.get("GroupName") or "default"
        out = [("scheduler:" + verb, f"arn:aws:scheduler:{region}:{account}:schedule/{group}/{name}", {})]
        role = (p.get("Target") or {}).get("RoleArn")
        if role:
            out.append(("iam:PassRole", role, {"iam:PassedToService": "scheduler.amazonaws.com"}))
        return out
    return [(f"{svc}:{act}", "*", {})]


def schedule_role_requests(call):
    """What EventBridge Scheduler does with a schedule's role when it fires: send the input to the
    target queue, or what it cannot deliver to the dead-letter queue. Returns (role ARN, requests)
    or None."""
    p = call.get("params") or {}
    target = p.get("Target") or {}
    if call["service"] != "scheduler" or not target.get("RoleArn"):
        return None
    out = [("sqs:SendMessage", target.get("Arn", ""), {}, "the schedule role must be allowed to send to the schedule's target")]
    dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
    if dlq:
        out.append(("sqs:SendMessage", dlq, {}, "the schedule role must be allowed to send to the schedule's dead-letter queue"))
    return target["RoleArn"], out


def _policies(account, role_arn):
    """The role's identity policies as moto holds them: inline, and managed ones; AWS's v2 EMR service
    policy is taken from the fixture (its documented statements, with their source)."""
    iam = iam_models.iam_backends[account]["aws"]
    try:
        role = iam.get_role_by_arn(role_arn)
    except Exception:
        return []  # no such role: nothing is allowed
    out = []
    for name, doc in role.policies.items():
        out.append({"name": name, "policy": json.loads(doc) if isinstance(doc, str) else doc, "inline": True})
    for arn, pol in role.managed_policies.items():
        if arn.endswith("/AmazonEMRServicePolicy_v2"):
            doc = json.load(open(_SERVICE_POLICY_FIXTURE))["document"]
        else:
            doc = next((v.document for v in pol.versions if v.version_id == pol.default_version_id), None)
        out.append({"name": arn, "policy": json.loads(doc) if isinstance(doc, str) else doc, "inline": False})
    return out


def service_role_requests(call, account, region):
    """What EMR's service role does for a RunJobFlow: launch instances into the cluster's subnets
    (whose tags the v2 policy checks), tagged as the cluster is, with the instance profile's role
    passed to EC2. Returns (service role ARN, requests) or None."""
    p = call.get("params") or {}
    if call["service"] != "elasticmapreduce" or call["action"] != "RunJobFlow" or not p.get("ServiceRole"):
        return None
    iam = iam_models.iam_backends[account]["aws"]
    role_arn = _role_arn(iam, account, p["ServiceRole"])
    inst = p.get("Instances") or {}
    subnets = list(inst.get("Ec2SubnetIds") or []) + ([inst["Ec2SubnetId"]] if inst.get("Ec2SubnetId") else [])
    import moto.ec2.models as ec2_models

    ec2 = ec2_models.ec2_backends[account][region]
    out = []
    if not subnets:
        out.append(("ec2:RunInstances", f"arn:aws:ec2:{region}:{account}:subnet/default-vpc-subnet", {}, "no subnet given: EMR uses the default VPC's subnet, which needs the tag " + MANAGED_TAG + "=true"))
    for sid in subnets:
        ctx = {}
        try:
            tags = {t["key"]: t["value"] for t in ec2.describe_tags(filters={"resource-id": [sid]})}
        except Exception:
            tags = {}
        if MANAGED_TAG in tags:
            ctx["aws:ResourceTag/" + MANAGED_TAG] = tags[MANAGED_TAG]
        out.append(("ec2:RunInstances", f"arn:aws:ec2:{region}:{account}:subnet/{sid}", ctx, f"subnet {sid} must be tagged {MANAGED_TAG}=true"))
        # Without security groups of its own in the subnet's VPC, EMR creates its default ones there,
        # which the v2 policy allows only in a VPC tagged for it.
        try:
            vpc = ec2.get_subnet(sid).vpc_id
        except Exception:
            continue
        groups = [g for g in ec2.describe_security_groups(filters={"vpc-id": [vpc]}) if g.name.startswith("ElasticMapReduce-")]
        if not groups:
            vtags = {t["key"]: t["value"] for t in ec2.describe_tags(filters={"resource-id": [vpc]})}
            vctx = {"aws:ResourceTag/" + MANAGED_TAG: vtags[MANAGED_TAG]} if MANAGED_TAG in vtags else {}
            out.append(("ec2:CreateSecurityGroup", f"arn:aws:ec2:{region}:{account}:vpc/{vpc}", vctx,
                        f"EMR creates its default security groups in {vpc}, which must be tagged {MANAGED_TAG}=true"))
    tags = {t["Key"]: t["Value"] for t in p.get("Tags", [])}
    ctx = {"aws:RequestTag/" + k: v for k, v in tags.items()}
    ctx["aws:TagKeys"] = sorted(tags)
    out.append(("ec2:RunInstances", f"arn:aws:ec2:{region}:{account}:instance/*", ctx, f"the cluster must be tagged {MANAGED_TAG}=true (EMR tags its instances so)"))
    if p.get("JobFlowRole"):
        try:
            roles = [r.arn for r in iam.get_instance_profile(p["JobFlowRole"]).roles]
        except Exception:
            roles = [_role_arn(iam, account, p["JobFlowRole"])]
        for r in roles:
            out.append(("iam:PassRole", r, {"iam:PassedToService": "ec2.amazonaws.com"}, "the service role must be allowed to pass the instance profile's role to EC2"))
    return role_arn, out


def evaluate(requests):
    """Evaluates IAM requests ({principal, action, resource, context, policies}) with the offline
    evaluator; one result ({decision, detail}) per request."""
    if not requests:
        return []
    proc = subprocess.run(["node", os.path.join(IAM_DIR, "evaluate.mjs")], input=json.dumps({"requests": requests}).encode(),
                          capture_output=True, cwd=IAM_DIR, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError("iam evaluator: " + proc.stderr.decode(errors="replace")[-2000:])
    return json.loads(proc.stdout)


def simulate(account, principal, actions, resources, context):
    """What IAM's SimulatePrincipalPolicy answers for a role: each action on each resource evaluated
    against the role's identity policies, context holding the condition keys. Returns (action,
    resource, decision) with IAM's decision names (allowed, explicitDeny, implicitDeny)."""
    pols = [{"name": p["name"], "policy": p["policy"]} for p in _policies(account, principal)]
    pairs = [(a, r) for a in actions for r in resources]
    reqs = [{"principal": principal, "action": a, "resource": r, "context": context, "policies": pols} for a, r in pairs]
    names = {"Allowed": "allowed", "ExplicitlyDenied": "explicitDeny"}
    return [(a, r, names.get(res["decision"], "implicitDeny")) for (a, r), res in zip(pairs, evaluate(reqs))]


def _actions(statement):
    a = statement.get("Action", [])
    return [a] if isinstance(a, str) else a


def report(calls, account, region, justified):
    functions = {fn.function_name: fn for fn in lambda_models.lambda_backends[account][region]._lambdas.all()}
    requests, meta = [], []
    policies = {}
    for call in calls:
        fn = functions.get(call["function"])
        if fn is None:
            continue
        if fn.function_name not in policies:
            policies[fn.function_name] = _policies(account, fn.role)
        for action, resource, ctx in requests_for(call, account, region):
            key = (fn.function_name, action, resource, json.dumps(ctx, sort_keys=True))
            meta.append(key)
            requests.append({"principal": fn.role, "action": action, "resource": resource, "context": ctx,
                             "policies": [{"name": p["name"], "policy": p["policy"]} for p in policies[fn.function_name]]})
    # What a service does with a role a call hands it, against that role's own policies: EMR's
    # service role for each RunJobFlow, EventBridge Scheduler's schedule role for each schedule.
    why = {}
    for principal, role_requests in (("emr-service-role", lambda call: service_role_requests(call, account, region)),
                                     ("schedule-role", schedule_role_requests)):
        for call in calls:
            _add_role_requests(principal, role_requests(call), account, requests, meta, why)
    # Evaluate each distinct request once.
    distinct = {}
    for key, req in zip(meta, requests):
        distinct.setdefault(key, req)
    keys = list(distinct)
    results = evaluate([distinct[k] for k in keys])
    denied = []
    used = {}
    for key, res in zip(keys, results):
        fname, action, resource, ctx = key
        used.setdefault(fname, set()).add(action.lower())
        if res["decision"] != "Allowed":
            denied.append({"function": fname, "action": action, "resource": resource, "context": json.loads(ctx), "decision": res["decision"],
                           "detail": why.get(key) or res["detail"]})
    unused, explained = [], []
    for fname, pols in policies.items():
        logical = _logical(fname)
        for p in pols:
            if not p["inline"]:
                continue
            for st in p["policy"].get("Statement", []):
                if st.get("Effect") != "Allow":
                    continue
                for pattern in _actions(st):
                    if any(fnmatch.fnmatch(a, pattern.lower()) for a in used.get(fname, ())):
                        continue
                    why = justified.get(logical, {}).get(pattern)
                    entry = {"function": logical, "action": pattern, "sid": st.get("Sid", "")}
                    if why:
                        entry["why"] = why
                        explained.append(entry)
                    else:
                        unused.append(entry)
    return {"calls": len(requests), "distinct": len(keys), "denied": denied, "unused": unused, "justified": explained,
            "functions": sorted(_logical(f) for f in policies),
            "used": {_logical(f): sorted(a) for f, a in used.items()}}


def _add_role_requests(principal, got, account, requests, meta, why):
    """Adds what a service does with a role (got: the role and its requests, or None) to the requests
    to evaluate, each keyed under principal and with the reason it is made."""
    if got is None:
        return
    role_arn, reqs = got
    pols = _policies(account, role_arn)
    for action, resource, ctx, reason in reqs:
        key = (principal, action, resource, json.dumps(ctx, sort_keys=True))
        why[key] = reason
        meta.append(key)
        requests.append({"principal": role_arn, "action": action, "resource": resource, "context": ctx,
                         "policies": [{"name": p["name"], "policy": p["policy"]} for p in pols]})


def _logical(physical):
    """The function's name in the stack (intake, reserve, ...) from its physical name."""
    for name in ("emr-events", "emrevents", "intake", "reserve", "submit", "finish", "reconcile", "pool"):
        if f"Functions{name}" in physical.replace("-", ""):
            return "emr-events" if name in ("emr-events", "emrevents") else name
    return physical
