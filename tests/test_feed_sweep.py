"""The change feed's sweep reads by key (issue 19): owed markers written before each change, in
`~owed|<shard>` partitions, are what it reads; never a query without `PartitionKey eq`. Against
Azurite, with real tables and a real queue; the crash and outage tests of the feed itself are in
test_feed_azurite.py and test_group_feed_azurite.py."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableClient, TableServiceClient, TransactionOperation
from azure.storage.queue import QueueClient

from devhost.inprocess import StorageRecorder
from devhost.testing import Azurite
from shared.domain.changes import FeedRow
from shared.domain.model import Source
from shared.feed.change_feed import ChangeFeed
from shared.feed.publishers import QueuePublisher
from shared.platform.connections import QUEUE_API_VERSION
from shared.tables import TableStore
from shared.tables.feed_rows import feed_to_entity
from shared.tables.optouts import entry_to_entity
from shared.tables.owed_marks import OWED_SHARDS, mark_entity, mark_operations, shard_key
from tests.test_feed_azurite import SENDER, T0, Crash, CrashingPublisher, nums


@dataclass
class Rig:
    recorder: StorageRecorder
    store: TableStore
    optouts: TableClient
    queue: QueueClient

    def feed(self, publisher: Any = None) -> ChangeFeed:
        publisher = publisher or QueuePublisher(self.queue, "/sms-optout")
        return ChangeFeed(
            self.store.feed, publisher, groups=self.store.groups, sweep_grace=timedelta(0)
        )

    def events(self) -> list[dict[str, Any]]:
        with contextlib.suppress(ResourceExistsError):
            self.queue.create_queue()
        out: list[dict[str, Any]] = []
        while batch := list(self.queue.receive_messages(messages_per_page=32, max_messages=32)):
            for m in batch:
                out.append(json.loads(m.content))
                self.queue.delete_message(m)
        return out

    def markers(self) -> list[str]:
        """The RowKeys of the owed markers of SENDER (one shard partition: a point query)."""
        found = self.optouts.query_entities(
            "PartitionKey eq @pk", parameters={"pk": shard_key(SENDER.key)}
        )
        return sorted(e["RowKey"] for e in found)

    def seed_settled(self, first: int, n: int) -> None:
        """n opted-out pairs of SENDER, with feed rows that owe nothing, written directly (no
        markers: what a table full of old, published changes looks like)."""
        ops = []
        for person in nums(*range(first, first + n)):
            ops.append(entry_to_entity(SENDER, person, T0, Source.API))
            ops.append(feed_to_entity(FeedRow(SENDER.key, person.e164, 1, opted_out=True)))
        for i in range(0, len(ops), 100):
            self.optouts.submit_transaction(
                [(TransactionOperation.UPSERT, e) for e in ops[i : i + 100]]
            )


@pytest.fixture
def rig(azurite: Azurite) -> Iterator[Rig]:
    recorder = StorageRecorder()
    service = TableServiceClient.from_connection_string(
        azurite.connection_string, raw_request_hook=recorder
    )
    suffix = uuid.uuid4().hex[:8]
    store = TableStore(
        service, f"Sw{suffix}", f"SwH{suffix}", f"SwP{suffix}", groups_table=f"SwG{suffix}"
    )
    store.ensure_tables()
    queue = QueueClient.from_connection_string(
        azurite.connection_string, f"sw-{suffix}", api_version=QUEUE_API_VERSION
    )
    plain = TableServiceClient.from_connection_string(azurite.connection_string)
    yield Rig(recorder, store, plain.get_table_client(f"Sw{suffix}"), queue)


def queries(recorder: StorageRecorder) -> list[str]:
    return [f for m, _, f in recorder.requests if m == "GET" and f]


def test_the_sweep_costs_the_same_requests_at_any_table_size(rig: Rig) -> None:
    """Nothing owed: one query per marker shard of each table, whatever is stored."""
    feed = rig.feed()
    costs = []
    for first, n in ((0, 100), (100, 900)):
        rig.seed_settled(first, n)
        rig.recorder.clear()
        assert feed.sweep() == 0
        costs.append(rig.recorder.count)
        assert all(f.startswith("PartitionKey eq '~owed|") for f in queries(rig.recorder))
    assert costs == [2 * OWED_SHARDS, 2 * OWED_SHARDS]  # OptOuts' shards and GroupOptOuts'


def test_a_crash_after_the_commit_leaves_a_marker_the_sweep_finds_by_key(rig: Rig) -> None:
    with pytest.raises(Crash):
        rig.feed(CrashingPublisher()).apply(SENDER, nums(1, 2), opt_out=True, source=Source.API)
    assert rig.events() == []
    assert rig.markers() == [f"{SENDER.key}|{n.e164}" for n in nums(1, 2)]  # written before
    rig.recorder.clear()
    assert rig.feed().sweep() == 2
    assert {e["data"]["recipient"] for e in rig.events()} == {n.e164 for n in nums(1, 2)}
    # the shards' queries, the 2 named feed rows (point reads), 2 events, 1 clear: no scan
    assert [f for f in queries(rig.recorder) if not f.startswith("PartitionKey eq ")] == []
    assert rig.recorder.count == 2 * OWED_SHARDS + 2 + 1
    assert rig.feed().sweep() == 0


def test_markers_are_forgotten_once_older_than_the_hold_and_owing_nothing(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = rig.feed()
    feed.apply(SENDER, nums(1, 2), opt_out=True, source=Source.API)  # published inline
    with pytest.raises(Crash):
        rig.feed(CrashingPublisher()).apply(SENDER, nums(3), opt_out=True, source=Source.API)
    patient = ChangeFeed(rig.store.feed, QueuePublisher(rig.queue, "/s"), sweep_grace=timedelta(1))
    assert patient.sweep() == 0
    assert len(rig.markers()) == 3  # younger than the hold: their commits may still land
    monkeypatch.setattr("shared.tables.outbox.MARK_HOLD", timedelta(0))
    assert patient.sweep() == 0  # 3 owes an event, younger than this sweep's grace
    assert rig.markers() == [f"{SENDER.key}|{nums(3)[0].e164}"]  # the owed one stays
    assert feed.sweep() == 1
    assert feed.sweep() == 0
    assert rig.markers() == []


def test_a_marker_written_again_after_the_sweep_read_it_is_kept(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A marker is deleted only if unchanged since the sweep read it: a change that marked its
    pair meanwhile (and may commit after the sweep's feed-row read) keeps it."""
    rig.feed().apply(SENDER, nums(1, 2), opt_out=True, source=Source.API)
    outbox = rig.store.feed
    read = outbox._mark_pages
    rewritten = mark_entity(SENDER.key, nums(1)[0].e164)

    def read_then_a_change_marks_again(shard: str) -> Iterator[list[Any]]:
        for page in read(shard):
            rig.optouts.upsert_entity(rewritten)
            yield page

    monkeypatch.setattr(outbox, "_mark_pages", read_then_a_change_marks_again)
    monkeypatch.setattr("shared.tables.outbox.MARK_HOLD", timedelta(0))
    assert rig.feed().sweep() == 0
    assert rig.markers() == [rewritten["RowKey"]]


