"""POST /sms/senders/{sender}/optouts:import through the registered functions, on Azurite."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueClient

from devhost.inprocess import StorageRecorder, call
from devhost.queues import QUEUE_API_VERSION
from devhost.testing import Azurite
from shared.api import optout_import
from shared.optouts.importfile import MAX_IMPORT_ROWS
from tests.bulkhelpers import bulk_app, csv_body, import_csv, numbers, request

__all__ = ["bulk_app"]
SENDER = "+18005550100"
IMPORT = f"/sms/senders/{SENDER}/optouts:import"


def table_rows(azurite: Azurite, app: StorageRecorder, setting: str) -> dict[str, dict[str, Any]]:
    client = TableServiceClient.from_connection_string(azurite.connection_string)
    table = client.get_table_client(app.tables[setting])  # type: ignore[attr-defined]
    try:
        return {e["RowKey"]: e for e in table.query_entities(f"PartitionKey eq '{SENDER}'")}
    except ResourceNotFoundError:  # the table was never created: nothing was written
        return {}


def entries(azurite: Azurite, app: StorageRecorder) -> dict[str, dict[str, Any]]:
    """The opt-out entries (not the feed or keyword-state rows beside them)."""
    rows = table_rows(azurite, app, "OPTOUT_TABLE_NAME")
    return {k: v for k, v in rows.items() if k.startswith("+")}


def events(azurite: Azurite, app: StorageRecorder) -> list[dict[str, Any]]:
    """The change feed's events so far (received and deleted, so each is seen once)."""
    name = app.tables["OPTOUT_EVENTS_QUEUE_NAME"]  # type: ignore[attr-defined]
    queue = QueueClient.from_connection_string(
        azurite.connection_string, name, api_version=QUEUE_API_VERSION
    )
    try:
        found = []
        while batch := queue.receive_messages(max_messages=32, visibility_timeout=60):
            messages = list(batch)
            if not messages:
                return found
            for m in messages:
                found.append(json.loads(m.content))
                queue.delete_message(m)
        return found
    except ResourceNotFoundError:
        return []


def history(azurite: Azurite, app: StorageRecorder) -> list[dict[str, Any]]:
    """The history rows (not their time copies, `~time|...`)."""
    rows = table_rows(azurite, app, "OPTOUT_HISTORY_TABLE_NAME")
    return [row for key, row in rows.items() if key.startswith("+")]


def test_csv_variants_are_imported_with_provenance(
    bulk_app: StorageRecorder, azurite: Azurite
) -> None:
    body = (
        "\ufeffName;Phone;optedOutAt\r\n"
        '"Doe; Jane";"+1 425 555 0101";2024-05-01T10:00:00Z\r\n'
        "\r\n"
        "Roe;14255550102;\r\n"
        "Bad;hello;\r\n"
        "Dup;+14255550101;2023-01-01T00:00:00Z\r\n"
        "Late;+14255550103;2999-01-01\r\n"
    ).encode()
    before = datetime.now(UTC)
    reply = import_csv(SENDER, body, "importId=file-1")
    assert reply.status == 200, reply.text
    assert reply.json() == {
        "importId": "file-1",
        "received": 5,
        "added": 2,
        "alreadyOptedOut": 0,
        "invalid": 2,
        "duplicates": 1,
        "errors": [
            {"line": 5, "reason": "Invalid phone number format: expected E.164, e.g. +14255550123"},
            {"line": 7, "reason": "optedOutAt is in the future."},
        ],
    }
    rows = entries(azurite, bulk_app)
    assert set(rows) == {"+14255550101", "+14255550102"}
    first, second = rows["+14255550101"], rows["+14255550102"]
    assert (first["Source"], first["MessageId"], first["Country"]) == ("import", "file-1", "US")
    assert first["OptedOutAt"] == datetime(2023, 1, 1, tzinfo=UTC)  # the earliest of the two
    assert before - timedelta(seconds=1) <= second["OptedOutAt"] <= datetime.now(UTC)


