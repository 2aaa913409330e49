"""Delivery reports (docs/delivery-reports.md): storage requests and time per report processed,
and for the GET that answers a kept one, against a private Azurite, with the ACS double
(devhost/acs_double.py) as ACS.

    .venv/bin/python -m bench.delivery_reports [--rounds 10]

Each report goes through the queue function's own code (`handle_report_message` with the
runtime's processor), as the host hands it a message from `sms-delivery-reports`. Every kind is
a distinct message to a distinct recipient (a pair's first report), made for real beforehand,
not counted: the messages sent with `POST /sms`, the confirmations of STOPs put through the
`sms-inbound` function (whose replies the ACS double sends, so their history rows carry the
reply's message id). Rows:

- `send report (kept)`: a `Delivered` report of a `POST /sms` send: only kept.
- `confirmation report`: a keyword confirmation's: kept, and the STOP's history row and its
  `~time|` copy marked delivered.
- `4007 report (opt-out)`: a `Failed` report with code 4007: kept, the recipient opted out
  (source carrier) with one event and one history row.
- `4007, program not cached`: the same, for a sender whose program this instance has not read in
  the last 10 s (whether it is mirrored into ACS): one point read more.
- `4007 redelivered`: the same report again: no second event, the same history row.
- `GET /deliveryReports/{id}`: a kept report, answered here (the ACS double is never asked).

`requests` is the mean per report (Table and queue requests, each billed); below each row the
kinds, per report. Times on Azurite are only relative; the request counts are what the real
services bill.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import measure  # noqa: E402
from bench.counting_host import request_kind  # noqa: E402
from devhost.acs_double import AcsDouble  # noqa: E402
from devhost.inprocess import TEST_KEY, StorageRecorder, call  # noqa: E402
from devhost.testing import start_azurite  # noqa: E402
from shared import runtime  # noqa: E402
from shared.domain.delivery import CONFIRMATION_TAG  # noqa: E402
from shared.domain.model import DeliveryStatus  # noqa: E402
from shared.inbound.delivery_reports import ReportResult, handle_report_message  # noqa: E402
from shared.inbound.processor import handle_queue_message  # noqa: E402

SENDER = "+18005550190"
OPTED_OUT = "4007: The Destination/To number has opted out of receiving messages from you"
Row = tuple[str, float, float, float, int, float]  # as bench/bench.py: ..., events


@dataclass
class KindRecorder(StorageRecorder):
    """A StorageRecorder that also names each request's kind (bench/counting_host.py's labels;
    a queue message as `POST <queue> message`)."""

    kinds: list[str] = field(default_factory=list)

    def __call__(self, request: Any) -> None:
        super().__call__(request)
        http = request.http_request
        path = unquote(urlsplit(http.url).path)
        if path.endswith("/messages"):
            self.kinds.append(f"{http.method} {path.split('/')[-2]} message")
        else:
            self.kinds.append(request_kind(http.method, http.url, http.body))

    def clear(self) -> None:
        super().clear()
        self.kinds.clear()


def report_event(message_id: str, to: str, **data: Any) -> str:
    """An `SMSDeliveryReportReceived` queue message, as Event Grid puts it."""
    now = datetime.now(UTC).isoformat()
    attempts = [{"Timestamp": now, "SegmentsSucceeded": 1, "SegmentsFailed": 0}]
    body = {
        "id": str(uuid.uuid4()),
        "eventType": "Microsoft.Communication.SMSDeliveryReportReceived",
        "eventTime": now,
        "dataVersion": "1.0",
        "data": {
            "MessageId": message_id,
            "From": SENDER,
            "To": to,
            "DeliveryStatus": "Delivered",
            "DeliveryStatusDetails": "No error.",
            "ReceivedTimestamp": now,
            "DeliveryAttempts": attempts,
            **data,
        },
    }
    return json.dumps(body)


def inbound_stop(person: str) -> str:
    """An `SMSReceived` STOP from `person`, as on the `sms-inbound` queue."""
    message_id = f"Incoming_{uuid.uuid4().hex}"
    now = datetime.now(UTC).isoformat()
    data = {
        "MessageId": message_id,
        "From": person,
        "To": SENDER,
        "Message": "STOP",
        "ReceivedTimestamp": now,
    }
    event = {
        "id": message_id,
        "eventType": "Microsoft.Communication.SMSReceived",
        "eventTime": now,
        "dataVersion": "1.0",
        "data": data,
    }
    return json.dumps(event)


def send(people: list[str]) -> list[str]:
    """POST /sms to `people` (through the ACS double): the message ids, in order."""
    body = {
        "from": SENDER,
        "smsRecipients": [{"to": p} for p in people],
        "message": "Your order shipped",
        "smsSendOptions": {"enableDeliveryReport": True},
    }
    status, answer = call("POST", "sms", body)
    assert status == 202, answer
    return [item["messageId"] for item in answer["value"]]


def confirmations(acs: AcsDouble, people: list[str]) -> list[str]:
    """A STOP from each of `people` through the inbound function: its confirmation's id."""
    for person in people:
        handle_queue_message(inbound_stop(person), runtime.inbound_processor())
    replies = {s.to: s.message_id for s in acs.sent}
    return [replies[p] for p in people]


