"""Starts SparkFlow's AWS twin: moto on 127.0.0.1 with the twin's patches, the Lambda runtime, the SQS
poller, the EMR player and the control API. Prints one line of JSON with the endpoints when ready and
runs until stdin closes or it is signalled (the test that started it stops it by closing stdin).

    python3 tools/twin/twin.py --workdir DIR
"""
import argparse
import json
import os
import signal
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Twin:
    account = "123456789012"
    region = "us-east-1"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    port = args.port or free_port()
    # The Step Functions interpreter calls Lambda through boto3 at localhost:$MOTO_PORT.
    os.environ["MOTO_PORT"] = str(port)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

    from moto.core.config import default_user_config
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    import moto.events.models as events_models
    from sparkflow_twin import control, esm, patches, player, recorder, runtime

    default_user_config["stepfunctions"]["execute_state_machine"] = True
    # AWS managed policies exist in the twin's IAM, as on an account (the stack attaches one).
    default_user_config["iam"]["load_aws_managed_policies"] = True
    twin = Twin()
    twin.recorder = recorder.Recorder()
    endpoint = f"http://127.0.0.1:{port}"
    twin.runtime = runtime.Runtime(endpoint, args.workdir, twin.recorder)

    def put_events(account, region, entries):
        events_models.events_backends[account][region].put_events(entries)

    twin.player = player.Player(put_events, args.workdir)
    patches.patch_stepfunctions()
    patches.patch_lambda(twin.runtime)
    patches.patch_sqs()
    patches.patch_events(twin.runtime, patches.lambda_backend_for)
    patches.patch_emr(twin.player)
    patches.patch_execution_events(put_events)
    patches.patch_dynamodb()
    patches.patch_iam_roles()
    patches.patch_cloudwatch_alarms()
    from sparkflow_twin import iam

    patches.patch_iam_simulation(iam.simulate)

    def may_create_cleanup_role(function_name):
        import moto.awslambda.models as lambda_models

        fn = lambda_models.lambda_backends[twin.account][twin.region].get_function(function_name)
        arn = f"arn:aws:iam::{twin.account}:role/aws-service-role/{patches.EMR_SERVICE}/{patches.CLEANUP_ROLE}"
        return all(d == "allowed" for _, _, d in iam.simulate(twin.account, fn.role, ["iam:CreateServiceLinkedRole"], [arn], {"iam:AWSServiceName": patches.EMR_SERVICE}))

    patches.patch_emr_cleanup_role(twin.recorder.current_function, twin.recorder.record, may_create_cleanup_role)

    app = recorder.middleware(DomainDispatcherApplication(create_backend_app), twin.recorder)
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    twin.poller = esm.Poller(twin.runtime, twin.recorder, twin.account, twin.region)
    twin.schedules = control.ScheduleClock(twin, float(os.environ.get("SPARKFLOW_TWIN_SCHEDULE_SCALE", "1")))
    ctl = control.serve(twin)
    print(json.dumps({"endpoint": endpoint, "control": f"http://127.0.0.1:{ctl.server_address[1]}",
                      "runtime": f"127.0.0.1:{twin.runtime.port}"}), flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    twin.poller.stop.set()
    twin.player.close()
    twin.runtime.close()
    server.shutdown()


if __name__ == "__main__":
    main()
