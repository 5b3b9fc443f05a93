"""The EMR player. moto's EMR never moves a cluster or a step; the player does what EMR does: a new
cluster is STARTING and WAITING after the provisioning time; a step runs when the cluster has a free
slot of its step concurrency (the step's command-runner.jar arguments run as a process in a process
group of its own), ends COMPLETED or FAILED by its exit status, or CANCELLED by CancelSteps; a
terminated or lost cluster cancels its steps. Every change is emitted as EMR's documented EventBridge
event through PutEvents, so the stack's own rules route it. A scenario scripts faults: events dropped,
duplicated or held back (delivered late, out of order)."""
import datetime
import json
import os
import signal
import subprocess
import threading
import time

TERMINAL_STEP = ("COMPLETED", "CANCELLED", "FAILED", "INTERRUPTED")
ENDED_CLUSTER = ("TERMINATING", "TERMINATED", "TERMINATED_WITH_ERRORS")


def _matches(match, detail_type, detail):
    """A fault's match: detailType ("step" or "cluster"), nameContains, or any detail field's value."""
    for k, v in match.items():
        if k == "detailType":
            ok = detail_type.startswith("EMR Step" if v == "step" else "EMR Cluster")
        elif k == "nameContains":
            ok = v in detail.get("name", "")
        else:
            ok = str(detail.get(k, "")) == str(v)
        if not ok:
            return False
    return True


def _now():
    return datetime.datetime.now(tz=datetime.timezone.utc)


