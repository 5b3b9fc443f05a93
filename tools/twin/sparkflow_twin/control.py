"""The twin's control API, for the tests (127.0.0.1 only): EMR faults and losses, throttling, firing
scheduled rules, pausing a queue's poller, and what the twin recorded (calls, invocations, events)."""
import datetime
import json
import os
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import moto.events.models as events_models


def fire_schedules(account, region, name_contains, runtime=None):
    """Fires the scheduled rules whose name contains name_contains now, as EventBridge would at their
    next tick, and returns their names. With a runtime, Lambda targets are invoked synchronously, so
    that the caller knows the pass has run when this returns."""
    backend = events_models.events_backends[account][region]
    fired = []
    for bus in backend.event_buses.values():
        for rule in list(bus.rules.values()):
            if not rule.scheduled_expression or name_contains not in rule.name:
                continue
            event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
                     "account": account, "time": datetime.datetime.now(tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "region": region, "resources": [rule.arn], "detail": {}}
            if runtime is None:
                rule.send_to_targets(event, scheduled=True)
            else:
                import moto.awslambda.models as lm

                for target in rule.targets:
                    if ":lambda:" in target["Arn"]:
                        fn = lm.lambda_backends[account][region].get_function(target["Arn"])
                        ok, body = runtime.invoke(fn, json.dumps(event).encode(), wait=True)
                        fired.append({"rule": rule.name, "ok": ok, "output": body.decode(errors="replace")})
                continue
            fired.append(rule.name)
    return fired


