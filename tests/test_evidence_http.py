"""Evidence end to end: the app in the local host (a real HTTP server), STOP/START through the
queue with replies to the ACS double, then the as-of status and the report (JSON and CSV) over
HTTP, signed like every API call."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
import requests
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient

from devhost.acs_double import AcsDouble
from devhost.inprocess import TEST_KEY
from devhost.queues import QUEUE_API_VERSION
from devhost.testing import ROOT, Azurite, HostProcess, start_host
from shared.platform.hmac_auth import sign_request

BUSINESS, PERSON = "+18005550100", "+14255550301"


@dataclass
class Host:
    process: HostProcess
    acs: AcsDouble
    queue: QueueClient

    def get(self, path: str, **headers: str) -> requests.Response:
        url = self.process.base_url + path
        signed = sign_request("GET", url, b"", TEST_KEY)
        return requests.get(url, headers={**signed, **headers}, timeout=30)

    def csv_pages(self, path: str) -> list[requests.Response]:
        """Every CSV page of `path`: the first, then each `Link: <URL>; rel="next"` as it is
        (an absolute URL on this host), until a page comes without one."""
        pages: list[requests.Response] = []
        url: str | None = self.process.base_url + path
        while url:
            signed = sign_request("GET", url, b"", TEST_KEY)
            res = requests.get(url, headers={**signed, "accept": "text/csv"}, timeout=30)
            assert res.status_code == 200, res.text
            assert res.headers["content-type"].startswith("text/csv")
            assert "x-next-page-token" not in res.headers
            pages.append(res)
            url = res.links.get("next", {}).get("url")
            assert url is None or url.startswith(self.process.base_url + "/sms/senders/"), url
        return pages

    def text(self, message: str, sent_at: datetime) -> None:
        """An SMSReceived event (Event Grid schema) from PERSON to BUSINESS on the queue."""
        mid = f"Incoming_{uuid.uuid4().hex}"
        data = {"MessageId": mid, "From": PERSON[1:], "To": BUSINESS[1:], "Message": message}
        event = {
            "id": mid,
            "eventType": "Microsoft.Communication.SMSReceived",
            "eventTime": sent_at.isoformat(),
            "data": {**data, "ReceivedTimestamp": sent_at.isoformat()},
        }
        self.queue.send_message(json.dumps(event))

    def replies(self) -> int:
        return sum(1 for s in self.acs.sent if s.to == PERSON)


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def host(azurite: Azurite) -> Iterator[Host]:
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
    queue = QueueClient.from_connection_string(
        azurite.connection_string, "sms-inbound", api_version=QUEUE_API_VERSION
    )
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()
    process = start_host(ROOT, env=env, use_local_settings=False)
    try:
        yield Host(process, acs, queue)
    finally:
        process.stop()
        acs.stop()
        assert "4255550301" not in process.output()  # numbers are masked in the logs


@pytest.fixture(scope="module")
def stop_then_start(host: Host) -> tuple[datetime, datetime]:
    """A STOP and a START sent a second apart, just now; returns their SMS timestamps."""
    stop = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    start = stop + timedelta(seconds=1)
    host.text("STOP", stop)
    wait_for(lambda: host.replies() == 1)
    host.text("START", start)
    wait_for(lambda: host.replies() == 2)
    return stop, start


def test_as_of_over_http(host: Host, stop_then_start: tuple[datetime, datetime]) -> None:
    stop, start = stop_then_start
    base = f"/sms/senders/{BUSINESS}/recipients/{PERSON}"
    res = host.get(f"{base}?at={quote(stop.isoformat())}&basis=received")
    assert res.status_code == 200, res.text
    assert res.json()["isOptedOut"] is True
    assert res.json()["decidingEvent"]["keyword"] == "STOP"
    at_start = host.get(f"{base}?at={quote(start.isoformat())}&basis=received")
    assert at_start.json()["isOptedOut"] is False  # the START's own instant counts
    before = host.get(f"{base}?at={quote((stop - timedelta(seconds=1)).isoformat())}")
    assert before.json()["isOptedOut"] is False
    now = host.get(base).json()  # without `at`: now, after the START
    assert now["isOptedOut"] is False
    assert [e["action"] for e in now["events"]] == ["optout", "optin"]
    unsigned = requests.get(host.process.base_url + base, timeout=30)
    assert unsigned.status_code == 401


def test_report_as_csv_pages_and_parses(
    host: Host, stop_then_start: tuple[datetime, datetime]
) -> None:
    stop, start = stop_then_start
    query = f"from={quote(stop.isoformat())}&to={quote((start + timedelta(seconds=1)).isoformat())}"
    pages = host.csv_pages(f"/sms/senders/{BUSINESS}/report?{query}&maxpagesize=1")
    assert len(pages) == 2  # one row a page; the second says it is the last
    rows = [r for res in pages for r in csv.DictReader(io.StringIO(res.text))]
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
    assert {r["language"] for r in rows} == {"en"}  # the reply's language
    as_json = host.get(f"/sms/senders/{BUSINESS}/report?{query}").json()
    assert as_json["totals"]["byKeyword"] == {"START": 1, "STOP": 1}
    assert as_json["totalsComplete"] is True
