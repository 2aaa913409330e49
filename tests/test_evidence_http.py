"""Evidence end to end: the app in the local host (a real HTTP server), STOP/START through the
queue with replies to the ACS double, then the as-of status and the report (JSON and CSV) over
HTTP, signed like every API call."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
import requests

from devhost.inprocess import TEST_KEY
from devhost.testing import ROOT, Azurite, start_host
from shared.acs_auth import sign_request
from tests.acs_double import AcsDouble
from tests.test_e2e import BUSINESS, App, event_grid, put, replies_to, wait_for

PERSON = "+14255550301"


@pytest.fixture(scope="module")
def app(azurite: Azurite) -> Iterator[App]:
    acs = AcsDouble().start()
    suffix = uuid.uuid4().hex[:8]
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "OPTOUT_ACCESS_KEYS": TEST_KEY,
        "OPTOUT_TABLE_NAME": f"EvOptOuts{suffix}",
        "OPTOUT_HISTORY_TABLE_NAME": f"EvHistory{suffix}",
        "SENDER_PROGRAMS_TABLE_NAME": f"EvPrograms{suffix}",
        "ACS_CONNECTION_STRING": acs.connection_string,
        "AzureFunctionsJobHost__extensions__queues__maxPollingInterval": "00:00:00.500",
    }
    host = start_host(ROOT, env=env, use_local_settings=False)
    try:
        yield App(host, acs, azurite)
    finally:
        host.stop()
        acs.stop()
        assert "4255550301" not in host.output()  # numbers are masked in the logs


def get(app: App, path: str, **headers: str) -> requests.Response:
    url = app.url + path
    signed = sign_request("GET", url, b"", TEST_KEY)
    return requests.get(url, headers={**signed, **headers}, timeout=30)


@pytest.fixture(scope="module")
def stop_then_start(app: App) -> tuple[datetime, datetime]:
    """A STOP and a START sent a second apart, just now; returns their SMS timestamps."""
    stop = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    start = stop + timedelta(seconds=1)
    put(app, event_grid(PERSON, "STOP", stop.isoformat()))
    wait_for(lambda: len(replies_to(app, PERSON)) == 1)
    put(app, event_grid(PERSON, "START", start.isoformat()))
    wait_for(lambda: len(replies_to(app, PERSON)) == 2)
    return stop, start


def test_as_of_over_http(app: App, stop_then_start: tuple[datetime, datetime]) -> None:
    stop, start = stop_then_start
    base = f"/sms/senders/{BUSINESS}/recipients/{PERSON}"
    res = get(app, f"{base}?at={quote(stop.isoformat())}&basis=received")
    assert res.status_code == 200, res.text
    assert res.json()["isOptedOut"] is True
    assert res.json()["decidingEvent"]["keyword"] == "STOP"
    at_start = get(app, f"{base}?at={quote(start.isoformat())}&basis=received")
    assert at_start.json()["isOptedOut"] is False  # the START's own instant counts
    before = get(app, f"{base}?at={quote((stop - timedelta(seconds=1)).isoformat())}")
    assert before.json()["isOptedOut"] is False
    now = get(app, base).json()  # without `at`: now, after the START
    assert now["isOptedOut"] is False and [e["action"] for e in now["events"]] == [
        "optout",
        "optin",
    ]
    unsigned = requests.get(app.url + base, timeout=30)
    assert unsigned.status_code == 401


def test_report_as_csv_pages_and_parses(
    app: App, stop_then_start: tuple[datetime, datetime]
) -> None:
    stop, start = stop_then_start
    query = f"from={quote(stop.isoformat())}&to={quote((start + timedelta(seconds=1)).isoformat())}"
    path = f"/sms/senders/{BUSINESS}/report?{query}&pageSize=1"
    first = get(app, path, accept="text/csv")
    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("text/csv")
    token = first.headers["x-next-page-token"]
    second = get(app, f"{path}&pageToken={token}", accept="text/csv")
    assert "x-next-page-token" not in second.headers
    rows = [r for res in (first, second) for r in csv.DictReader(io.StringIO(res.text))]
    assert [(r["action"], r["keyword"], r["replyStatus"]) for r in rows] == [
        ("optout", "STOP", "sent"),
        ("optin", "START", "sent"),
    ]
    for row in rows:
        received = datetime.fromisoformat(row["receivedAt"])
        sent = datetime.fromisoformat(row["confirmationSentAt"])
        effective = datetime.fromisoformat(row["effectiveAt"])
        assert received <= effective <= sent
        assert float(row["confirmationDelaySeconds"]) == (sent - received).total_seconds()
        assert float(row["effectDelaySeconds"]) == (effective - received).total_seconds()
    assert rows[0]["receivedAt"] == stop.isoformat()
    as_json = get(app, f"/sms/senders/{BUSINESS}/report?{query}").json()
    assert as_json["totals"]["byKeyword"] == {"START": 1, "STOP": 1}
    assert as_json["totalsComplete"] is True