class Player:
    def __init__(self, put_events, workdir):
        self.put_events = put_events  # (account, region, [entry]) -> None
        self.workdir = workdir
        self.lock = threading.RLock()
        self.provision_seconds = 1.0
        self.procs = {}  # step id -> Popen
        self.clusters = {}  # id -> moto Cluster
        # faults: a list of {"match": {...}, "action": "drop"|"duplicate"|"delay", "count": n, "seconds": s}
        self.faults = []
        self.start_failures = {}  # pool name -> [reason codes] for the next launches
        self.emitted = []  # (detail-type, detail) as emitted, for tests
        self.dropped = []

    # ---- events ----

    def _emit(self, cluster, detail_type, detail):
        with self.lock:
            actions = []
            for f in self.faults:
                if f.get("count", 0) > 0 and _matches(f.get("match", {}), detail_type, detail):
                    f["count"] -= 1
                    actions.append(f)
            self.emitted.append((detail_type, dict(detail)))
        entry = {"Source": "aws.emr", "DetailType": detail_type, "Detail": json.dumps(detail),
                 "Time": _now().strftime("%Y-%m-%dT%H:%M:%SZ"), "Resources": []}
        copies = 1
        delay = 0.0
        for a in actions:
            if a["action"] == "drop":
                with self.lock:
                    self.dropped.append((detail_type, detail))
                return
            if a["action"] == "duplicate":
                copies += 1
            if a["action"] == "delay":
                delay = max(delay, float(a.get("seconds", 1)))

        def send():
            if delay:
                time.sleep(delay)
            for _ in range(copies):
                self.put_events(cluster.emr_backend.account_id, cluster.emr_backend.region_name, [entry])

        if delay:
            threading.Thread(target=send, daemon=True).start()
        else:
            send()

    def _cluster_event(self, cl, code="", message=""):
        reason = json.dumps({"code": code, "message": message} if message else {"code": code}, separators=(",", ":"))
        msg = f"Amazon EMR cluster {cl.id} ({cl.name}) is {cl.state}" + (f": {message}" if message else "")
        severity = "CRITICAL" if cl.state == "TERMINATED_WITH_ERRORS" else "INFO"
        self._emit(cl, "EMR Cluster State Change", {"severity": severity, "stateChangeReason": reason, "name": cl.name,
                                                    "clusterId": cl.id, "state": cl.state, "message": msg})

    def _step_event(self, cl, st, message=""):
        severity = {"FAILED": "ERROR", "CANCELLED": "WARN", "INTERRUPTED": "WARN"}.get(st.state, "INFO")
        if not message:
            message = f"Step {st.id} ({st.name}) in Amazon EMR cluster {cl.id} ({cl.name}) is {st.state} at {_now().strftime('%Y-%m-%d %H:%M UTC')}."
        self._emit(cl, "EMR Step Status Change", {"severity": severity, "actionOnFailure": st.action_on_failure or "CONTINUE",
                                                  "stepId": st.id, "name": st.name, "clusterId": cl.id, "state": st.state, "message": message})

    # ---- clusters ----

    def launched(self, cl):
        with self.lock:
            self.clusters[cl.id] = cl
        # RunJobFlow returns before the cluster's first event, as on EMR (and moto tags the cluster
        # after constructing it: its pool is known only then).
        threading.Timer(0.05, self._begin, args=(cl,)).start()

    def _begin(self, cl):
        with self.lock:
            pool = (getattr(cl, "_tags", None) or {}).get("sparkflow:pool", "")
            failure = None
            for key in (pool, "*"):
                if self.start_failures.get(key):
                    failure = self.start_failures[key].pop(0)
                    break
        self._cluster_event(cl)
        launch_failure = getattr(cl, "_twin_start_failure", None)  # patches.patch_emr_cleanup_role
        if launch_failure:
            threading.Timer(self.provision_seconds, self.terminate, args=(cl,) + tuple(launch_failure)).start()
        elif failure:
            threading.Timer(self.provision_seconds, self.terminate, args=(cl, failure, "simulated start failure (" + failure + ")")).start()
        else:
            threading.Timer(self.provision_seconds, self._ready, args=(cl,)).start()

    def _ready(self, cl):
        with self.lock:
            if cl.state != "STARTING":
                return
            cl.state = "WAITING"
            cl.ready_datetime = _now()
        self._cluster_event(cl, "", "Cluster ready to run steps.")
        self._start_pending(cl)

    def terminate(self, cl, code, message):
        with self.lock:
            if cl.state in ENDED_CLUSTER:
                return
            cl.state = "TERMINATING"
        self._cluster_event(cl, code, message)
        with self.lock:
            steps = [s for s in cl.steps if s.state not in TERMINAL_STEP]
        for st in steps:
            self._kill(st)
            self._end_step(cl, st, "CANCELLED", "cluster terminated")
        with self.lock:
            cl.state = "TERMINATED" if code in ("USER_REQUEST", "ALL_STEPS_COMPLETED") else "TERMINATED_WITH_ERRORS"
            cl.end_datetime = _now()
        self._cluster_event(cl, code, message)

    def lose(self, cluster_id, code="INSTANCE_FAILURE"):
        with self.lock:
            cl = self.clusters.get(cluster_id)
        if cl is None:
            return False
        self.terminate(cl, code, "simulated loss of the cluster (" + code + ")")
        return True

    # ---- steps ----

    def steps_added(self, cl, steps):
        # AddJobFlowSteps answers before the step starts; the player starts it a moment later.
        threading.Timer(0.02, self._start_pending, args=(cl,)).start()

    def _running(self, cl):
        return sum(1 for s in cl.steps if s.state in ("RUNNING", "CANCEL_PENDING"))

    def _start_pending(self, cl):
        while True:
            with self.lock:
                if cl.state not in ("WAITING", "RUNNING"):
                    return
                slots = max(int(getattr(cl, "step_concurrency_level", 1) or 1), 1)
                pending = [s for s in sorted(cl.steps, key=lambda s: s.creation_date_time) if s.state == "PENDING"]
                if not pending or self._running(cl) >= slots:
                    return
                st = pending[0]
                st.state = "RUNNING"
                st.start_date_time = _now()
                became_running = cl.state == "WAITING"
                cl.state = "RUNNING"
            if became_running:
                self._cluster_event(cl, "", "Running step")
            self._step_event(cl, st)
            self._run(cl, st)

    def _run(self, cl, st):
        args = list(st.args)
        logdir = os.path.join(self.workdir, "emr", cl.id, "steps", st.id)
        os.makedirs(logdir, exist_ok=True)
        if st.jar != "command-runner.jar" or not args:
            threading.Thread(target=self._end_step, args=(cl, st, "FAILED", f"the twin runs command-runner.jar steps only, not {st.jar}"), daemon=True).start()
            return
        try:
            out = open(os.path.join(logdir, "stdout"), "wb")
            err = open(os.path.join(logdir, "stderr"), "wb")
            p = subprocess.Popen(args, stdout=out, stderr=err, cwd=self.workdir, start_new_session=True)
            out.close()
            err.close()
        except OSError as e:
            threading.Thread(target=self._end_step, args=(cl, st, "FAILED", f"cannot run {args[0]}: {e}"), daemon=True).start()
            return
        with self.lock:
            self.procs[st.id] = p

        def wait():
            code = p.wait()
            with self.lock:
                self.procs.pop(st.id, None)
                if st.state in TERMINAL_STEP:
                    return
            if code == 0:
                self._end_step(cl, st, "COMPLETED")
            else:
                self._end_step(cl, st, "FAILED", f"exit status {code}" if code > 0 else f"killed by signal {-code}")

        threading.Thread(target=wait, daemon=True).start()

    def _kill(self, st):
        with self.lock:
            p = self.procs.pop(st.id, None)
        if p is not None and p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass

    def _end_step(self, cl, st, state, message=""):
        with self.lock:
            if st.state in TERMINAL_STEP:
                return
            st.state = state
            st.end_date_time = _now()
        msg = ""
        if message:
            msg = f"Step {st.id} ({st.name}) in Amazon EMR cluster {cl.id} ({cl.name}) is {state}: {message}"
        self._step_event(cl, st, msg)
        with self.lock:
            idle = cl.state == "RUNNING" and self._running(cl) == 0 and not any(s.state == "PENDING" for s in cl.steps)
            if idle:
                cl.state = "WAITING"
        if idle:
            self._cluster_event(cl, "", "Cluster ready after last step completed.")
        self._start_pending(cl)

    def cancel(self, cl, step_id):
        with self.lock:
            st = next((s for s in cl.steps if s.id == step_id), None)
            if st is None or st.state in TERMINAL_STEP:
                return False
        self._kill(st)
        self._end_step(cl, st, "CANCELLED", "cancelled by request")
        return True

    def close(self):
        with self.lock:
            procs = list(self.procs.values())
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
