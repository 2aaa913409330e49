"""`make bench` rows for POST /sms: send next to the check it makes and the ACS call it forwards.

The upstream is the ACS double (devhost/acs_double.py) on loopback, so "ACS call alone" is the
official client's pipeline (HMAC signing, HTTP) without ACS's own latency. The three calls run
interleaved, round after round, so they meet the same machine load; the gateway's overhead is
the median over rounds of send - (check + ACS call alone). Its storage requests are the check's.
"""

from __future__ import annotations

import json
import os
import statistics
import time
import uuid
from collections.abc import Callable

from devhost.acs_double import AcsDouble
from devhost.inprocess import StorageRecorder, call
from shared import runtime
from shared.api.acs_upstream import make_upstream
from shared.api.send_wire import parse_send_body
from shared.sending.records import SendRequest, Upstream

SENDER = "+18005550100"
Row = tuple[str, float, float, float, int, float]  # as bench.py: ..., events


def _body(people: list[str]) -> dict[str, object]:
    recipients = [{"to": p, "repeatabilityRequestId": str(uuid.uuid4())} for p in people]
    return {"from": SENDER, "smsRecipients": recipients, "message": "Your order shipped"}


def _timed(fn: Callable[[], object], recorder: StorageRecorder) -> tuple[float, int, int]:
    recorder.clear()
    start = time.perf_counter()
    fn()
    events = sum(1 for _, path, _ in recorder.requests if path.endswith("/messages"))
    return (time.perf_counter() - start) * 1000, recorder.count, events


def _row(name: str, samples: list[tuple[float, int, int]]) -> Row:
    times = sorted(t for t, _, _ in samples)
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    counts = [c for _, c, _ in samples]
    events = statistics.mean(e for _, _, e in samples)
    return name, statistics.median(times), p95, statistics.mean(counts), max(counts), events


def _rows_for(n: int, upstream: Upstream, rounds: int, recorder: StorageRecorder) -> list[Row]:
    people = [f"+1425566{i:04d}" for i in range(n)]
    blocked = people[: n // 2]  # half of them opted out (none of 1)
    if blocked:
        call(
            "POST", "sms/optouts:add", {"from": SENDER, "recipients": [{"to": p} for p in blocked]}
        )
    check = {"from": SENDER, "recipients": [{"to": p} for p in people]}
    forwarded = parse_send_body(json.dumps(_body(people[n // 2 :])).encode(), "2026-01-23")
    assert isinstance(forwarded, SendRequest)
    runs: dict[str, list[tuple[float, int, int]]] = {"check": [], "acs": [], "send": []}
    for _ in range(rounds):
        runs["check"].append(_timed(lambda: call("POST", "sms/optouts:check", check), recorder))
        runs["acs"].append(_timed(lambda: upstream.send(forwarded), recorder))
        runs["send"].append(_timed(lambda: call("POST", "sms", _body(people)), recorder))
    overhead = statistics.median(
        s[0] - c[0] - a[0] for c, a, s in zip(runs["check"], runs["acs"], runs["send"], strict=True)
    )
    label = f"x{n}" + (f" ({len(blocked)} opted out)" if blocked else "")
    return [
        _row(f"check x{n}", runs["check"]),
        _row(f"ACS call alone x{n - len(blocked)}", runs["acs"]),
        _row(f"send {label}", runs["send"]),
        (f"  send overhead x{n}", overhead, float("nan"), 0.0, 0, 0.0),
    ]


def send_rows(rounds: int, recorder: StorageRecorder) -> list[Row]:
    acs = AcsDouble().start()
    os.environ["ACS_CONNECTION_STRING"] = acs.connection_string
    runtime.reset()
    try:
        upstream = make_upstream(runtime.settings())
        return [row for n in (1, 100) for row in _rows_for(n, upstream, rounds, recorder)]
    finally:
        os.environ.pop("ACS_CONNECTION_STRING", None)
        runtime.reset()
        acs.stop()
