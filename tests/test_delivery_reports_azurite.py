"""Delivery reports on Azurite, in process: what each kind of report costs in storage requests
(the figures docs/delivery-reports.md#cost gives, from `make bench`), and that no request
scans."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from devhost.inprocess import TEST_KEY, StorageRecorder, app_against, call
from devhost.testing import Azurite
from shared import runtime
from shared.domain.delivery import CONFIRMATION_TAG
from shared.domain.model import Action, DeliveryStatus, HistoryRecord, Outcome, ReplyStatus, Source
from shared.domain.phone import parse_e164
from shared.domain.sender import parse_sender
from shared.inbound.delivery_reports import handle_report_message

BUSINESS, PERSON = "+18005550180", "+14255550181"


@pytest.fixture
def app(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[StorageRecorder]:
    suffix = uuid.uuid4().hex[:8]
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "OPTOUT_ACCESS_KEYS": TEST_KEY,
        "OPTOUT_TABLE_NAME": f"DlrOptOuts{suffix}",
        "OPTOUT_HISTORY_TABLE_NAME": f"DlrHistory{suffix}",
        "SENDER_PROGRAMS_TABLE_NAME": f"DlrPrograms{suffix}",
        "DELIVERY_REPORTS_TABLE_NAME": f"DlrReports{suffix}",
        "OPTOUT_EVENTS_QUEUE_NAME": f"dlr-events-{suffix}",
    }
    with app_against(env, monkeypatch) as recorder:
        runtime.store().ensure_tables()
        yield recorder


def event(message_id: str, **data: Any) -> str:
    return json.dumps(
        {
            "id": message_id,
            "eventType": "Microsoft.Communication.SMSDeliveryReportReceived",
            "eventTime": datetime.now(UTC).isoformat(),
            "data": {
                "MessageId": message_id,
                "From": BUSINESS,
                "To": PERSON,
                "DeliveryStatus": "Delivered",
                "ReceivedTimestamp": datetime.now(UTC).isoformat(),
                **data,
            },
        }
    )


def requests_for(recorder: StorageRecorder, body: str) -> list[tuple[str, str]]:
    """(method, what) of each storage request the report made: a table's kind (`reports`,
    `history`, `optouts`), `$batch` (a transaction), or `events` (the change-feed queue)."""
    recorder.clear()
    handle_report_message(body, runtime.delivery_report_processor())
    kinds = {
        "DlrReports": "reports",
        "DlrHistory": "history",
        "DlrOptOuts": "optouts",
        "DlrPrograms": "programs",
    }
    made = []
    for method, path, _ in recorder.requests:
        last = path.split("/")[2] if path.count("/") > 1 else path
        kind = next((k for prefix, k in kinds.items() if last.startswith(prefix)), None)
        if kind is None:
            kind = "events" if "dlr-events" in path else last
        made.append((method, kind))
    return made


def test_a_report_is_one_read_and_one_write(app: StorageRecorder) -> None:
    made = requests_for(app, event("Outgoing_a"))
    assert made == [("GET", "reports"), ("POST", "reports")]  # point read, create
    again = requests_for(app, event("Outgoing_a"))  # redelivered: read, conditional replace
    assert again == [("GET", "reports"), ("PUT", "reports")]


def test_a_confirmations_report_adds_one_bounded_query_and_one_transaction(
    app: StorageRecorder,
) -> None:
    history = runtime.store().history
    received = datetime.now(UTC) - timedelta(seconds=5)
    row = HistoryRecord(
        sender=BUSINESS,
        recipient=PERSON,
        action=Action.OPT_OUT,
        source=Source.KEYWORD,
        event_id="in-1",
        event_at=received,
        outcome=Outcome.APPLIED,
        keyword="STOP",
        reply_status=ReplyStatus.SENDING,
        effective_at=received,
    )
    history.create_history(row)
    history.set_reply_status(row, ReplyStatus.SENT, "Outgoing_c")
    attempt = (received + timedelta(seconds=3)).isoformat()
    attempts = [{"Timestamp": attempt, "SegmentsSucceeded": 1, "SegmentsFailed": 0}]
    report = event("Outgoing_c", Tag=CONFIRMATION_TAG, DeliveryAttempts=attempts)
    made = requests_for(app, report)
    assert made == [
        ("GET", "reports"),
        ("POST", "reports"),
        ("GET", "history"),  # the query, bounded to the pair's rows
        ("POST", "$batch"),  # the merge of the row and of its time-first copy, one transaction
    ]
    (query,) = [f for _, _, f in app.requests if f]
    assert "PartitionKey eq" in query and "RowKey gt" in query and "RowKey lt" in query
    assert history.get_history(row).delivery_status is DeliveryStatus.DELIVERED
    # The compliance report reads the window from the time-first copies (one key-range query):
    # the copy got the report's status too, so the report shows the confirmation delivered.
    start, end = (quote((received + timedelta(minutes=m)).isoformat()) for m in (-1, 1))
    window = f"from={start}&to={end}"
    app.clear()
    status, body = call("GET", f"sms/senders/{BUSINESS}/report", query=window)
    assert status == 200, body
    (shown,) = body["value"]
    assert (shown["confirmationDeliveryStatus"], shown["confirmationDeliveredAt"]) == (
        "delivered",
        (received + timedelta(seconds=3)).isoformat(),
    )
    assert body["totals"]["confirmations"] == {"due": 1, "sent": 1, "delivered": 1, "failed": 0}
    (window_query,) = [f for _, p, f in app.requests if f and "DlrHistory" in p]
    assert "RowKey ge '~time|" in window_query and "RowKey lt '~time|" in window_query


def test_a_4007_adds_the_change_and_one_history_write(app: StorageRecorder) -> None:
    failed = {"DeliveryStatus": "Failed", "DeliveryStatusDetails": "4007"}
    report = event("Outgoing_f", **failed)
    made = requests_for(app, report)
    made = [r for r in made if r != ("PUT", "events")]  # the events queue made on first use
    assert made == [
        ("GET", "reports"),
        ("POST", "reports"),
        ("POST", "$batch"),  # the pair's owed marker, for the sweep (docs/events.md)
        ("POST", "$batch"),  # the entry and its owed event, one transaction
        ("POST", "events"),  # the change event
        ("GET", "programs"),  # whether the sender is mirrored into ACS (docs/acs-mirror.md)
        ("POST", "$batch"),  # the event cleared
        ("POST", "$batch"),  # the history row
    ]
    again = requests_for(app, report)  # redelivered
    assert ("POST", "events") not in again  # no second event
    assert again == [
        ("GET", "reports"),
        ("PUT", "reports"),
        ("POST", "$batch"),  # the owed marker, upserted before the change is tried
        ("POST", "$batch"),  # the change, refused: opted out already
        ("GET", "optouts"),  # the feed reads the entry: no change to make
        ("GET", "optouts"),  # whose entry: this report's (source carrier, its id)
        ("POST", "$batch"),  # so the same history row, written again
    ]
    # The carrier's row and its time-first copy (what the report reads) carry the change's
    # effect time, the entry's opted-out time (decided with its sequence, never backwards).
    store = runtime.store()
    sender, recipient = parse_sender(BUSINESS), parse_e164(PERSON)
    (opted_out_at,) = store.bulk.imported_by(
        sender, [recipient], "Outgoing_f", Source.CARRIER
    ).values()
    day = timedelta(days=1)
    now = datetime.now(UTC)
    rows, _ = store.history.history_window(sender, now - day, now + day)
    assert [(r.source, r.message_id, r.effective_at) for r in rows] == [
        (Source.CARRIER, "Outgoing_f", opted_out_at)
    ]
