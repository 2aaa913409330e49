"""End to end for the change feed: the real app in the local host (subprocess), Azurite, a STOP
put on `sms-inbound` as Event Grid delivers it and a signed API add, read back as CloudEvents
from the events queue; and the sweep, the host's timer function (run on start-up too),
publishing an event owed by a writer that "crashed" after its commit."""

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
from shared.domain.model import Source
from shared.domain.phone import parse_e164
from shared.domain.sender import parse_sender
from shared.tables import TableStore
from tests.test_e2e import BUSINESS, App, event_grid


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


def feed_env(azurite: Azurite, suffix: str, grace: int = 30) -> dict[str, str]:
    return {
        "AzureWebJobsStorage": azurite.connection_string,
        "OPTOUT_ACCESS_KEYS": TEST_KEY,
        "OPTOUT_TABLE_NAME": f"FeedOptOuts{suffix}",
        "OPTOUT_HISTORY_TABLE_NAME": f"FeedHistory{suffix}",
        "SENDER_PROGRAMS_TABLE_NAME": f"FeedPrograms{suffix}",
        "GROUP_OPTOUTS_TABLE_NAME": f"FeedGroups{suffix}",
        "OPTOUT_EVENTS_QUEUE_NAME": f"events-{suffix}",
        "OPTOUT_EVENTS_SWEEP_GRACE_SECONDS": str(grace),
        "AzureFunctionsJobHost__extensions__queues__maxPollingInterval": "00:00:00.500",
    }


@pytest.fixture(scope="module")
def feed_app(azurite: Azurite) -> Iterator[FeedApp]:
    suffix = uuid.uuid4().hex[:8]
    host: HostProcess = start_host(ROOT, env=feed_env(azurite, suffix), use_local_settings=False)
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
    feed_app.put(stop)
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
    # Who: the person (by keyword), and the API key's name (OPTOUT_ACCESS_KEYS's first: key1).
    assert (keyword["data"]["actor"], api["data"]["actor"]) == ("keyword", "key1")
    assert keyword["data"]["country"] == api["data"]["country"] == "US"

    # A second add of the same person changes nothing: no event.
    res = feed_app.signed(
        "POST",
        "/sms/optouts:add?api-version=2026-01-23",
        {"from": BUSINESS, "recipients": [{"to": added}, {"to": stopper}]},
    )
    assert res.status_code == 200
    # START (keyword) and remove (API): one Removed event each.
    feed_app.put(event_grid(stopper, "START", "2026-11-26T10:05:00Z"))
    res = feed_app.signed(
        "POST",
        "/sms/optouts:remove?api-version=2026-01-23",
        {"from": BUSINESS, "recipients": [{"to": added}]},
    )
    assert res.status_code == 200
    for person, source in ((stopper, "keyword"), (added, "api")):
        events = wait_for_events(feed_app, person, 2)
        time.sleep(1)  # nothing more arrives
        events = feed_app.events_for(person)
        assert [e["type"] for e in events] == ["Sms.OptOut.Added", "Sms.OptOut.Removed"]
        assert [e["sequence"][-1] for e in events] == ["1", "2"]
        assert events[1]["data"]["source"] == source
        assert len({e["id"] for e in events}) == 2


def test_a_revoke_all_stop_becomes_the_senders_event_and_the_groups(feed_app: FeedApp) -> None:
    person, stopped, other = "+14255550304", "+18005550121", "+18005550122"
    for sender in (stopped, other):
        program = {"group": "fabrikam", "revokeAll": True}
        res = feed_app.signed("PUT", f"/sms/senders/{sender}/program", program)
        assert res.status_code in (200, 201), res.text
    feed_app.put(event_grid(person, "STOP", "2026-11-26T11:00:00Z", business=stopped))
    own, group = wait_for_events(feed_app, person, 2)
    assert (own["type"], own["subject"]) == ("Sms.OptOut.Added", stopped)
    assert (group["type"], group["subject"]) == ("Sms.OptOut.GroupAdded", "fabrikam")
    assert group["source"] == "/sms-optout/groups/fabrikam"
    assert group["data"]["receivedBy"] == stopped
    assert group["data"]["actor"] == "keyword"
    assert group["data"]["senders"] == sorted([stopped, other])
    feed_app.put(event_grid(person, "START", "2026-11-26T11:05:00Z", business=other))
    events = wait_for_events(feed_app, person, 3)
    time.sleep(1)  # nothing more arrives: `other` had no entry of its own to lift
    assert [e["type"] for e in feed_app.events_for(person)] == [
        "Sms.OptOut.Added",
        "Sms.OptOut.GroupAdded",
        "Sms.OptOut.GroupRemoved",
    ]
    assert events[2]["sequence"][-1] == "2" and events[2]["data"]["receivedBy"] == other


def test_the_host_sweeps_events_left_owed_when_it_starts(azurite: Azurite) -> None:
    person = "+14255550303"
    suffix = uuid.uuid4().hex[:8]
    env = feed_env(azurite, suffix, grace=0)
    # A writer that "died" after its commit: the change and its owed event, never published.
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    store = TableStore(service, env["OPTOUT_TABLE_NAME"], "Unused1", "Unused2")
    [applied] = store.feed.apply(
        parse_sender(BUSINESS),
        [parse_e164(person)],
        opt_out=True,
        at=datetime.now(UTC),
        source=Source.IMPORT,
    )
    host = start_host(ROOT, env=env, use_local_settings=False)
    try:
        app = FeedApp(host, None, azurite, env["OPTOUT_EVENTS_QUEUE_NAME"], "")  # type: ignore[arg-type]
        [event] = wait_for_events(app, person, 1)
        assert event["id"] == applied.change.event_id
        assert event["data"]["source"] == "import"
        assert "Executing 'Functions.optout_events_sweep'" in host.output()
        deadline = time.monotonic() + 10
        while "The next occurrence of 'Functions.optout_events_sweep'" not in host.output():
            assert time.monotonic() < deadline, host.output()[-2000:]
            time.sleep(0.1)
        assert "Executed 'Functions.optout_events_sweep' (Succeeded" in host.output()
        assert len(app.events_for(person)) == 1  # cleared: published once
    finally:
        host.stop()
