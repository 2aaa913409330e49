"""Group-wide (revoke-all) changes on the change feed, against Azurite, through the inbound
path: queue messages handed to the app's own queue function (`function_app.sms_inbound`, in
process, with the app's runtime on real tables and a real events queue), and the timer's sweep
(`function_app.optout_events_sweep`). A revoke-all STOP publishes the sender's event and exactly
one group event; START the removals; a no-op nothing; a crash after the group commit is
published once by the sweep."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import pytest
from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueClient

import function_app
from devhost.inprocess import TEST_KEY, StorageRecorder, app_against, call
from devhost.query_rules import unchecked
from devhost.testing import Azurite
from shared import runtime
from shared.domain.changes import FeedRow
from shared.domain.keyword_writes import KeywordWrite
from shared.domain.model import FeedScope
from shared.feed.change_feed import ChangeFeed
from shared.platform.connections import QUEUE_API_VERSION
from tests.fakes import FakePublisher, FakeRepository
from tests.test_groups_azurite import OUTSIDER, PERSON, A, B, event

GROUP_SOURCE = "/sms-optout/groups/contoso"


class Crash(Exception):
    """The process dies after the group commit, before the group event is published."""


@dataclass
class App:
    recorder: StorageRecorder
    connection: str
    env: dict[str, str]

    def deliver(self, sender: str, text: str, n: int, person: str = PERSON.e164) -> None:
        body = event(sender, text, n, person).encode()
        function_app.sms_inbound(func.QueueMessage(body=body))

    def sweep(self) -> None:
        function_app.optout_events_sweep(None)  # type: ignore[arg-type]

    def events(self) -> list[dict[str, Any]]:
        """Every event on the events queue since the last call, in queue order."""
        queue = QueueClient.from_connection_string(
            self.connection, self.env["OPTOUT_EVENTS_QUEUE_NAME"], api_version=QUEUE_API_VERSION
        )
        return drain(queue)

    def group_feed_rows(self) -> list[dict[str, Any]]:
        service = TableServiceClient.from_connection_string(self.connection)
        table = service.get_table_client(self.env["GROUP_OPTOUTS_TABLE_NAME"])
        with unchecked():  # the test's look at every group's feed rows
            return list(table.query_entities("RowKey ge '~feed|' and RowKey lt '~feed}'"))


def drain(queue: QueueClient) -> list[dict[str, Any]]:
    """Every message on the queue (created if missing), in queue order, then deleted."""
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()
    out: list[dict[str, Any]] = []
    while batch := list(queue.receive_messages(messages_per_page=32, max_messages=32)):
        for m in batch:
            out.append(json.loads(m.content))
            queue.delete_message(m)
    return out


@pytest.fixture
def app(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    suffix = uuid.uuid4().hex[:8]
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "OPTOUT_ACCESS_KEYS": TEST_KEY,
        "OPTOUT_TABLE_NAME": f"GfO{suffix}",
        "OPTOUT_HISTORY_TABLE_NAME": f"GfH{suffix}",
        "SENDER_PROGRAMS_TABLE_NAME": f"GfP{suffix}",
        "GROUP_OPTOUTS_TABLE_NAME": f"GfG{suffix}",
        "OPTOUT_EVENTS_QUEUE_NAME": f"gf-{suffix}",
        "OPTOUT_EVENTS_SWEEP_GRACE_SECONDS": "0",
    }
    with app_against(env, monkeypatch) as recorder:
        for sender in (B, A):  # through the program API, as a business would
            status, _ = call("PUT", f"sms/senders/{sender}/program", _GROUPED, query="")
            assert status in (200, 201)
        yield App(recorder, azurite.connection_string, env)


_GROUPED = {"group": "contoso", "revokeAll": True}


def kinds(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["subject"]) for e in events]


def test_a_revoke_all_stop_publishes_the_senders_event_and_one_group_event(app: App) -> None:
    app.deliver(A, "STOP", 1)
    sender_event, group_event = app.events()
    assert kinds([sender_event]) == [("Sms.OptOut.Added", A)]
    assert (group_event["type"], group_event["source"], group_event["subject"]) == (
        "Sms.OptOut.GroupAdded",
        GROUP_SOURCE,
        "contoso",
    )
    assert group_event["sequence"] == "00000000000000000001"
    assert group_event["time"] == sender_event["time"] == "2026-11-01T12:00:01Z"
    data = group_event["data"]
    assert data == {
        "group": "contoso",
        "recipient": PERSON.e164,
        "country": "US",
        "source": "keyword",
        "keyword": "STOP",
        "messageId": sender_event["data"]["messageId"],
        "optedOutAt": "2026-11-01T12:00:01Z",
        "actor": "keyword",  # a keyword's change: the person, by keyword
        "receivedBy": A,
        "senders": [A, B],
    }
    assert group_event["id"] != sender_event["id"]
    assert [r["OwedCount"] for r in app.group_feed_rows()] == [0]  # published, then cleared


def test_start_publishes_the_removals_and_no_ops_publish_nothing(app: App) -> None:
    app.deliver(A, "STOP", 1)
    assert len(app.events()) == 2
    app.deliver(A, "STOP", 2)  # repeated STOP: nothing changes anywhere
    assert app.events() == []
    app.deliver(B, "STOP", 3)  # B's own entry is new; the group-wide one is not
    assert kinds(app.events()) == [("Sms.OptOut.Added", B)]
    app.deliver(B, "START", 4)
    removed, group_removed = app.events()
    assert kinds([removed, group_removed]) == [
        ("Sms.OptOut.Removed", B),
        ("Sms.OptOut.GroupRemoved", "contoso"),
    ]
    assert group_removed["sequence"][-1] == "2"
    assert group_removed["data"]["receivedBy"] == B
    assert group_removed["data"]["optedOutAt"] is None
    app.deliver(B, "START", 5)  # nothing left to lift
    assert app.events() == []
    app.deliver(OUTSIDER, "STOP", 6)  # outside the group: its own event only
    assert kinds(app.events()) == [("Sms.OptOut.Added", OUTSIDER)]
    app.deliver(A, "STOP", 7)  # A kept its own entry; the group-wide one is made again
    assert kinds(app.events()) == [("Sms.OptOut.GroupAdded", "contoso")]
    app.sweep()
    assert app.events() == []  # nothing was left owed


def crash_on_group_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """The feed publishes a sender's rows; for a group's, the process 'dies' instead."""
    feed = runtime.change_feed()
    publish = feed.publish

    def dying(rows: list[FeedRow]) -> int:
        if any(r.scope is FeedScope.GROUP and r.owed for r in rows):
            raise Crash("killed after the group commit")
        return publish(rows)

    monkeypatch.setattr(feed, "publish", dying)


def test_a_crash_after_the_group_commit_is_published_once_by_the_sweep(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patched:
        crash_on_group_rows(patched)
        with pytest.raises(Crash):
            app.deliver(A, "STOP", 1)
    assert kinds(app.events()) == [("Sms.OptOut.Added", A)]  # the sender's went out
    assert [r["OwedCount"] for r in app.group_feed_rows()] == [1]  # the group's is owed
    app.sweep()
    [group_event] = app.events()
    assert kinds([group_event]) == [("Sms.OptOut.GroupAdded", "contoso")]
    assert group_event["data"]["senders"] == [A, B]
    app.sweep()
    assert app.events() == []  # exactly once
    assert [r["OwedCount"] for r in app.group_feed_rows()] == [0]


def test_a_redelivery_after_the_crash_publishes_what_its_first_try_owed(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = event(A, "STOP", 1).encode()
    with monkeypatch.context() as patched:
        crash_on_group_rows(patched)
        with pytest.raises(Crash):
            function_app.sms_inbound(func.QueueMessage(body=body))
    app.events()
    function_app.sms_inbound(func.QueueMessage(body=body))  # the host's retry
    assert kinds(app.events()) == [("Sms.OptOut.GroupAdded", "contoso")]
    app.sweep()
    assert app.events() == []


def test_the_feed_without_a_group_outbox_leaves_group_events_owed() -> None:
    """A feed built without the group outbox neither publishes nor clears group rows (it could
    not clear them): they stay owed for a feed that has it."""
    fake, publisher = FakeRepository(), FakePublisher()
    empty = FeedRow("contoso", PERSON.e164, scope=FeedScope.GROUP)
    row = KeywordWrite(True, datetime.now(UTC), "m1").feed_row(empty, False, "US")
    assert ChangeFeed(fake, publisher).publish([row]) == 0 and publisher.published == []
    assert ChangeFeed(fake, publisher, groups=fake).publish([row]) == 1
