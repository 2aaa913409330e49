"""End to end for the change feed: the real app in the local host (subprocess), Azurite, a STOP
put on `sms-inbound` as Event Grid delivers it and a signed API add, read back as CloudEvents
from the events queue; and the sweep, run by the host's timer, publishing an event owed by a
"crashed" writer."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueClient

from devhost.inprocess import TEST_KEY
from devhost.queues import QUEUE_API_VERSION
from devhost.testing import ROOT, Azurite, HostProcess, start_host
from shared.model import Source
from shared.phone import parse_e164
from shared.tables import TableStore
from tests.test_e2e import BUSINESS, App, event_grid, put

SWEEP_GRACE_SECONDS = 2


@dataclass
class FeedApp(App):
    events_queue: str = ""
    optout_table: str = ""

    def events(self) -> list[dict[str, Any]]:
        """Every event on the events queue so far (peeked, in queue order)."""
        queue = QueueClient.from_connection_string(
            self.azurite.connection_string, self.events_queue, api_version=QUEUE_API_VERSION
        )
        try:
            return [json.loads(m.content) for m in queue.peek_messages(max_messages=32)]
        except ResourceNotFoundError:
            return []

    def events_for(self, person: str) -> list[dict[str, Any]]:
        return [e for e in self.events() if e["data"]["recipient"] == person]


@pytest.fixture(scope="module")
def feed_app(azurite: Azurite) -> Iterator[FeedApp]:
    suffix = uuid.uuid4().hex[:8]
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "OPTOUT_ACCESS_KEYS": TEST_KEY,
        "OPTOUT_TABLE_NAME": f"FeedOptOuts{suffix}",
        "OPTOUT_HISTORY_TABLE_NAME": f"FeedHistory{suffix}",
        "SENDER_PROGRAMS_TABLE_NAME": f"FeedPrograms{suffix}",
        "OPTOUT_EVENTS_QUEUE_NAME": f"events-{suffix}",
        # The host's timer runs the sweep every second; it publishes what is owed for 2 s.
        "OPTOUT_EVENTS_SWEEP_SCHEDULE": "*/1 * * * * *",
        "OPTOUT_EVENTS_SWEEP_GRACE_SECONDS": str(SWEEP_GRACE_SECONDS),
        "AzureFunctionsJobHost__extensions__queues__maxPollingInterval": "00:00:00.500",
    }
    host: HostProcess = start_host(ROOT, env=env, use_local_settings=False)
    try:
        yield FeedApp(host, None, azurite, f"events-{suffix}", f"FeedOptOuts{suffix}")  # type: ignore[arg-type]
    finally:
        host.stop()
    assert "4255550" not in host.output()  # no full number in the logs


def wait_for_events(app: FeedApp, person: str, count: int, timeout: float = 15) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        found = app.events_for(person)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_a_stop_and_an_api_add_become_events_within_seconds(feed_app: FeedApp) -> None:
    stopper, added = "+14255550301", "+14255550302"
    stop = event_grid(stopper, "STOP", "2026-11-26T10:00:00Z")
    put(feed_app, stop)
    res = feed_app.signed(
        "POST",
        "/sms/optouts:add?api-version=2026-01-23",
        {"from": BUSINESS, "recipients": [{"to": added}]},
    )
    assert res.status_code == 200, res.text
    started = time.monotonic()
    [keyword] = wait_for_events(feed_app, stopper, 1)
    [api] = wait_for_events(feed_app, added, 1)
    assert time.monotonic() - started < 10
    assert keyword["type"] == api["type"] == "Sms.OptOut.Added"
    assert keyword["specversion"] == "1.0" and keyword["subject"] == BUSINESS
    assert keyword["data"]["source"] == "keyword" and keyword["data"]["keyword"] == "STOP"
    assert keyword["data"]["messageId"] == stop["id"]
    assert keyword["time"] == keyword["data"]["optedOutAt"] == "2026-11-26T10:00:00Z"
    assert api["data"]["source"] == "api" and api["data"]["keyword"] is None
    assert keyword["data"]["country"] == api["data"]["country"] == "US"

    # A second add of the same person changes nothing: no event.
    res = feed_app.signed(
        "POST",
        "/sms/optouts:add?api-version=2026-01-23",
        {"from": BUSINESS, "recipients": [{"to": added}, {"to": stopper}]},
    )
    assert res.status_code == 200
    # START (keyword) and remove (API): one Removed event each.
    put(feed_app, event_grid(stopper, "START", "2026-11-26T10:05:00Z"))
    res = feed_app.signed(
        "POST",
        "/sms/optouts:remove?api-version=2026-01-23",
        {"from": BUSINESS, "recipients": [{"to": added}]},
    )
    assert res.status_code == 200
    for person, source in ((stopper, "keyword"), (added, "api")):
        events = wait_for_events(feed_app, person, 2)
        time.sleep(SWEEP_GRACE_SECONDS + 1.5)  # the sweep ran meanwhile: still nothing more
        events = feed_app.events_for(person)
        assert [e["type"] for e in events] == ["Sms.OptOut.Added", "Sms.OptOut.Removed"]
        assert [e["sequence"][-1] for e in events] == ["1", "2"]
        assert events[1]["data"]["source"] == source
        assert len({e["id"] for e in events}) == 2


def test_the_host_timer_sweeps_an_event_left_owed(feed_app: FeedApp) -> None:
    person = "+14255550303"
    # A writer that "dies" after its commit: the change and its owed event, never published.
    service = TableServiceClient.from_connection_string(feed_app.azurite.connection_string)
    store = TableStore(service, feed_app.optout_table, "Unused1", "Unused2")
    [applied] = store.feed.apply(
        parse_e164(BUSINESS),
        [parse_e164(person)],
        opt_out=True,
        at=datetime.now(UTC),
        source=Source.IMPORT,
    )
    assert feed_app.events_for(person) == []
    [event] = wait_for_events(feed_app, person, 1, timeout=SWEEP_GRACE_SECONDS + 10)
    assert event["id"] == applied.change.event_id
    assert event["data"]["source"] == "import"
    assert "Executing 'Functions.optout_events_sweep'" in feed_app.host.output()
    time.sleep(2)
    assert len(feed_app.events_for(person)) == 1  # cleared: published once
