"""GET /sms/senders/{sender}/optouts and :export through the registered functions, on Azurite."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableServiceClient

from devhost.inprocess import StorageRecorder
from devhost.testing import Azurite
from shared.optouts.pagetoken import MAX_TOKEN_CHARS
from tests.bulkhelpers import bulk_app, csv_body, import_csv, numbers, request

__all__ = ["bulk_app"]
SENDER = "+18005550100"
OTHER = "+18005550199"
LIST = f"/sms/senders/{SENDER}/optouts"
LINK = re.compile(r'<([^>]+)>; rel="next"')


def seed(sender: str, people: list[str]) -> None:
    """Opt `people` out through the import endpoint (entries, feed rows, history, events)."""
    reply = import_csv(sender, csv_body(people))
    assert reply.status == 200, reply.text


def seed_fast(app: StorageRecorder, azurite: Azurite, sender: str, people: list[str]) -> None:
    """Write entries straight into the table, as the import makes them (the big lists here
    test reading; the import's own writing is tested in test_optout_import.py)."""
    client = TableServiceClient.from_connection_string(azurite.connection_string)
    table = client.get_table_client(app.tables["OPTOUT_TABLE_NAME"])  # type: ignore[attr-defined]
    with contextlib.suppress(ResourceExistsError):
        table.create_table()
    at = datetime(2025, 1, 1, tzinfo=UTC)
    for start in range(0, len(people), 100):
        table.submit_transaction(
            [
                ("upsert", {"PartitionKey": sender, "RowKey": p, "Sender": sender,
                            "Recipient": p, "Country": "US", "OptedOutAt": at,
                            "Source": "import", "MessageId": "seed"})
                for p in people[start : start + 100]
            ]
        )  # fmt: skip


def all_pages(url: str, recorder: StorageRecorder | None = None) -> list[list[dict[str, Any]]]:
    pages = []
    next_url: str | None = url
    while next_url:
        before = recorder.count if recorder else 0
        reply = request("GET", next_url)
        assert reply.status == 200, reply.text
        if recorder:
            assert recorder.count - before == 1, "one Table query per page"
        body = reply.json()
        pages.append(body["value"])
        next_url = body.get("nextLink")
    return pages


def add_other_rows(azurite: Azurite, table: str, sender: str) -> None:
    """Rows that are not opt-out entries: keyword state and anything else the table holds."""
    client = TableServiceClient.from_connection_string(azurite.connection_string)
    t = client.get_table_client(table)
    for key in ("~state|+14250000001", "~outbox|0001", "program", "zzz"):
        t.upsert_entity({"PartitionKey": sender, "RowKey": key, "Recipient": "+14250000001"})


def test_paging_over_thousands_every_entry_once_in_stable_order(
    bulk_app: StorageRecorder, azurite: Azurite
) -> None:
    people = numbers(3100)
    seed_fast(bulk_app, azurite, SENDER, people[100:])
    seed(SENDER, people[:100])  # through the import too: entries beside feed rows
    seed(OTHER, numbers(50, "+1206"))
    add_other_rows(azurite, bulk_app.tables["OPTOUT_TABLE_NAME"], SENDER)  # type: ignore[attr-defined]
    pages = all_pages(LIST + "?maxpagesize=1000", bulk_app)
    assert [len(p) for p in pages][:3] == [1000, 1000, 1000]
    listed = [item["to"] for page in pages for item in page]
    assert listed == sorted(people)  # each exactly once, in recipient order
    again = [item["to"] for page in all_pages(LIST + "?maxpagesize=250") for item in page]
    assert again == listed
    item = pages[0][0]
    assert set(item) == {"to", "country", "optedOutAt", "source"}
    assert (item["country"], item["source"]) == ("US", "import")
    assert datetime.fromisoformat(item["optedOutAt"]).tzinfo is not None
    assert bulk_app.rowkey_or_filters() == []


def test_default_page_size_and_bounds(bulk_app: StorageRecorder) -> None:
    seed(SENDER, numbers(150))
    first = request("GET", LIST).json()
    assert len(first["value"]) == 100
    assert first["nextLink"].startswith("http://127.0.0.1:7071" + LIST + "?")
    assert len(request("GET", first["nextLink"]).json()["value"]) == 50
    assert len(request("GET", LIST + "?maxpagesize=1").json()["value"]) == 1
    last = request("GET", LIST + "?maxpagesize=1000").json()
    assert len(last["value"]) == 150
    assert "nextLink" not in last
    for bad in ("0", "1001", "-1", "abc", "1.5", "\uff11\uff10"):
        reply = request("GET", LIST + "?" + urlencode({"maxpagesize": bad}))
        assert reply.status == 400, bad
        assert "maxpagesize" in reply.json()["errors"]


def test_tampered_foreign_and_refiltered_tokens_are_refused(bulk_app: StorageRecorder) -> None:
    seed(SENDER, numbers(30))
    seed(OTHER, numbers(30))
    link = request("GET", LIST + "?maxpagesize=10&country=US").json()["nextLink"]
    token = parse_qs(urlsplit(link).query)["continuationToken"][0]
    assert request("GET", link).status == 200
    altered = token[:-2] + ("AA" if token[-2:] != "AA" else "BA")
    foreign = f"/sms/senders/{OTHER}/optouts?maxpagesize=10&country=US&continuationToken={token}"
    refiltered = f"{LIST}?maxpagesize=10&country=CA&continuationToken={token}"
    unfiltered = f"{LIST}?maxpagesize=10&continuationToken={token}"
    for url in (
        link.replace(token, altered),
        foreign,
        refiltered,
        unfiltered,
        f"{LIST}?continuationToken=not-a-token",
        f"{LIST}?continuationToken=" + "A" * (MAX_TOKEN_CHARS + 1),
    ):
        reply = request("GET", url)
        assert reply.status == 400, url
        assert "continuationToken" in reply.json()["errors"]
    # A token of the listing does not open an export page either.
    export = f"/sms/senders/{SENDER}/optouts:export?country=US&continuationToken={token}"
    assert request("GET", export).status == 400


def test_filters_since_and_country(bulk_app: StorageRecorder) -> None:
    rows = (
        "to,optedOutAt\n"
        "+14255550001,2024-01-01T00:00:00Z\n"
        "+14255550002,2025-06-01T00:00:00Z\n"
        "+16475550003,2025-07-01T00:00:00+02:00\n"
        "+447700900004,2026-01-01\n"
    )
    assert import_csv(SENDER, rows.encode()).status == 200

    def listed(query: dict[str, str]) -> list[str]:
        url = LIST + "?" + urlencode({"maxpagesize": "1", **query})
        return [i["to"] for page in all_pages(url, bulk_app) for i in page]

    assert listed({"since": "2025-06-01T00:00:00Z"}) == [
        "+14255550002",
        "+16475550003",
        "+447700900004",
    ]
    assert listed({"since": "2025-07-01T00:00:00+02:00"}) == ["+16475550003", "+447700900004"]
    assert listed({"country": "us"}) == ["+14255550001", "+14255550002"]
    assert listed({"country": "CA", "since": "2025-01-01"}) == ["+16475550003"]
    assert listed({"country": "GB", "since": "2026-01-02"}) == []
    for bad in ({"since": "yesterday"}, {"country": "USA"}, {"country": "1"}):
        assert request("GET", LIST + "?" + urlencode(bad)).status == 400


def test_listing_needs_a_signature_and_a_valid_sender(bulk_app: StorageRecorder) -> None:
    assert request("GET", LIST, key=None).status == 401
    assert request("GET", "/sms/senders/+123/optouts").status == 400


def test_export_csv_and_ndjson_pages_follow_links(
    bulk_app: StorageRecorder, azurite: Azurite
) -> None:
    people = numbers(2600)
    seed_fast(bulk_app, azurite, SENDER, people)
    url: str | None = f"/sms/senders/{SENDER}/optouts:export?maxpagesize=1200"
    rows: list[dict[str, str]] = []
    pages = 0
    while url:
        reply = request("GET", url)
        assert reply.status == 200, reply.text
        assert reply.headers["Content-Type"] == "text/csv; charset=utf-8"
        text = reply.text
        assert text.startswith("to,country,optedOutAt,source\r\n")
        rows += list(csv.DictReader(io.StringIO(text, newline="")))
        match = LINK.search(reply.headers.get("Link", ""))
        url = match.group(1) if match else None
        pages += 1
    assert pages == 3
    assert [r["to"] for r in rows] == sorted(people)
    assert {r["source"] for r in rows} == {"import"}
    nd = request("GET", f"/sms/senders/{SENDER}/optouts:export?format=ndjson")
    assert nd.headers["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in nd.text.splitlines()]
    assert [x["to"] for x in lines] == sorted(people)
    assert "Link" not in nd.headers  # 2600 < 5000: one page
    assert lines[0] == {k: rows[0][k] for k in ("to", "country", "optedOutAt", "source")}
    bad = request("GET", f"/sms/senders/{SENDER}/optouts:export?format=xml")
    assert bad.status == 400
    assert request("GET", f"/sms/senders/{SENDER}/optouts:export?maxpagesize=5001").status == 400


def test_export_page_uses_one_query_per_thousand_rows(
    bulk_app: StorageRecorder, azurite: Azurite
) -> None:
    seed_fast(bulk_app, azurite, SENDER, numbers(2500))
    bulk_app.clear()
    reply = request("GET", f"/sms/senders/{SENDER}/optouts:export")
    assert reply.status == 200
    assert reply.text.count("\r\n") == 2501
    assert bulk_app.count == 3


def test_empty_list(bulk_app: StorageRecorder) -> None:
    assert request("GET", LIST).json() == {"value": []}
    export = request("GET", f"/sms/senders/{SENDER}/optouts:export")
    assert export.text == "to,country,optedOutAt,source\r\n"
    assert "Link" not in export.headers
    assert datetime.now(UTC).year >= 2026
