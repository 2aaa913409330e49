"""A local HTTP test double of the ACS SMS send endpoint (`POST /sms?api-version=...`).

- Checks every request's ACS HMAC signature against its access key (401 otherwise, counted in
  `refused`).
- Counts every request that arrives (`calls`), records every accepted one (`received`:
  api-version, headers, body) and every message it "sent" (`sent`: one `SentSms` per
  recipient, with its repeatability values).
- Behaves like ACS for repeatability: a recipient whose `repeatabilityRequestId` was seen before
  is not sent again; it gets the first message id and `repeatabilityResult: accepted`.
- Numbers in `reject_numbers` get a per-item 400, as ACS answers for a number it cannot reach.
- Answers `GET /deliveryReports/{id}` (api-versions 2025-08-01-preview, 2026-01-23) as ACS
  does: a `DeliveryReport` for a message it sent (`Delivered`, or what `report(...)` set), a
  404 problem-details `ErrorResponse` for any other id; each GET is recorded in `received`
  (body `{}`) and takes the injected faults too.
- The Opt-Out Management API (`POST /sms/optouts:add|remove|check`, section below): a list per
  sender (`optouts`), every accepted call recorded in order (`optout_calls`); same HMAC check
  and the same faults as send.
- Fails on demand: `fail_next = N` answers the next N requests 503 (as before);
  `fail_with(500, 401, ...)` answers the next requests with those statuses (after checking the
  signature, so a 401 here means "ACS refused the key", whatever the request); `hang_next(s)`
  waits `s` seconds before answering the next request (a timeout for a client that gives up
  sooner).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from shared.platform.hmac_auth import AuthError, verify_request

DELIVERY_REPORT_VERSIONS = frozenset({"2025-08-01-preview", "2026-01-23"})
ACS_KEY = base64.b64encode(b"acs-test-double-access-key-0123456789").decode()


@dataclass
class SentSms:
    from_: str
    to: str
    message: str
    repeatability_request_id: str | None = None
    repeatability_first_sent: str | None = None
    message_id: str = ""


@dataclass
class ReceivedRequest:
    path: str
    api_version: str
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any]


@dataclass
class OptOutCall:
    action: str  # add, remove, check
    sender: str
    recipients: list[str]
    api_version: str


class _Server(ThreadingHTTPServer):
    # The default backlog (5) resets connections when many replies go out at once (a burst of
    # STOPs); the real service does not, so neither may its double.
    request_queue_size = 256
    daemon_threads = True


@dataclass
class AcsDouble:
    key: str = ACS_KEY
    sent: list[SentSms] = field(default_factory=list)
    received: list[ReceivedRequest] = field(default_factory=list)
    calls: int = 0  # every request that arrived, whatever the answer
    refused: int = 0
    requests: int = 0  # send requests accepted (each may carry several recipients)
    fail_next: int = 0
    reject_numbers: set[str] = field(default_factory=set)
    _faults: deque[int] = field(default_factory=deque)
    _hangs: deque[float] = field(default_factory=deque)
    _seen: dict[str, str] = field(default_factory=dict)  # repeatability id -> message id
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)  # message id -> report
    # The opt-out API: sender -> its opted-out recipients; every accepted call, in order.
    optouts: dict[str, set[str]] = field(default_factory=dict)
    optout_calls: list[OptOutCall] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    @property
    def connection_string(self) -> str:
        return f"endpoint={self.endpoint};accesskey={self.key}"

    def fail_with(self, *statuses: int) -> None:
        with self._lock:
            self._faults.extend(statuses)

    def hang_next(self, seconds: float) -> None:
        with self._lock:
            self._hangs.append(seconds)

    def _next_fault(self) -> tuple[float, int | None]:
        with self._lock:
            hang = self._hangs.popleft() if self._hangs else 0.0
            if self.fail_next > 0:
                self.fail_next -= 1
                return hang, 503
            return hang, self._faults.popleft() if self._faults else None

    def _accept(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        results = []
        with self._lock:
            for recipient in request["smsRecipients"]:
                to, rid = recipient["to"], recipient.get("repeatabilityRequestId")
                item: dict[str, Any] = {"to": to}
                if to in self.reject_numbers:
                    item |= {"httpStatusCode": 400, "successful": False}
                    item["errorMessage"] = "Invalid To phone number format."
                elif rid is not None and rid in self._seen:
                    item |= {"messageId": self._seen[rid], "httpStatusCode": 202}
                    item |= {"repeatabilityResult": "accepted", "successful": True}
                else:
                    message_id = f"Outgoing_{uuid.uuid4().hex}"
                    self.sent.append(
                        SentSms(
                            request["from"],
                            to,
                            request["message"],
                            rid,
                            recipient.get("repeatabilityFirstSent"),
                            message_id,
                        )
                    )
                    if rid is not None:
                        self._seen[rid] = message_id
                        item["repeatabilityResult"] = "accepted"
                    item |= {"messageId": message_id, "httpStatusCode": 202, "successful": True}
                results.append(item)
        return results

    # -- delivery reports (GET /deliveryReports/{id}) -------------------------------------------

    def report(self, message_id: str, status: str = "Delivered", details: str = "") -> None:
        """What GET answers for `message_id` from now on (a message it sent, or any id)."""
        sent = next((s for s in self.sent if s.message_id == message_id), None)
        at = "2026-12-01T10:00:05+00:00"
        body: dict[str, Any] = {
            "messageId": message_id,
            "from": sent.from_ if sent else "+18005550100",
            "to": sent.to if sent else "+14255550100",
            "deliveryStatus": status,
            "deliveryStatusDetails": details or ("No error." if status == "Delivered" else ""),
            "deliveryAttempts": [
                {
                    "timestamp": at,
                    "segmentsSucceeded": int(status == "Delivered"),
                    "segmentsFailed": int(status != "Delivered"),
                }
            ],
            "receivedTimestamp": at,
        }
        with self._lock:
            self.reports[message_id] = body

    def _delivery_report(self, message_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            found = self.reports.get(message_id)
            sent = any(s.message_id == message_id for s in self.sent)
        if found is None and sent:
            self.report(message_id)
            found = self.reports[message_id]
        if found is None:
            return 404, {
                "type": "https://tools.ietf.org/html/rfc9110#section-15.5.5",
                "title": "Not Found",
                "status": 404,
                "traceId": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-00",
            }
        return 200, found

    def start(self) -> AcsDouble:
        handler = type("BoundHandler", (_Handler,), {"double": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    double: AcsDouble
    protocol_version = "HTTP/1.1"  # keep-alive, as ACS: a client reuses connections
    disable_nagle_algorithm = True  # headers and body leave at once

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    def _signed(self, body: bytes, headers: dict[str, str]) -> bool:
        url = f"http://{headers.get('host', '')}{self.path}"
        keys = [base64.b64decode(self.double.key)]
        try:
            verify_request(self.command, url, headers, body, keys, max_skew_seconds=900)
        except AuthError as exc:
            with self.double._lock:
                self.double.refused += 1
            self._reply(401, {"error": {"code": "Denied", "message": str(exc)}})
            return False
        return True

    def _injected_fault(self) -> bool:
        """Waits out an injected hang, then answers an injected fault: whether it did."""
        hang, fault = self.double._next_fault()
        time.sleep(hang)
        if fault is None:
            return False
        self._reply(fault, {"error": {"code": f"Injected{fault}", "message": "fault"}})
        return True

    def do_POST(self) -> None:
        double = self.double
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        with double._lock:
            double.calls += 1
        if not self._signed(body, headers):
            return
        parts = urlsplit(self.path)
        if parts.path.startswith(OPTOUTS_PATH):
            self._optouts(parts.path[len(OPTOUTS_PATH) :], parts.query, body)
            return
        if parts.path != "/sms":
            self._reply(404, {"error": {"code": "NotFound", "message": self.path}})
            return
        if self._injected_fault():
            return
        request = json.loads(body)
        version = parse_qs(parts.query).get("api-version", [""])[0]
        with double._lock:
            double.received.append(ReceivedRequest(self.path, version, headers, request))
            double.requests += 1
        self._reply(202, {"value": double._accept(request)})

    # -- delivery reports ----------------------------------------------------------------------

    def do_GET(self) -> None:
        double = self.double
        headers = {k.lower(): v for k, v in self.headers.items()}
        with double._lock:
            double.calls += 1
        if not self._signed(b"", headers):
            return
        parts = urlsplit(self.path)
        prefix = "/deliveryReports/"
        version = parse_qs(parts.query).get("api-version", [""])[0]
        if not parts.path.startswith(prefix) or version not in DELIVERY_REPORT_VERSIONS:
            self._reply(404, {"error": {"code": "NotFound", "message": self.path}})
            return
        if self._injected_fault():
            return
        with double._lock:
            double.received.append(ReceivedRequest(self.path, version, headers, {}))
        self._reply(*double._delivery_report(unquote(parts.path.removeprefix(prefix))))


# -- the Opt-Out Management API --------------------------------------------------------------------

OPTOUTS_PATH = "/sms/optouts:"
OPTOUT_ACTIONS = ("add", "remove", "check")


def optout_answer(double: AcsDouble, action: str, request: dict[str, Any]) -> list[dict[str, Any]]:
    """ACS's items for one call: per recipient, in order; `+123`-like numbers (not E.164) get
    its 400 item. Adds and removes are idempotent, as ACS's."""
    sender = request["from"]
    items: list[dict[str, Any]] = []
    with double._lock:
        listed = double.optouts.setdefault(sender, set())
        for recipient in request["recipients"]:
            to = recipient["to"]
            digits = to[1:]
            if not (to.startswith("+") and digits.isdigit() and 8 <= len(digits) <= 15):
                items.append(
                    {
                        "to": to,
                        "httpStatusCode": 400,
                        "errorMessage": "Invalid recipient phone number format",
                    }
                )
                continue
            if action == "add":
                listed.add(to)
            elif action == "remove":
                listed.discard(to)
            item: dict[str, Any] = {"to": to, "httpStatusCode": 200}
            if action == "check":
                item["isOptedOut"] = to in listed
            items.append(item)
    return items


def _optouts(self: _Handler, action: str, query: str, body: bytes) -> None:
    double = self.double
    if action not in OPTOUT_ACTIONS:
        self._reply(404, {"error": {"code": "NotFound", "message": self.path}})
        return
    if self._injected_fault():
        return
    request = json.loads(body)
    version = parse_qs(query).get("api-version", [""])[0]
    items = optout_answer(double, action, request)
    with double._lock:
        recipients = [r["to"] for r in request["recipients"]]
        double.optout_calls.append(OptOutCall(action, request["from"], recipients, version))
    self._reply(200, {"value": items})


_Handler._optouts = _optouts  # type: ignore[attr-defined]
