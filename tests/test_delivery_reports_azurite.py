"""Delivery reports on Azurite, in process: what each kind of report costs in storage requests
(the figures docs/delivery-reports.md#storage gives), and that no request scans."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devhost.inprocess import TEST_KEY, StorageRecorder, app_against
from devhost.testing import Azurite
from shared import runtime
from shared.domain.delivery import CONFIRMATION_TAG
from shared.domain.model import Action, DeliveryStatus, HistoryRecord, Outcome, ReplyStatus, Source
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


def test_a_confirmations_report_adds_one_bounded_query_and_one_merge(app: StorageRecorder) -> None:
    history = runtime.store().history
    row = HistoryRecord(
        sender=BUSINESS,
        recipient=PERSON,
        action=Action.OPT_OUT,
        source=Source.KEYWORD,
        event_id="in-1",
        event_at=datetime.now(UTC) - timedelta(seconds=5),
        outcome=Outcome.APPLIED,
        keyword="STOP",
        reply_status=ReplyStatus.SENDING,
    )
    history.create_history(row)
    history.set_reply_status(row, ReplyStatus.SENT, "Outgoing_c")
    made = requests_for(app, event("Outgoing_c", Tag=CONFIRMATION_TAG))
    assert made == [
        ("GET", "reports"),
        ("POST", "reports"),
        ("GET", "history"),  # the query, bounded to the pair's rows
        ("PATCH", "history"),  # the merge
    ]
    (query,) = [f for _, _, f in app.requests if f]
    assert "PartitionKey eq" in query and "RowKey gt" in query and "RowKey lt" in query
    assert history.get_history(row).delivery_status is DeliveryStatus.DELIVERED


def test_a_4007_adds_the_change_and_one_history_write(app: StorageRecorder) -> None:
    failed = {"DeliveryStatus": "Failed", "DeliveryStatusDetails": "4007"}
    made = requests_for(app, event("Outgoing_f", **failed))
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
    again = requests_for(app, event("Outgoing_f", **failed))  # redelivered
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
