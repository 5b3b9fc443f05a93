"""Runs the functions' deployed bootstrap binaries as processes that speak the Lambda Runtime API to a
small server here (next invocation, response, error, init error), with the function's environment
from the template, credentials of its own, AWS_ENDPOINT_URL at the twin and the function's timeout
(the process is killed past it). arm64 binaries run under Debian's qemu-user on other hosts.
Asynchronous invocations (EventBridge targets) follow Lambda's documented behaviour: up to
MaximumRetryAttempts retries (default 2), then the on-failure destination, or a recorded drop."""
import io
import json
import os
import platform
import queue
import shutil
import stat
import subprocess
import threading
import time
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Lambda's asynchronous retries come about 1 and 2 minutes apart; the twin keeps their order and
# count but waits ASYNC_RETRY_SCALE times less.
ASYNC_RETRY_DELAYS = [60, 120]
ASYNC_RETRY_SCALE = 60.0
MAX_INSTANCES_PER_FUNCTION = 16


class Invocation:
    def __init__(self, payload, timeout):
        self.id = str(uuid.uuid4())
        self.payload = payload
        self.deadline = time.time() + timeout
        self.done = threading.Event()
        self.ok = None
        self.body = b""


class Instance:
    def __init__(self, runtime, fn):
        self.runtime = runtime
        self.id = uuid.uuid4().hex[:12]
        self.fn_name = fn.function_name
        self.fn_arn = fn.function_arn
        self.pending = queue.Queue()
        self.current = None
        self.proc = None
        self.peak_kb = 0

    def start(self, fn):
        exe = self.runtime.bootstrap(fn)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{self.runtime.port}/i/{self.id}",
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/" + fn.function_name,
            "AWS_REGION": fn.region,
            "AWS_DEFAULT_REGION": fn.region,
            "AWS_ACCESS_KEY_ID": self.runtime.recorder.key_for(fn.function_name),
            "AWS_SECRET_ACCESS_KEY": "twin-secret",
            "AWS_SESSION_TOKEN": "twin-session",
            "AWS_ENDPOINT_URL": self.runtime.moto_endpoint,
            "_HANDLER": "bootstrap",
            "LAMBDA_TASK_ROOT": os.path.dirname(exe),
            "TZ": ":UTC",
        }
        env.update((fn.environment_vars or {}))
        cmd = [exe] if platform.machine() in ("aarch64", "arm64") else [self.runtime.qemu, exe]
        log = open(os.path.join(self.runtime.logdir, fn.function_name + ".log"), "ab")
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=os.path.dirname(exe))
        log.close()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def note_memory(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        self.peak_kb = max(self.peak_kb, int(line.split()[1]))
        except OSError:
            pass

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()


class Runtime:
    def __init__(self, moto_endpoint, workdir, recorder):
        self.moto_endpoint = moto_endpoint
        self.recorder = recorder
        self.dir = os.path.join(workdir, "lambda")
        self.logdir = os.path.join(workdir, "logs")
        os.makedirs(self.dir, exist_ok=True)
        os.makedirs(self.logdir, exist_ok=True)
        self.qemu = shutil.which("qemu-aarch64") or "qemu-aarch64"
        self.lock = threading.Lock()
        self.instances = {}  # id -> Instance
        self.idle = {}  # function name -> [Instance]
        self.counts = {}  # function name -> invocations
        self.async_log = []  # what happened to asynchronous invocations that failed
        self.peak_kb = {}
        self.limits = {}  # function name -> semaphore of its reserved concurrency
        handler = _handler(self)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bootstrap(self, fn):
        """Unpacks the function's deployed code (the asset CloudFormation received) once per code hash."""
        d = os.path.join(self.dir, fn.function_name + "-" + (fn.code_sha_256 or "x").replace("/", "_")[:16])
        exe = os.path.join(d, "bootstrap")
        with self.lock:
            if not os.path.exists(exe):
                os.makedirs(d, exist_ok=True)
                with zipfile.ZipFile(io.BytesIO(fn.code_bytes)) as z:
                    z.extractall(d)
                os.chmod(exe, os.stat(exe).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return exe

    def _take(self, fn):
        with self.lock:
            self.counts[fn.function_name] = self.counts.get(fn.function_name, 0) + 1
            idle = self.idle.setdefault(fn.function_name, [])
            while idle:
                inst = idle.pop()
                if inst.alive():
                    return inst
            inst = Instance(self, fn)
            self.instances[inst.id] = inst
        inst.start(fn)
        return inst

    def _give_back(self, inst):
        inst.note_memory()
        with self.lock:
            self.peak_kb[inst.fn_name] = max(self.peak_kb.get(inst.fn_name, 0), inst.peak_kb)
            if inst.alive():
                self.idle.setdefault(inst.fn_name, []).append(inst)
            else:
                self.instances.pop(inst.id, None)

    def _limit(self, fn):
        n = int(getattr(fn, "reserved_concurrency", None) or 0)
        if n <= 0:
            return None
        with self.lock:
            return self.limits.setdefault(fn.function_name, threading.BoundedSemaphore(n))

    def invoke(self, fn, payload, wait=False):
        """A synchronous invocation: returns (ok, body bytes). A timeout or a crash is an error whose
        type is Lambda.Unknown, as Step Functions names it (the function may or may not have done its
        work). A function at its reserved concurrency is throttled (TooManyRequestsException), unless
        wait (asynchronous invocations wait their turn, as Lambda's queue does)."""
        limit = self._limit(fn)
        if limit is not None:
            if not limit.acquire(blocking=wait):
                return False, json.dumps({"errorType": "Lambda.TooManyRequestsException", "errorMessage": "Rate Exceeded: the function is at its reserved concurrency"}).encode()
            try:
                return self._invoke(fn, payload)
            finally:
                limit.release()
        return self._invoke(fn, payload)

    def _invoke(self, fn, payload):
        timeout = float(fn.timeout or 3)
        inst = self._take(fn)
        inv = Invocation(payload, timeout)
        inst.current = inv
        inst.pending.put(inv)
        while not inv.done.wait(0.05):
            if time.time() > inv.deadline:
                inst.kill()
                self._give_back(inst)
                return False, json.dumps({"errorType": "Lambda.Unknown", "errorMessage": f"Task timed out after {timeout:.2f} seconds"}).encode()
            if not inst.alive():
                self._give_back(inst)
                return False, json.dumps({"errorType": "Lambda.Unknown", "errorMessage": "Runtime exited without providing a reason"}).encode()
        self._give_back(inst)
        return inv.ok, inv.body

    def invoke_async(self, fn, payload, on_failure=None):
        """An asynchronous invocation (EventBridge's targets): retried per the function's
        EventInvokeConfig, then sent to its on-failure destination or recorded as dropped."""
        cfg = {}
        for c in getattr(fn, "event_invoke_config", []) or []:
            cfg = c.config
        retries = int(cfg.get("MaximumRetryAttempts", 2))
        max_age = float(cfg.get("MaximumEventAgeInSeconds", 21600))
        destination = cfg.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        started = time.time()

        def run():
            last = b""
            for attempt in range(retries + 1):
                if attempt > 0:
                    time.sleep(ASYNC_RETRY_DELAYS[min(attempt - 1, len(ASYNC_RETRY_DELAYS) - 1)] / ASYNC_RETRY_SCALE)
                if (time.time() - started) * ASYNC_RETRY_SCALE > max_age and attempt > 0:
                    break
                ok, body = self.invoke(fn, payload, wait=True)
                if ok:
                    return
                last = body
            entry = {"function": fn.function_name, "payload": payload.decode(errors="replace"), "error": last.decode(errors="replace"), "destination": destination}
            with self.lock:
                self.async_log.append(entry)
            if destination and on_failure:
                on_failure(destination, entry)

        threading.Thread(target=run, daemon=True).start()

    def stats(self):
        with self.lock:
            return {"invocations": dict(self.counts), "peak_memory_kb": dict(self.peak_kb), "async_failures": list(self.async_log)}

    def reset(self):
        with self.lock:
            self.counts = {}
            self.async_log = []

    def close(self):
        with self.lock:
            insts = list(self.instances.values())
        for inst in insts:
            inst.kill()
        self.server.shutdown()


def _handler(rt):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _inst(self):
            parts = self.path.split("/")
            # /i/<instance>/2018-06-01/runtime/...
            if len(parts) < 4 or parts[1] != "i":
                return None, []
            with rt.lock:
                return rt.instances.get(parts[2]), parts[3:]

        def _reply(self, code, body=b"", headers=None):
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            inst, rest = self._inst()
            if inst is None or rest[-2:] != ["invocation", "next"]:
                return self._reply(404)
            inv = inst.pending.get()
            self._reply(200, inv.payload, {
                "Lambda-Runtime-Aws-Request-Id": inv.id,
                "Lambda-Runtime-Deadline-Ms": str(int(inv.deadline * 1000)),
                "Lambda-Runtime-Invoked-Function-Arn": inst.fn_arn,
                "Lambda-Runtime-Trace-Id": "Root=1-" + uuid.uuid4().hex[:8] + "-" + uuid.uuid4().hex[:24],
                "Content-Type": "application/json",
            })

        def _body(self):
            if "chunked" in self.headers.get("Transfer-Encoding", ""):
                out = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_POST(self):
            inst, rest = self._inst()
            body = self._body()
            if inst is None:
                return self._reply(404)
            inv = inst.current
            if rest[-2:] == ["init", "error"]:
                if inv is not None and not inv.done.is_set():
                    inv.ok, inv.body = False, body
                    inv.done.set()
                return self._reply(202, b"{}")
            if inv is None or len(rest) < 2 or rest[-2] != inv.id:
                return self._reply(400, b'{"errorMessage":"unknown request id"}')
            inv.ok, inv.body = rest[-1] == "response", body
            inv.done.set()
            self._reply(202, b"{}")

    return H
