"""SparkFlow's AWS twin: the synthesized stack deployed into moto, executed end to end offline.

moto (5.2.1) runs in this process with a few narrow patches (patches.py); the functions' real
bootstrap binaries run as processes speaking the Lambda Runtime API (runtime.py); SQS event-source
mappings are polled as Lambda polls them (esm.py); EventBridge rules deliver to Lambda targets through
Lambda's asynchronous invocation (patches.py, runtime.py); an EMR player runs the steps added to the
twin's EMR and emits EMR's documented events (player.py); every AWS call a function makes is recorded
for the IAM evaluation and the per-run counts (recorder.py). control.py serves the test's controls.
"""
