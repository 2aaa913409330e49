"""What crosses between the host process and a worker process: picklable records.

The Functions host sends a language worker each invocation's trigger data (gRPC messages); this
host sends these records over a pipe. A worker turns a call back into the `azure.functions`
object the function receives, and an HTTP function's return value into an `HttpReply`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import azure.functions as func
import azure.functions.queue as func_queue
from azure.functions import _abc as func_abc
from azure.functions.timer import TimerRequest


@dataclass(frozen=True)
class HttpCall:
    method: str
    url: str
    headers: dict[str, str]
    params: dict[str, str]
    route_params: dict[str, str]
    body: bytes

    @classmethod
    def of(cls, req: func.HttpRequest) -> HttpCall:
        return cls(
            req.method,
            req.url,
            dict(req.headers.items()),
            dict(req.params),
            dict(req.route_params),
            req.get_body(),
        )

    def value(self) -> func.HttpRequest:
        return func.HttpRequest(
            method=self.method,
            url=self.url,
            headers=self.headers,
            params=self.params,
            route_params=self.route_params,
            body=self.body,
        )


@dataclass(frozen=True)
class QueueCall:
    id: str | None
    body: bytes
    dequeue_count: int | None
    expiration_time: datetime | None
    insertion_time: datetime | None
    time_next_visible: datetime | None
    pop_receipt: str | None

    @classmethod
    def of(cls, msg: func.QueueMessage) -> QueueCall:
        return cls(
            msg.id,
            msg.get_body(),
            msg.dequeue_count,
            msg.expiration_time,
            msg.insertion_time,
            msg.time_next_visible,
            msg.pop_receipt,
        )

    def value(self) -> func_queue.QueueMessage:
        return func_queue.QueueMessage(
            id=self.id,
            body=self.body,
            dequeue_count=self.dequeue_count,
            expiration_time=self.expiration_time,
            insertion_time=self.insertion_time,
            time_next_visible=self.time_next_visible,
            pop_receipt=self.pop_receipt,
        )


@dataclass(frozen=True)
class TimerCall:
    past_due: bool
    schedule_status: dict[str, Any] = field(default_factory=dict)
    schedule: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, timer: func.TimerRequest) -> TimerCall:
        status = dict(getattr(timer, "schedule_status", None) or {})
        return cls(timer.past_due, status, dict(getattr(timer, "schedule", None) or {}))

    def value(self) -> TimerRequest:
        return TimerRequest(
            past_due=self.past_due, schedule_status=self.schedule_status, schedule=self.schedule
        )


Call = HttpCall | QueueCall | TimerCall


def to_call(trigger_value: Any) -> Call:
    """The picklable record of a trigger value the host built."""
    if isinstance(trigger_value, func.HttpRequest):
        return HttpCall.of(trigger_value)
    if isinstance(trigger_value, func.QueueMessage):
        return QueueCall.of(trigger_value)
    if isinstance(trigger_value, func_abc.TimerRequest):
        return TimerCall.of(trigger_value)
    raise TypeError(f"no worker payload for {type(trigger_value).__name__}")


@dataclass(frozen=True)
class HttpReply:
    """An HTTP function's response: status, raw header lines (lower-case names), body."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def http_reply(result: Any) -> HttpReply:
    """Turn an HTTP function's return value into a response, as the Python worker does."""
    if result is None:
        return HttpReply(204, [], b"")
    if isinstance(result, str):
        body = result.encode("utf-8")
        headers = [(b"content-length", str(len(body)).encode())]
        return HttpReply(200, [*headers, (b"content-type", b"text/plain; charset=utf-8")], body)
    if not isinstance(result, func_abc.HttpResponse):
        raise TypeError(f"an HTTP function returned {type(result).__name__}, not HttpResponse")
    body = result.get_body() or b""
    items = list(result.headers.items())
    if not any(k.lower() == "content-type" for k, _ in items):
        mimetype = result.mimetype or "text/plain"
        ct = f"{mimetype}; charset={result.charset}" if mimetype.startswith("text/") else mimetype
        items.append(("content-type", ct))
    raw = [(b"content-length", str(len(body)).encode())]
    raw += [
        (k.lower().encode("latin-1"), str(v).encode("latin-1"))
        for k, v in items
        if k.lower() != "content-length"
    ]
    return HttpReply(int(result.status_code), raw, body)


@dataclass(frozen=True)
class Request:
    """Host -> worker: run `function` with `call` (the invocation id is the host's)."""

    call_id: int
    function: str
    invocation_id: str
    reason: str
    details: str | None
    call: Call


@dataclass(frozen=True)
class Reply:
    """Worker -> host: how a request ended; `error` is None on success."""

    call_id: int
    error: str | None = None
    http: HttpReply | None = None


@dataclass(frozen=True)
class Ready:
    """Worker -> host, once: the app is indexed (or `error` says why not)."""

    pid: int
    error: str | None = None
