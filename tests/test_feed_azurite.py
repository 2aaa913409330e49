"""The change feed against Azurite: outbox in the same transaction, publish, sweep, faults.

Real tables and a real queue; the only substitutes are a publisher pointed at a closed port
(a queue outage) and one that raises after the commit (a process dying before it publishes).
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueClient

from devhost.inprocess import StorageRecorder
from devhost.query_rules import unchecked
from devhost.testing import Azurite
from shared.domain.changes import (
    MAX_OWED,
    ChangesPartlyApplied,
    FeedBacklogFull,
    FeedRow,
    OptOutChange,
)
from shared.domain.model import Action, ChangeKind, ConcurrencyConflict, Source
from shared.domain.phone import PhoneNumber, parse_e164
from shared.domain.sender import SenderId, parse_sender
from shared.feed.change_feed import ChangeFeed
from shared.feed.publishers import EventPublisher, QueuePublisher
from shared.inbound.events import InboundSms
from shared.inbound.processor import InboundProcessor
from shared.optouts.service import OptOutService
from shared.platform.connections import QUEUE_API_VERSION
from shared.tables import TableStore
from shared.tables.feed import TableChangeFeed
from shared.tables.feed_rows import feed_key
from tests.fakes import FakeReplies
from tests.test_inbound import SETTINGS

SENDER = parse_sender("+18005550100")
T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def nums(*tails: int) -> list[PhoneNumber]:
    return [parse_e164(f"+1425555{t:04d}") for t in tails]


class Crash(Exception):
    """The process dies between the commit and the publish."""


class CrashingPublisher:
    def publish(self, changes: Sequence[OptOutChange]) -> None:
        raise Crash("killed after the commit")


class Switch:
    """A publisher whose queue can be made unreachable (a closed port) and reachable again."""

    def __init__(self, up: EventPublisher, down: EventPublisher) -> None:
        self.up, self.down, self.is_up = up, down, True
        self.refused = 0

    def publish(self, changes: Sequence[OptOutChange]) -> None:
        if not self.is_up:
            self.refused += 1
        (self.up if self.is_up else self.down).publish(changes)


@dataclass
class Rig:
    service: TableServiceClient
    table: str
    queue: QueueClient
    store: TableStore
    publisher: QueuePublisher
    dead: QueuePublisher

    @property
    def writer(self) -> TableChangeFeed:
        return self.store.feed

    def feed(self, publisher: EventPublisher | None = None) -> ChangeFeed:
        return ChangeFeed(self.writer, publisher or self.publisher, sweep_grace=timedelta(0))

    def events(self) -> list[dict[str, Any]]:
        """Every message on the queue, in queue order (then deleted)."""
        out: list[dict[str, Any]] = []
        with contextlib.suppress(ResourceExistsError):
            self.queue.create_queue()
        while True:
            batch = list(self.queue.receive_messages(messages_per_page=32, max_messages=32))
            if not batch:
                return out
            for m in batch:
                out.append(json.loads(m.content))
                self.queue.delete_message(m)

    def feed_rows(self) -> list[dict[str, Any]]:
        q = "RowKey ge '~feed|' and RowKey lt '~feed}'"
        with unchecked():  # the test's look at every sender's feed rows
            return list(self.service.get_table_client(self.table).query_entities(q))

    def opted_out(self) -> set[tuple[str, str]]:
        with unchecked():  # the test's look at every sender's entries
            rows = list(
                self.service.get_table_client(self.table).query_entities(
                    "PartitionKey lt '~' and RowKey lt '~'"  # entries: not internal rows
                )
            )
        return {(e["PartitionKey"], e["RowKey"]) for e in rows}


@pytest.fixture
def rig(azurite: Azurite) -> Rig:
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    table = f"Feed{uuid.uuid4().hex[:10]}"
    queue = QueueClient.from_connection_string(
        azurite.connection_string, f"ev-{uuid.uuid4().hex[:10]}", api_version=QUEUE_API_VERSION
    )
    dead_queue = QueueClient.from_connection_string(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;",
        "down",
        retry_total=0,
        connection_timeout=1,
    )
    return Rig(
        service,
        table,
        queue,
        TableStore(service, table, table + "H", table + "P"),
        QueuePublisher(queue, "/sms-optout"),
        QueuePublisher(dead_queue, "/sms-optout"),
    )


def test_add_and_remove_publish_one_event_per_change_and_none_for_no_ops(rig: Rig) -> None:
    feed = rig.feed()
    [a, b] = nums(1, 2)
    made = feed.apply(SENDER, [a, b, a], opt_out=True, source=Source.API, at=T0, actor="crm")
    assert [(c.recipient, c.kind, c.version) for c in made] == [
        (a.e164, ChangeKind.ADDED, 1),
        (b.e164, ChangeKind.ADDED, 1),
    ]
    events = sorted(rig.events(), key=lambda e: e["data"]["recipient"])
    assert [e["id"] for e in events] == [c.event_id for c in made]
    assert events[0]["data"] == {
        "sender": SENDER.key,
        "recipient": a.e164,
        "country": "US",
        "source": "api",
        "keyword": None,
        "messageId": None,
        "optedOutAt": "2026-11-26T10:00:00Z",
        "actor": "crm",
    }
    assert (events[0]["type"], events[0]["subject"], events[0]["time"]) == (
        "Sms.OptOut.Added",
        SENDER.key,
        "2026-11-26T10:00:00Z",
    )
    # Adding someone already opted out changes nothing and publishes nothing.
    assert feed.apply(SENDER, [a], opt_out=True, source=Source.API) == []
    assert rig.events() == []
    later = T0 + timedelta(minutes=1)
    [removed] = feed.apply(SENDER, [a, *nums(3)], opt_out=False, source=Source.API, at=later)
    assert (removed.recipient, removed.kind, removed.version) == (a.e164, ChangeKind.REMOVED, 2)
    [event] = rig.events()
    assert event["type"] == "Sms.OptOut.Removed" and event["sequence"].endswith("2")
    assert event["data"]["optedOutAt"] is None
    assert event["data"]["actor"] is None  # no actor given (a change made before keys had names)
    assert rig.opted_out() == {(SENDER.key, b.e164)}
    assert all(r["OwedCount"] == 0 for r in rig.feed_rows())  # published, then cleared


def test_import_carries_its_source_reference_and_own_times(rig: Rig) -> None:
    then = T0 - timedelta(days=400)
    [a, b] = nums(5, 6)
    rig.feed().apply(
        SENDER,
        [a, b],
        opt_out=True,
        source=Source.IMPORT,
        at=T0,
        message_id="batch-7",
        times={a.e164: then},
    )
    events = {e["data"]["recipient"]: e for e in rig.events()}
    assert events[a.e164]["data"]["optedOutAt"] == events[a.e164]["time"] == "2025-10-22T10:00:00Z"
    assert events[b.e164]["data"]["optedOutAt"] == "2026-11-26T10:00:00Z"
    data = events[a.e164]["data"]
    assert (data["source"], data["messageId"], data["keyword"]) == ("import", "batch-7", None)


def test_a_hundred_recipients_take_two_transactions_and_publish_a_hundred_events(rig: Rig) -> None:
    made = rig.feed().apply(SENDER, nums(*range(100)), opt_out=True, source=Source.API)
    assert len(made) == 100
    assert sorted(e["id"] for e in rig.events()) == sorted(c.event_id for c in made)
    assert len(rig.opted_out()) == 100


def test_crash_after_commit_before_publish_is_published_once_by_the_sweep(rig: Rig) -> None:
    with pytest.raises(Crash):
        rig.feed(CrashingPublisher()).apply(SENDER, nums(1, 2), opt_out=True, source=Source.API)
    assert rig.opted_out() == {(SENDER.key, n.e164) for n in nums(1, 2)}  # committed
    assert rig.events() == []  # but nothing published
    assert [r["OwedCount"] for r in rig.feed_rows()] == [1, 1]

    feed = rig.feed()
    assert feed.sweep() == 2
    assert feed.sweep() == 0  # cleared: never a second time
    events = rig.events()
    assert len(events) == 2 and {e["data"]["recipient"] for e in events} == {
        n.e164 for n in nums(1, 2)
    }


def test_sweep_leaves_events_younger_than_the_grace_period(rig: Rig) -> None:
    with pytest.raises(Crash):
        rig.feed(CrashingPublisher()).apply(SENDER, nums(1), opt_out=True, source=Source.API)
    patient = ChangeFeed(rig.writer, rig.publisher, sweep_grace=timedelta(minutes=5))
    assert patient.sweep() == 0
    assert rig.feed().sweep() == 1


def test_queue_outage_then_every_event_arrives_once_per_change(rig: Rig) -> None:
    switch = Switch(rig.publisher, rig.dead)
    feed = rig.feed(switch)
    switch.is_up = False
    made = feed.apply(SENDER, nums(1, 2, 3), opt_out=True, source=Source.API)
    made += feed.apply(SENDER, nums(1), opt_out=False, source=Source.API)
    made += feed.apply(SENDER, nums(1), opt_out=True, source=Source.API)
    assert feed.sweep() == 0  # still down: still owed
    assert [r["OwedCount"] for r in sorted(rig.feed_rows(), key=lambda r: r["RowKey"])] == [
        3,
        1,
        1,
    ]
    switch.is_up = True
    assert feed.sweep() == 5
    events = rig.events()
    assert sorted(e["id"] for e in events) == sorted(c.event_id for c in made)
    first = [e for e in events if e["data"]["recipient"] == nums(1)[0].e164]
    assert [e["sequence"][-1] for e in first] == ["1", "2", "3"]  # in order
    assert feed.sweep() == 0


def test_a_pair_owes_at_most_max_owed_events() -> None:
    row = FeedRow(SENDER.key, "+14255550001")
    change = OptOutChange(ChangeKind.ADDED, SENDER.key, "+14255550001", 1, T0, "api")
    for v in range(1, MAX_OWED + 1):
        row = row.appended(change.__class__(**{**change.__dict__, "version": v}), T0)
    with pytest.raises(FeedBacklogFull):
        row.appended(change, T0)
    assert feed_key("+1") == "~feed|+1" and "~feed|" > "+99999999999999"


def test_concurrent_mixed_changes_replay_to_the_final_table_state(rig: Rig) -> None:
    """400 recipient changes from 8 threads: API adds and removes of 4 people at a time and
    keyword STOP/START texts arriving out of order, on the same 25 people of 2 senders, with the
    queue down for a while in the middle. The events, deduplicated by id and applied in
    `sequence` order per pair, give exactly the final table; each pair's events are its
    changes 1..n, each exactly once. (The races come from 8 threads on 50 pairs, not from the
    total: 400 changes give every pair both adds and removes, some during the outage.)"""
    switch = Switch(rig.publisher, rig.dead)
    feed = rig.feed(switch)
    inbound = InboundProcessor(
        rig.store.optouts, rig.store.history, rig.store.programs, FakeReplies(), SETTINGS, feed=feed
    )
    senders = [SENDER, parse_sender("+18005550101")]
    people = nums(*range(25))
    rng = random.Random(11)
    jobs: list[tuple[int, SenderId, bool, list[PhoneNumber]]] = []
    while sum(len(j[3]) for j in jobs) < 400:
        keyword = rng.random() < 0.25
        who = rng.sample(people, 1 if keyword else 4)
        jobs.append((len(jobs) if keyword else -1, rng.choice(senders), rng.random() < 0.55, who))
    lock, done = threading.Lock(), [0]

    def run(job: tuple[int, SenderId, bool, list[PhoneNumber]]) -> int:
        n, sender, opt_out, who = job
        with lock:
            done[0] += 1
            switch.is_up = not (40 < done[0] < 65)  # an outage part-way through
        if n < 0:
            return len(feed.apply(sender, who, opt_out=opt_out, source=Source.API))
        at = T0 + timedelta(seconds=n)  # jobs run out of order: older texts arrive late
        text = "STOP" if opt_out else "START"
        inbound.handle(InboundSms(f"m{n}", f"e{n}", sender.key, who[0].e164, text, at))
        return 0

    with ThreadPoolExecutor(8) as pool:
        changed = sum(pool.map(run, jobs))
    switch.is_up = True
    feed.sweep()
    rows = rig.feed_rows()
    assert all(r["OwedCount"] == 0 for r in rows)
    assert switch.refused > 0 and changed > 120  # the outage happened; most requests changed
    assert len(rows) == 50  # every pair changed (each has adds and removes among the jobs)

    events = rig.events()
    by_id = {e["id"]: e for e in events}
    state: dict[tuple[str, str], tuple[int, str]] = {}
    for e in sorted(by_id.values(), key=lambda e: e["sequence"]):
        pair = (e["subject"], e["data"]["recipient"])
        last = state.get(pair, (0, ""))[0]
        assert int(e["sequence"]) == last + 1, "a gap or a repeat in a pair's sequence"
        state[pair] = (last + 1, e["type"])
    # Every change of every pair has exactly one id (its events may repeat, with that id).
    assert {p: v for p, (v, _) in state.items()} == {
        (r["PartitionKey"], r["Recipient"]): r["Version"] for r in rows
    }
    assert {e["data"]["source"] for e in by_id.values()} == {"api", "keyword"}
    replayed = {pair for pair, (_, kind) in state.items() if kind == "Sms.OptOut.Added"}
    assert replayed == rig.opted_out()
    # Enqueued in order per pair: the first copy of each event comes after its predecessors'.
    seen: dict[tuple[str, str], int] = {}
    for e in events:
        pair = (e["subject"], e["data"]["recipient"])
        if int(e["sequence"]) > seen.get(pair, 0):
            assert int(e["sequence"]) == seen.get(pair, 0) + 1
            seen[pair] = int(e["sequence"])


def test_what_each_kind_of_change_costs_in_table_requests(azurite: Azurite) -> None:
    recorder = StorageRecorder()
    service = TableServiceClient.from_connection_string(
        azurite.connection_string, raw_request_hook=recorder
    )
    store = TableStore(service, f"Cost{uuid.uuid4().hex[:8]}", "UnusedH", "UnusedP").feed
    people = nums(*range(100))
    store.apply(SENDER, people[:1], opt_out=True, at=T0, source=Source.API)  # creates the table
    recorder.clear()

    def cost(opt_out: bool, who: list[PhoneNumber]) -> tuple[int, int, int]:
        recorder.clear()
        made = store.apply(SENDER, who, opt_out=opt_out, at=T0, source=Source.API)
        gets = sum(1 for m, _, _ in recorder.requests if m == "GET")
        return len(made), gets, recorder.count - gets

    # (changes, point reads, transactions): each round that writes first writes the owed
    # markers of its pairs (one transaction per 100, in a `~owed|` partition), then the
    # changes, 33 per transaction (entry, its time copy, feed row)
    assert cost(True, people[1:]) == (99, 0, 1 + 3)  # new people: no reads
    assert cost(True, people) == (0, 100, 1 + 4)  # all known: the guesses fail, entries read
    # feed rows say "opted out" since their last change: trusted (the time copy's key too)
    assert cost(False, people) == (100, 100, 1 + 4)
    assert cost(False, people) == (0, 200, 0)  # feed rows say "not": entries read to be sure
    assert recorder.rowkey_or_filters() == []


def test_a_request_that_gives_up_half_way_still_publishes_and_records_what_it_changed(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One recipient of an add keeps conflicting (another writer always wins it) until the
    request gives up (503 to the client); the recipient whose change was committed still gets
    its event and its history row (the audit trail never lacks a change that was made), and
    the contended one gets neither."""
    [made, contended] = nums(21, 22)
    real_submit = rig.writer._submit

    def submit(request: Any, chunk: Any, at: datetime, times: Any) -> Any:
        if any(r.e164 == contended.e164 for r, _, _ in chunk):
            return None  # a conflict, every time
        return real_submit(request, chunk, at, times)

    monkeypatch.setattr(rig.writer, "_submit", submit)
    monkeypatch.setattr("shared.tables.feed.BACKOFF_SECONDS", 0.0)
    service = OptOutService(rig.store.optouts, rig.store.history, rig.feed(), clock=lambda: T0)
    with pytest.raises(ChangesPartlyApplied) as raised:
        service.add(SENDER, [made, contended])
    assert isinstance(raised.value, ConcurrencyConflict)  # the API's 503 + Retry-After
    assert [a.change.recipient for a in raised.value.applied] == [made.e164]
    assert [e["data"]["recipient"] for e in rig.events()] == [made.e164]
    assert rig.opted_out() == {(SENDER.key, made.e164)}
    with unchecked():  # the test's look at the whole history table
        history = list(
            rig.service.get_table_client(rig.table + "H").query_entities("RowKey lt '~'")
        )
    assert [(h["Action"], h["RowKey"].split("|")[0]) for h in history] == [
        (str(Action.OPT_OUT), made.e164)
    ]
