"""A toy function app for tests/test_devhost.py: one of each thing the local host must handle."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

ECHOED_HEADERS = ("host", "x-test", "x-ms-date", "x-ms-content-sha256", "authorization")


@app.route(route="things:echo", methods=["POST"])
def echo(req: func.HttpRequest) -> func.HttpResponse:
    payload = {
        "method": req.method,
        "url": req.url,
        "headers": {h: req.headers.get(h) for h in ECHOED_HEADERS},
        "params": dict(req.params),
        "route_params": dict(req.route_params),
        "body": req.get_body().decode("utf-8"),
    }
    return func.HttpResponse(
        json.dumps(payload), status_code=201, mimetype="application/json", headers={"X-Echo": "1"}
    )


@app.function_name("item")
@app.route(route="items/{id}/{part?}", methods=["GET", "PUT"])
def get_item(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(dict(req.route_params)), mimetype="application/json")


@app.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("BOOM-SECRET-DETAIL")


@app.route(route="settings", methods=["GET"])
def settings(req: func.HttpRequest) -> func.HttpResponse:
    names = ("DEVHOST_FROM_SETTINGS", "DEVHOST_OVERRIDE")
    return func.HttpResponse(
        json.dumps({n: os.environ.get(n) for n in names}), mimetype="application/json"
    )


@app.route(route="ctx")
async def ctx(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({"function": context.function_name, "id": context.invocation_id}),
        mimetype="application/json",
    )


def _write_record(name: str, record: dict[str, object]) -> None:
    """Write `name` in DEVHOST_OUT_DIR atomically: the test polls that directory and reads
    every `<kind>-*.json` it sees, so a record must never be visible half-written. It is
    written under a name the test never reads, then renamed (os.replace is atomic)."""
    out = Path(os.environ["DEVHOST_OUT_DIR"])
    partial = out / f".{name}.partial"
    partial.write_text(json.dumps(record))
    os.replace(partial, out / name)


def _record(msg: func.QueueMessage, kind: str) -> None:
    body = msg.get_body()
    record = {
        "kind": kind,
        "id": msg.id,
        "body_hex": body.hex(),
        "dequeue_count": getattr(msg, "dequeue_count", None),
        "has_pop_receipt": bool(msg.pop_receipt),
    }
    _write_record(f"{kind}-{uuid.uuid4().hex}.json", record)


@app.queue_trigger(
    arg_name="msg", queue_name="%DEVHOST_OK_QUEUE%", connection="AzureWebJobsStorage"
)
def queue_ok(msg: func.QueueMessage) -> None:
    _record(msg, "ok")


@app.queue_trigger(arg_name="msg", queue_name="%DEVHOST_FAIL_QUEUE%", connection="DEVHOST_STORAGE")
def queue_fail(msg: func.QueueMessage) -> None:
    _record(msg, "fail")
    raise ValueError("this message can never be processed")


@app.timer_trigger(
    schedule="%DEVHOST_TIMER_SCHEDULE%", arg_name="timer", run_on_startup=True, use_monitor=True
)
def tick(timer: func.TimerRequest) -> None:
    """Records each run's start and end; overruns its 1 s schedule to show runs never overlap."""
    started = time.time()
    time.sleep(1.3)
    record = {"started": started, "ended": time.time(), "past_due": timer.past_due}
    _write_record(f"timer-{started:.6f}.json", record)