def serve(twin):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _reply(self, code, obj):
            body = json.dumps(obj, default=str).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path.startswith("/calls"):
                since = float(self.path.split("since=")[1]) if "since=" in self.path else 0.0
                return self._reply(200, twin.recorder.snapshot(since))
            if self.path == "/stats":
                s = twin.runtime.stats()
                s["emitted"] = len(twin.player.emitted)
                s["dropped"] = len(twin.player.dropped)
                return self._reply(200, s)
            if self.path == "/iam/report":
                from . import iam

                path = os.path.join(iam.IAM_DIR, "justified.json")
                justified = json.load(open(path)) if os.path.exists(path) else {}
                try:
                    return self._reply(200, iam.report(twin.recorder.snapshot(), twin.account, twin.region, justified))
                except Exception as e:
                    return self._reply(500, {"error": repr(e)})
            if self.path == "/events/delivered":
                from . import patches

                return self._reply(200, list(patches.DELIVERED))
            if self.path == "/health":
                return self._reply(200, {"ok": True})
            self._reply(404, {"error": "no route " + self.path})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            p = twin.player
            if self.path == "/emr/faults":
                with p.lock:
                    p.faults.extend(body.get("faults", []))
                return self._reply(200, {"ok": True})
            if self.path == "/emr/clear":
                with p.lock:
                    p.faults.clear()
                    p.start_failures.clear()
                twin.recorder.throttle.clear()
                return self._reply(200, {"ok": True})
            if self.path == "/emr/lose":
                return self._reply(200, {"lost": p.lose(body["clusterId"], body.get("code", "INSTANCE_FAILURE"))})
            if self.path == "/emr/start-failures":
                with p.lock:
                    p.start_failures.setdefault(body.get("pool", "*"), []).extend(body["codes"])
                return self._reply(200, {"ok": True})
            if self.path == "/emr/config":
                if "provisionSeconds" in body:
                    p.provision_seconds = float(body["provisionSeconds"])
                return self._reply(200, {"ok": True})
            if self.path == "/throttle":
                twin.recorder.throttle[body.get("service", "elasticmapreduce")] = float(body.get("rate", 0))
                return self._reply(200, {"ok": True})
            if self.path == "/schedule/hold":
                with twin.schedules.lock:
                    twin.schedules.held += 1 if body.get("hold", True) else -1
                    twin.schedules.held = max(twin.schedules.held, 0)
                return self._reply(200, {"held": twin.schedules.held})
            if self.path == "/schedule/fire":
                rt = twin.runtime if body.get("sync") else None
                return self._reply(200, {"fired": fire_schedules(twin.account, twin.region, body.get("nameContains", ""), rt)})
            if self.path == "/fail-next":
                with twin.recorder.lock:
                    key = (body.get("function", ""), body["action"])
                    twin.recorder.fail_next[key] = twin.recorder.fail_next.get(key, 0) + int(body.get("count", 1))
                return self._reply(200, {"ok": True})
            if self.path == "/queue/redeliver-next":
                twin.poller.redeliver += int(body.get("count", 1))
                return self._reply(200, {"ok": True})
            if self.path == "/queue/pause":
                twin.poller.paused.add(body["queue"])
                return self._reply(200, {"ok": True})
            if self.path == "/queue/resume":
                twin.poller.paused.discard(body["queue"])
                return self._reply(200, {"ok": True})
            if self.path == "/executions/drop-events":
                from . import patches

                patches.EXECUTION_EVENT_DROPS["count"] = int(body.get("count", 1))
                return self._reply(200, {"ok": True})
            if self.path == "/network":
                # A VPC and a subnet as a user prepares them for AWS's v2 EMR roles (tagged), or not.
                import moto.ec2.models as ec2_models

                ec2 = ec2_models.ec2_backends[twin.account][twin.region]
                vpc = ec2.create_vpc(cidr_block=body.get("cidr", "10.0.0.0/16"))
                subnet = ec2.create_subnet(vpc_id=vpc.id, cidr_block=body.get("subnet", "10.0.1.0/24"), availability_zone=twin.region + "a")
                if body.get("tagged", True):
                    ec2.create_tags([subnet.id], {"for-use-with-amazon-emr-managed-policies": "true"})
                # EMR creates its default security groups in the VPC, which AWS's v2 policy allows only
                # in a tagged VPC (the README asks a user to tag the VPC too).
                if body.get("vpcTagged", body.get("tagged", True)):
                    ec2.create_tags([vpc.id], {"for-use-with-amazon-emr-managed-policies": "true"})
                return self._reply(200, {"vpc": vpc.id, "subnet": subnet.id})
            if self.path == "/emr/default-roles":
                # The roles EMR's console (or aws emr create-default-roles) makes on an account.
                import moto.iam.models as iam_models

                iam = iam_models.iam_backends[twin.account]["aws"]
                trust = lambda svc: json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": svc}, "Action": "sts:AssumeRole"}]})
                made = {}
                for name, svc, policy in (("EMR_DefaultRole_V2", "elasticmapreduce.amazonaws.com", "arn:aws:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"),
                                          ("EMR_EC2_DefaultRole", "ec2.amazonaws.com", None)):
                    try:
                        role = iam.get_role(name)
                    except Exception:
                        role = iam.create_role(name, trust(svc), "/", None, "", [], None)
                        if policy:
                            iam.attach_role_policy(policy, name)
                    made[name] = role.arn
                return self._reply(200, made)
            if self.path == "/iam/evaluate":
                # Evaluates calls that were not made (a probe), as the report would.
                from . import iam

                try:
                    return self._reply(200, iam.report(body["calls"], twin.account, twin.region, {}))
                except Exception as e:
                    return self._reply(500, {"error": repr(e)})
            if self.path == "/reset":
                twin.runtime.reset()
                return self._reply(200, {"ok": True})
            self._reply(404, {"error": "no route " + self.path})

    server = ThreadingHTTPServer(("127.0.0.1", 0), H)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class ScheduleClock:
    """Fires the scheduled rules on their rate, as EventBridge does: rate(N minutes) every N minutes of
    the twin's clock, which runs SCALE times faster than the wall clock (1 by default). Scenarios that
    must see what happens before the reconciler runs hold it (hold), then fire it themselves."""

    def __init__(self, twin, scale=1.0):
        self.twin, self.scale = twin, scale
        self.held = 0
        self.lock = threading.Lock()
        self.next = {}
        self.stop = threading.Event()
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        import re
        import time

        backend = events_models.events_backends[self.twin.account][self.twin.region]
        while not self.stop.wait(1.0):
            now = time.time()
            for bus in list(backend.event_buses.values()):
                for rule in list(bus.rules.values()):
                    m = re.match(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", rule.scheduled_expression or "")
                    if not m or rule.state != "ENABLED":
                        continue
                    period = int(m.group(1)) * {"minute": 60, "hour": 3600, "day": 86400}[m.group(2).rstrip("s")] / self.scale
                    due = self.next.setdefault(rule.arn, now + period)
                    with self.lock:
                        held = self.held > 0
                    if now >= due and not held:
                        self.next[rule.arn] = now + period
                        fire_schedules(self.twin.account, self.twin.region, rule.name)
