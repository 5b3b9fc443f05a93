"""Polls the SQS queues that have event-source mappings, as Lambda does: a batch of up to BatchSize
messages is received with the queue's visibility timeout and handed to the function synchronously;
the messages it reports failed (ReportBatchItemFailures), or the whole batch when it fails, stay on the
queue and come back after the visibility timeout (the twin shortens that wait to FAILED_VISIBILITY
seconds), so that after maxReceiveCount receives SQS moves them to the dead-letter queue. The calls are
recorded as the function's (Lambda makes them with the function's role)."""
import json
import threading
import time

import moto.awslambda.models as lambda_models
import moto.sqs.models as sqs_models

FAILED_VISIBILITY = 1


class Poller:
    def __init__(self, runtime, recorder, account, region):
        self.runtime, self.recorder, self.account, self.region = runtime, recorder, account, region
        self.stop = threading.Event()
        self.paused = set()
        self.redeliver = 0  # how many of the next handled messages come back once more (a redelivery)
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while not self.stop.is_set():
            busy = False
            try:
                lb = lambda_models.lambda_backends[self.account][self.region]
                sb = sqs_models.sqs_backends[self.account][self.region]
                for esm in list(lb._event_source_mappings.values()):
                    if not esm.enabled or ":sqs:" not in esm.event_source_arn:
                        continue
                    queue = next((q for q in sb.queues.values() if q.queue_arn == esm.event_source_arn), None)
                    if queue is None or queue.name in self.paused:
                        continue
                    busy |= self.poll(lb, sb, esm, queue)
            except Exception as e:  # a twin bug must not stop the poller; it is printed
                print("twin esm:", repr(e), flush=True)
            if not busy:
                time.sleep(0.05)

    def poll(self, lb, sb, esm, queue):
        fn = lb.get_function(esm.function_arn)
        messages = sb.receive_message(queue.name, int(esm.batch_size or 10), 0, int(queue.visibility_timeout or 30))
        if not messages:
            return False
        fname = fn.function_name
        self.recorder.record(fname, "sqs", "ReceiveMessage", {"QueueArn": queue.queue_arn})
        records = []
        for m in messages:
            records.append({
                "messageId": m.id, "receiptHandle": m.receipt_handle, "body": m.body,
                "attributes": {"ApproximateReceiveCount": str(m.approximate_receive_count), "SentTimestamp": str(m.sent_timestamp),
                               "SenderId": "AIDATWIN", "ApproximateFirstReceiveTimestamp": str(m.approximate_first_receive_timestamp or m.sent_timestamp)},
                "messageAttributes": {}, "md5OfBody": m.body_md5, "eventSource": "aws:sqs",
                "eventSourceARN": queue.queue_arn, "awsRegion": self.region,
            })
        ok, body = self.runtime.invoke(fn, json.dumps({"Records": records}).encode())
        failed = set()
        if not ok:
            failed = {m.id for m in messages}
        elif "ReportBatchItemFailures" in (esm.function_response_types or []):
            try:
                resp = json.loads(body or b"{}") or {}
                failed = {f["itemIdentifier"] for f in (resp.get("batchItemFailures") or [])}
            except (ValueError, KeyError, TypeError):
                failed = {m.id for m in messages}
        for m in messages:
            if m.id in failed:
                sb.change_message_visibility(queue.name, m.receipt_handle, FAILED_VISIBILITY)
                self.recorder.record(fname, "sqs", "ChangeMessageVisibility", {"QueueArn": queue.queue_arn})
            elif self.redeliver > 0:
                # As when Lambda's delete of a handled batch is lost: the message comes back.
                self.redeliver -= 1
                sb.change_message_visibility(queue.name, m.receipt_handle, 0)
            else:
                sb.delete_message(queue.name, m.receipt_handle)
                self.recorder.record(fname, "sqs", "DeleteMessage", {"QueueArn": queue.queue_arn})
        return True