def test_history_rows_for_every_added_entry_and_reimport_is_a_no_op(
    bulk_app: StorageRecorder, azurite: Azurite
) -> None:
    people = numbers(250)
    first = import_csv(SENDER, csv_body(people)).json()
    assert (first["added"], first["alreadyOptedOut"]) == (250, 0)
    rows = history(azurite, bulk_app)
    assert sorted(r["Recipient"] for r in rows) == people
    assert {(r["Action"], r["Source"], r["Outcome"]) for r in rows} == {
        ("optout", "import", "applied")
    }
    assert {r["MessageId"] for r in rows} == {first["importId"]}
    before = entries(azurite, bulk_app)
    again = import_csv(SENDER, csv_body(people)).json()
    assert (again["added"], again["alreadyOptedOut"]) == (0, 250)
    assert again["importId"] != first["importId"]
    after = entries(azurite, bulk_app)
    assert after == before
    assert [e.metadata["etag"] for e in after.values()] == [
        e.metadata["etag"] for e in before.values()
    ]
    assert len(history(azurite, bulk_app)) == 250  # nothing recorded for a no-op
    # A history read through the API shows the import.
    page = request("GET", f"/sms/senders/{SENDER}/history?maxpagesize=1").json()
    assert page["value"][0]["source"] == "import"


def test_existing_entries_are_left_as_they_were(
    bulk_app: StorageRecorder, azurite: Azurite
) -> None:
    status, _ = call(
        "POST", "sms/optouts:add", {"from": SENDER, "recipients": [{"to": "+14250000001"}]}
    )
    assert status == 200
    api_row = entries(azurite, bulk_app)["+14250000001"]
    reply = import_csv(SENDER, csv_body(numbers(5), "+14250000001\n")).json()
    assert (reply["added"], reply["alreadyOptedOut"], reply["duplicates"]) == (4, 1, 1)
    kept = entries(azurite, bulk_app)["+14250000001"]
    assert (kept["Source"], kept["OptedOutAt"]) == ("api", api_row["OptedOutAt"])
    assert kept["Source"] == "api"


def test_a_retried_request_counts_its_own_entries_as_added(
    bulk_app: StorageRecorder, azurite: Azurite
) -> None:
    people = numbers(120)
    first = import_csv(SENDER, csv_body(people[:70]), "importId=run-7").json()
    retried = import_csv(SENDER, csv_body(people), "importId=run-7").json()
    assert (first["added"], retried["added"], retried["alreadyOptedOut"]) == (70, 120, 0)
    assert len(history(azurite, bulk_app)) == 120  # the same rows, written again
    other = import_csv(SENDER, csv_body(people), "importId=run-8").json()
    assert (other["added"], other["alreadyOptedOut"]) == (0, 120)


def test_storage_requests_per_hundred_rows(bulk_app: StorageRecorder) -> None:
    import_csv(SENDER, csv_body(["+14259999999"]))  # the tables exist from here on
    # 500 rows: 5 feed slices of 100 with 4 in flight (a full round, then a partial one); the
    # counts are per 100 rows, so a larger list adds time, not coverage.
    rows = 500
    people = numbers(rows)
    bulk_app.clear()
    assert import_csv(SENDER, csv_body(people)).json()["added"] == rows
    event_path = f"/{bulk_app.tables['OPTOUT_EVENTS_QUEUE_NAME']}/messages"  # type: ignore[attr-defined]
    sent = [r for r in bulk_app.requests if r[1].endswith(event_path)]
    tables = [r for r in bulk_app.requests if not r[1].endswith(event_path)]
    assert len(sent) == rows  # one event message per added entry
    # Per 100 rows: 1 transaction of owed markers, 4 of entry, its time copy and feed row (33
    # each), 1 clear of the published events, and 2 history transactions (50 rows and their
    # time copies); no reads.
    assert [r for r in tables if not r[1].endswith("$batch")] == []
    assert len(tables) == (1 + 4 + 1 + 2) * math.ceil(rows / 100)
    bulk_app.clear()
    assert import_csv(SENDER, csv_body(people)).json()["alreadyOptedOut"] == rows
    assert not any(r[1].endswith(event_path) for r in bulk_app.requests)  # no change, no event
    writes = [r for r in bulk_app.requests if r[0] != "GET"]
    reads = [r for r in bulk_app.requests if r[0] == "GET"]
    # the owed markers of the guessed changes, then failed transactions (guessed new people,
    # 33 a transaction): no entry, feed row or event written
    assert len(writes) == rows // 100 + 4 * math.ceil(rows / 100)
    assert len(reads) == 2 * rows  # the feed's entry reads, then which are this import's own
    assert bulk_app.rowkey_or_filters() == []
    assert all(not f for _, _, f in reads)  # point reads, never a query


