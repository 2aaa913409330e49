"""A toy app for tests/test_devhost_workers.py: every function records the process it ran in."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def _out() -> Path:
    return Path(os.environ["DEVHOST_OUT_DIR"])


def _record(kind: str, **fields: object) -> None:
    record = {"kind": kind, "pid": os.getpid(), "at": time.time(), **fields}
    (_out() / f"{kind}-{uuid.uuid4().hex}.json").write_text(json.dumps(record))


@app.route(route="pid/{name}", methods=["POST"])
def pid(req: func.HttpRequest) -> func.HttpResponse:
    time.sleep(float(req.params.get("sleep", "0")))
    payload = {
        "pid": os.getpid(),
        "name": req.route_params["name"],
        "body": req.get_body().decode(),
        "header": req.headers.get("x-test"),
        "setting": os.environ.get("DEVHOST_FROM_SETTINGS"),
    }
    return func.HttpResponse(json.dumps(payload), status_code=201, headers={"X-Pid": "yes"})


@app.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("BOOM-SECRET-DETAIL")


@app.queue_trigger(
    arg_name="msg", queue_name="%DEVHOST_WORK_QUEUE%", connection="AzureWebJobsStorage"
)
def work(msg: func.QueueMessage) -> None:
    """`slow...` messages block on their first try (long enough to kill the worker)."""
    body = msg.get_body().decode()
    if body.startswith("slow") and msg.dequeue_count == 1:
        _record("started", body=body)
        time.sleep(60)
    time.sleep(0.2)  # long enough for a batch to spread over the workers
    _record("work", body=body, dequeue_count=msg.dequeue_count, msg_id=msg.id)


@app.queue_trigger(
    arg_name="msg", queue_name="%DEVHOST_FAIL_QUEUE%", connection="AzureWebJobsStorage"
)
def fail(msg: func.QueueMessage) -> None:
    _record("fail", dequeue_count=msg.dequeue_count)
    raise ValueError("this message can never be processed")


@app.timer_trigger(schedule="*/1 * * * * *", arg_name="timer", run_on_startup=True)
def tick(timer: func.TimerRequest) -> None:
    _record("tick", past_due=timer.past_due)
