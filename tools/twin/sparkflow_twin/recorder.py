"""Records the AWS calls made with each function's credentials, for the IAM evaluation and the
per-run counts, and injects the faults a scenario asks for (EMR throttling)."""
import hashlib
import json
import random
import re
import threading
import time

_CREDENTIAL = re.compile(r"Credential=([^/]+)/")


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.keys = {}  # access key id -> function name
        self.calls = []  # dicts: function, service, action, params, at
        self.throttle = {}  # service -> probability of a ThrottlingException for function calls
        self.fail_next = {}  # (function name part or "", action) -> how many of the next calls fail (throttled)
        self.rng = random.Random(1)
        self.local = threading.local()  # the function whose request this thread serves

    def key_for(self, function_name):
        # One access key per function: the recorder tells the functions' calls apart by it.
        key = "AKIATWIN" + hashlib.sha1(function_name.encode()).hexdigest()[:12].upper()
        with self.lock:
            self.keys[key] = function_name
        return key

    def function_of(self, environ):
        m = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        if not m:
            return None
        with self.lock:
            return self.keys.get(m.group(1))

    def current_function(self):
        """The function whose request the calling thread is serving (None for other callers)."""
        return getattr(self.local, "function", None)

    def record(self, function, service, action, params):
        with self.lock:
            self.calls.append({"function": function, "service": service, "action": action, "params": params, "at": time.time()})

    def snapshot(self, since=0.0):
        with self.lock:
            return [c for c in self.calls if c["at"] >= since]

    def take_failure(self, function, action):
        with self.lock:
            for (part, act), n in self.fail_next.items():
                if act == action and n > 0 and part in (function or ""):
                    self.fail_next[(part, act)] = n - 1
                    return True
            return False

    def should_throttle(self, service):
        p = self.throttle.get(service, 0.0)
        return p > 0 and self.rng.random() < p


def _action(environ, body):
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return target.split(".")[-1]
    if body.startswith(b"Action=") or b"&Action=" in body:
        for part in body.split(b"&"):
            if part.startswith(b"Action="):
                return part[len("Action="):].decode()
    path = environ.get("PATH_INFO", "")
    if "/functions/" in path and path.endswith("/invocations"):
        return "Invoke"
    return environ.get("REQUEST_METHOD", "") + " " + path


def _service(environ):
    m = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", environ.get("HTTP_AUTHORIZATION", ""))
    return m.group(1) if m else ""


def middleware(app, recorder):
    """Wraps moto's WSGI app: records each call made with a function's credentials (service, action,
    the JSON parameters) and answers a ThrottlingException where a scenario asked for throttling."""

    def wrapped(environ, start_response):
        function = recorder.function_of(environ)
        if function is None:
            return app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        import io

        environ["wsgi.input"] = io.BytesIO(body)
        service, action = _service(environ), _action(environ, body)
        try:
            params = json.loads(body) if body[:1] == b"{" else {}
        except ValueError:
            params = {}
        if recorder.take_failure(function, action) or (service == "elasticmapreduce" and recorder.should_throttle(service)):
            recorder.record(function, service, action + ":Throttled", params)
            payload = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded (twin)"}).encode()
            start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(payload)))])
            return [payload]
        recorder.record(function, service, action, params)
        recorder.local.function = function
        try:
            return app(environ, start_response)
        finally:
            recorder.local.function = None

    return wrapped