def test_every_added_entry_owes_one_event_and_a_reimport_none(
    bulk_app: StorageRecorder, azurite: Azurite
) -> None:
    body = b"to,optedOutAt\n+14255550301,2024-02-03T04:05:06Z\n+14255550302,\n"
    assert import_csv(SENDER, body, "importId=ev-1").json()["added"] == 2
    sent = [e for e in events(azurite, bulk_app) if e["data"]["sender"] == SENDER]
    assert sorted(e["data"]["recipient"] for e in sent) == ["+14255550301", "+14255550302"]
    first = next(e for e in sent if e["data"]["recipient"] == "+14255550301")
    assert (first["data"]["source"], first["data"]["messageId"]) == ("import", "ev-1")
    assert first["data"]["optedOutAt"].startswith("2024-02-03T04:05:06")
    assert import_csv(SENDER, body).json()["alreadyOptedOut"] == 2
    assert [e for e in events(azurite, bulk_app) if e["data"]["sender"] == SENDER] == []


def test_json_and_ndjson_bodies(bulk_app: StorageRecorder) -> None:
    body = json.dumps(["+14255550201", {"to": "14255550202", "optedOutAt": "2024-01-01"}, 7])
    reply = request("POST", IMPORT, body.encode())
    assert reply.status == 200, reply.text
    assert (reply.json()["added"], reply.json()["errors"][0]["line"]) == (2, 3)
    nd = b'{"to":"+14255550203"}\n\n{"to":"+14255550201"}\n'
    reply = request("POST", IMPORT, nd, content_type="application/x-ndjson; charset=utf-8")
    assert (reply.json()["added"], reply.json()["alreadyOptedOut"]) == (1, 1)


def test_whole_request_errors(bulk_app: StorageRecorder, azurite: Azurite) -> None:
    too_many = csv_body(numbers(MAX_IMPORT_ROWS + 1))
    assert import_csv(SENDER, too_many).status == 413
    assert import_csv(SENDER, b"to\n" + b"+14255550100," + b"x" * (4 * 1024 * 1024)).status == 413
    assert request("POST", IMPORT, b"to\n+14255550100\n", content_type="text/plain").status == 415
    no_header = import_csv(SENDER, b"+14255550100\n+14255550101\n")
    assert no_header.status == 400
    assert "number column" in no_header.json()["errors"]["body"][0]
    assert import_csv(SENDER, b"to\n+14255550100\n", "importId=no/slash").status == 400
    assert import_csv("+123", b"to\n+14255550100\n").status == 400
    unsigned = request("POST", IMPORT, b"to\n+14255550100\n", content_type="text/csv", key=None)
    assert unsigned.status == 401
    assert entries(azurite, bulk_app) == {}  # none of these changed anything


def test_exactly_the_row_limit_is_accepted(
    bulk_app: StorageRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(optout_import, "MAX_IMPORT_ROWS", 40)  # the mechanism, on a small list
    reply = import_csv(SENDER, csv_body(numbers(40)))
    assert (reply.status, reply.json()["added"]) == (200, 40)
    assert import_csv(SENDER, csv_body(numbers(41))).status == 413