def reports(events: list[str], expect: Callable[[ReportResult], bool]) -> Callable[[], None]:
    """Handle the next of `events` per call, holding each outcome to `expect`."""
    pending: Iterator[str] = iter(events)

    def run() -> None:
        result = handle_report_message(next(pending), runtime.delivery_report_processor())
        assert expect(result), result

    return run


def forget() -> None:
    runtime.mirrored_senders().forget(SENDER)


def timed(
    name: str,
    fn: Callable[[], None],
    rounds: int,
    recorder: KindRecorder,
    setup: Callable[[], None] | None = None,
) -> tuple[Row, Counter[str]]:
    """`measure` over `rounds` calls, and the kinds of requests they made, per call."""
    kinds: Counter[str] = Counter()

    def counted() -> None:
        fn()
        kinds.update(recorder.kinds)

    row = (name, *measure(counted, rounds, recorder, setup))
    return row, Counter({k: n / rounds for k, n in kinds.items()})


def rows(rounds: int, acs: AcsDouble, recorder: KindRecorder) -> list[tuple[Row, Counter[str]]]:
    # One more of each than measured: the first is a warm-up (clients, connections, the
    # change feed's queue made on first use), not counted.
    n = rounds + 1
    people = iter(f"+1425557{i:04d}" for i in range(10_000))
    sent_to = [next(people) for _ in range(n)]
    sent = send(sent_to)
    stopped = [next(people) for _ in range(n)]
    replies = confirmations(acs, stopped)
    blocked = [next(people) for _ in range(n)]
    failed_ids = send(blocked)
    cold = [next(people) for _ in range(n)]
    cold_ids = send(cold)

    delivered = [report_event(m, p) for m, p in zip(sent, sent_to, strict=True)]
    confirmed = [
        report_event(m, p, Tag=CONFIRMATION_TAG) for m, p in zip(replies, stopped, strict=True)
    ]
    failed = [
        report_event(m, p, DeliveryStatus="Failed", DeliveryStatusDetails=OPTED_OUT)
        for m, p in zip(failed_ids, blocked, strict=True)
    ]
    failed_cold = [
        report_event(m, p, DeliveryStatus="Failed", DeliveryStatusDetails=OPTED_OUT)
        for m, p in zip(cold_ids, cold, strict=True)
    ]
    kinds = [
        ("send report (kept)", delivered, lambda r: r.kept and not r.opted_out, None),
        (
            "confirmation report",
            confirmed,
            lambda r: r.kept and r.confirmation is DeliveryStatus.DELIVERED,
            None,
        ),
        ("4007 report (opt-out)", failed, lambda r: r.kept and r.opted_out, None),
        # The change asks whether the sender is mirrored into ACS: a program read per sender
        # per MIRRORED_CACHE_SECONDS per instance (shared/feed/mirror.py), here every time.
        ("4007, program not cached", failed_cold, lambda r: r.kept and r.opted_out, forget),
        ("4007 redelivered", failed, lambda r: r.kept and r.opted_out, None),
    ]
    out = []
    for name, events, expect, setup in kinds:
        run = reports(events, expect)
        run()  # the warm-up
        out.append(timed(name, run, rounds, recorder, setup))
    asked = len(acs.received)
    ids = iter(sent)

    def get() -> None:
        message_id = next(ids)
        status, body = call("GET", f"deliveryReports/{message_id}")
        assert status == 200 and body["deliveryStatus"] == "Delivered", body

    get()  # the warm-up
    out.append(timed("GET /deliveryReports/{id}", get, rounds, recorder))
    assert len(acs.received) == asked, "a kept report was asked of ACS"
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the app's per-report lines (masked): noise here

    az = start_azurite()
    acs = AcsDouble().start()
    recorder = KindRecorder()
    os.environ.update(
        {
            "AzureWebJobsStorage": az.connection_string,
            "OPTOUT_ACCESS_KEYS": TEST_KEY,
            "ACS_CONNECTION_STRING": acs.connection_string,
            "REPLY_BRAND": "Contoso",
        }
    )
    runtime.STORAGE_CLIENT_OPTIONS["raw_request_hook"] = recorder
    runtime.reset()
    try:
        runtime.store().ensure_tables()
        measured = rows(args.rounds, acs, recorder)
        assert recorder.scans() == [], recorder.scans()
    finally:
        runtime.reset()
        acs.stop()
        az.stop()

    head = f"{'per report':<28}{'median ms':>10}{'p95 ms':>10}{'requests':>10}{'max req':>9}"
    print(head + f"{'of which events':>17}")
    for (name, median, p95, mean_count, max_count, events), kinds in measured:
        line = f"{name:<28}{median:>10.1f}{p95:>10.1f}{mean_count:>10.1f}{max_count:>9}"
        print(line + f"{events:>17.1f}")
        for kind, per in kinds.items():
            print(f"    {per:g} x {kind}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