def test_a_keyword_change_is_marked_and_a_keyword_no_op_is_not(rig: Rig) -> None:
    sender, person = SENDER, nums(7)[0]
    optouts = rig.store.optouts
    at = T0
    for opt_out, marked in ((True, True), (True, False), (False, True)):
        rig.optouts.delete_entity(shard_key(sender.key), f"{sender.key}|{person.e164}")
        state = optouts.keyword_state(sender, person)
        at += timedelta(seconds=1)
        optouts.apply_keyword(
            sender, person, state, opt_out=opt_out, event_at=at, message_id=f"m{at.second}"
        )
        assert rig.markers() == ([f"{sender.key}|{person.e164}"] if marked else [])


def test_a_group_change_is_marked_in_the_group_table_and_swept(rig: Rig) -> None:
    groups = rig.store.groups
    person = nums(8)[0]
    state = groups.group_state("contoso", person)
    groups.apply_group_keyword(
        "contoso", person, state, opt_out=True, sender=SENDER, event_at=T0, message_id="m1"
    )  # the group's event owed (no publisher here): a crash before the publish
    assert rig.feed().sweep() == 1
    [event] = rig.events()
    assert (event["type"], event["subject"]) == ("Sms.OptOut.GroupAdded", "contoso")


def test_a_shard_is_read_a_page_at_a_time_and_emptied_of_what_is_settled(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,050 markers of pairs that owe nothing (their changes never committed, say): two pages
    of the sender's shard, 1,050 point reads, and the markers deleted 100 per transaction."""
    people = [p.e164 for p in nums(*range(1050))]
    ops = mark_operations(SENDER.key, people)
    for i in range(0, len(ops), 100):
        rig.optouts.submit_transaction(ops[i : i + 100])
    monkeypatch.setattr("shared.tables.outbox.MARK_HOLD", timedelta(0))
    rig.recorder.clear()
    assert rig.feed().sweep() == 0
    shard = shard_key(SENDER.key)
    table = f"/{rig.optouts.table_name}("
    assert sum(1 for _, p, f in rig.recorder.requests if shard in f and table in p) == 2
    point_reads = [p for m, p, f in rig.recorder.requests if m == "GET" and not f]
    assert len(point_reads) == 1050
    assert sum(1 for m, _, _ in rig.recorder.requests if m == "POST") == 11
    assert rig.markers() == []
