"""The one-off backfill (shared/tables/backfill.py) on rows written the old way, on Azurite:
entries and history rows as the code before the index wrote them (no copies), then the
backfill, then listing `since`, the report window, removals and reply statuses on them; and
change-feed rows left owed by the version before the owed markers (no marker), which the sweep
finds only after the backfill marked them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.data.tables import TableServiceClient, UpdateMode

from devhost.testing import Azurite
from shared.domain.changes import FeedRow, OptOutChange
from shared.domain.model import (
    Action,
    ChangeKind,
    EntryFilter,
    HistoryRecord,
    Outcome,
    ReplyStatus,
    Source,
)
from shared.domain.phone import parse_e164
from shared.domain.sender import parse_sender
from shared.feed.change_feed import ChangeFeed
from shared.tables import TableStore, backfill
from shared.tables.feed_rows import feed_to_entity
from shared.tables.history import to_entity as history_entity
from shared.tables.optouts import entry_to_entity
from shared.tables.owed_marks import shard_keys
from tests.fakes import FakePublisher

SENDER = parse_sender("+18005550177")
OTHER = parse_sender("+18005550178")
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PEOPLE = [parse_e164(f"+1425555{n:04d}") for n in range(8200, 8210)]


def at(n: int) -> datetime:
    return T0 + timedelta(hours=n)


@pytest.fixture
def store(azurite: Azurite) -> TableStore:
    name = f"Fill{uuid.uuid4().hex[:8]}"
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    store = TableStore(service, name, name + "H", name + "P", groups_table=name + "G")
    store.ensure_tables()
    # The old way: an entry is one row (no SinceKey, no copy); a history row is one row.
    optouts = service.get_table_client(name)
    history = service.get_table_client(name + "H")
    for n, person in enumerate(PEOPLE):
        sender = SENDER if n < 8 else OTHER
        entry = entry_to_entity(sender, person, at(n), Source.API)
        optouts.upsert_entity(entry, mode=UpdateMode.REPLACE)
        record = HistoryRecord(
            sender=sender.key,
            recipient=person.e164,
            action=Action.OPT_OUT,
            source=Source.KEYWORD,
            event_id=f"old-{n}",
            event_at=at(n),
            outcome=Outcome.APPLIED,
            reply_status=ReplyStatus.SENDING,
        )
        history.upsert_entity(history_entity(record, at(n)), mode=UpdateMode.REPLACE)
    return store


def since(store: TableStore, n: int) -> list[str]:
    page = store.bulk.entries_page(SENDER, EntryFilter(since=at(n)), start=None, size=100)
    return [e.recipient for e in page.entries]


def window(store: TableStore, start: int, end: int) -> list[str]:
    rows, _ = store.history.history_window(SENDER, at(start), at(end))
    return [r.event_id for r in rows]


def test_backfill_indexes_old_rows_once_and_the_app_keeps_them(
    store: TableStore, tmp_path: Path
) -> None:
    assert since(store, 0) == [] and window(store, 0, 24) == []  # not found by time yet
    lines: list[str] = []
    state = tmp_path / "state.json"
    done = backfill.run(store, state=state, echo=lines.append)
    # No feed row owes anything here: the marker jobs read none.
    assert [(p.read, p.indexed, p.skipped) for p in done] == [
        (0, 0, 0),
        (0, 0, 0),
        (10, 10, 0),
        (10, 10, 0),
    ]
    assert lines[-1].endswith("10 rows read, 10 indexed, 0 skipped (done)")
    assert since(store, 3) == [p.e164 for p in PEOPLE[3:8]]  # oldest first, this sender's
    assert window(store, 2, 5) == ["old-2", "old-3", "old-4"]

    # Again: entries name their copies now (skipped); history copies written again, identical.
    again = backfill.run(store, echo=lines.append)
    assert [(p.indexed, p.skipped) for p in again] == [(0, 0), (0, 0), (0, 10), (10, 0)]
    assert since(store, 3) == [p.e164 for p in PEOPLE[3:8]]

    # The app on a backfilled entry: the removal deletes the entry and its copy.
    store.feed.apply(SENDER, [PEOPLE[4]], opt_out=False, at=at(30), source=Source.API)
    assert since(store, 3) == [p.e164 for p in PEOPLE[3:8] if p != PEOPLE[4]]
    # ... and on a backfilled history row: the reply status reaches the copy too.
    [row] = [r for r in store.history.history_window(SENDER, at(2), at(3))[0]]
    store.history.set_reply_status(row, ReplyStatus.SENT)
    [copy] = store.history.history_window(SENDER, at(2), at(3))[0]
    assert copy.reply_status == ReplyStatus.SENT and copy.reply_sent_at is not None
    assert json.loads(state.read_text())[f"{store.optouts._table.table_name} (entries)"]["done"]


def test_the_app_works_on_old_rows_before_the_backfill(store: TableStore) -> None:
    # An old entry has no copy: removing it removes the entry only (nothing else to delete).
    store.feed.apply(SENDER, [PEOPLE[1]], opt_out=False, at=at(30), source=Source.API)
    assert store.optouts.opted_out(SENDER, [PEOPLE[1]]) == set()
    # An old history row's reply status: the copy is made with only what changed, and the
    # report leaves it out until the backfill completes it.
    [old] = [r for r in store.history.history_page(SENDER, PEOPLE[2])[0]]
    store.history.set_reply_status(old, ReplyStatus.SENT)
    assert window(store, 0, 24) == []
    backfill.run(store, echo=lambda _: None)
    assert window(store, 0, 24) == [f"old-{n}" for n in range(8)]
    assert since(store, 0) == [p.e164 for p in PEOPLE[:8] if p != PEOPLE[1]]


def test_a_stopped_backfill_resumes_where_it_was(
    store: TableStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backfill, "PAGE", 4)
    state = tmp_path / "state.json"
    seen: list[str] = []

    def stop_after_two_pages(line: str) -> None:
        seen.append(line)
        if len(seen) == 4:  # the two marker jobs' lines, then two pages of entries
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backfill.run(store, state=state, echo=stop_after_two_pages)
    assert seen[-1].startswith(f"{store.optouts._table.table_name} (entries): 8 rows read")
    resumed = backfill.run(store, state=state, resume=True, echo=seen.append)
    # the entries' run went on from row 9 (the third page), then the history's whole
    assert [(p.read, p.indexed) for p in resumed] == [(2, 2), (10, 10)]
    assert since(store, 0) == [p.e164 for p in PEOPLE[:8]]
    assert backfill.run(store, state=state, resume=True, echo=seen.append) == []  # all done


def test_the_command_runs_on_the_app_settings(
    store: TableStore,
    azurite: Azurite,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    monkeypatch.setenv("OPTOUT_TABLE_NAME", store.optouts._table.table_name)
    monkeypatch.setenv("OPTOUT_HISTORY_TABLE_NAME", store.history._table.table_name)
    monkeypatch.setenv("GROUP_OPTOUTS_TABLE_NAME", store.groups._table.table_name)
    assert backfill.main(["--state", str(tmp_path / "s.json")]) == 0
    out = capsys.readouterr().out.splitlines()
    history, name = store.history._table.table_name, store.optouts._table.table_name
    assert out[0] == f"{name} (owed events): 0 rows read, 0 marked, 0 skipped (done)"
    assert out[-1] == f"{history} (history): 10 rows read, 10 indexed, 0 skipped (done)"
    assert since(store, 0) == [p.e164 for p in PEOPLE[:8]]


def test_feed_rows_owed_the_old_way_are_marked_and_then_published_once(
    store: TableStore, tmp_path: Path
) -> None:
    # The version before the markers: a change's feed row owes its event, with no marker (its
    # sweep scanned for `OwedCount gt 0`); one in a sender's partition, one in a group's.
    mine = OptOutChange(ChangeKind.ADDED, SENDER.key, PEOPLE[0].e164, 1, at(0), "api", actor="k")
    brand = OptOutChange(
        ChangeKind.GROUP_ADDED, SENDER.key, PEOPLE[1].e164, 1, at(1), "keyword",
        group="fillbrand", senders=(SENDER.key, OTHER.key), actor="keyword",
    )  # fmt: skip
    for outbox, change, n in ((store.feed, mine, 0), (store.groups, brand, 1)):
        row = FeedRow(change.partition, change.recipient, 1, (change,), at(n), True, at(n))
        outbox._table.upsert_entity(feed_to_entity(row))
    # ... and a row that owes nothing (published long ago): not read by the marker job.
    settled = FeedRow(SENDER.key, PEOPLE[2].e164, 3, (), None, False, at(2))
    store.feed._table.upsert_entity(feed_to_entity(settled))
    publisher = FakePublisher()
    feed = ChangeFeed(store.feed, publisher, groups=store.groups)
    assert feed.sweep() == 0 and publisher.published == []  # the gap: never found by key

    lines: list[str] = []
    state = tmp_path / "state.json"
    done = backfill.run(store, state=state, echo=lines.append)
    name = store.optouts._table.table_name
    assert lines[:2] == [
        f"{name} (owed events): 1 rows read, 1 marked, 0 skipped (done)",
        f"{name}G (owed events): 1 rows read, 1 marked, 0 skipped (done)",
    ]
    assert [(p.read, p.indexed) for p in done[:2]] == [(1, 1), (1, 1)]
    marks = [
        (m["Partition"], m["Recipient"])
        for adapter in (store.feed, store.groups)
        for shard in shard_keys()
        for m in adapter._table.query_entities("PartitionKey eq @pk", parameters={"pk": shard})
    ]
    assert sorted(marks) == sorted([(SENDER.key, PEOPLE[0].e164), ("fillbrand", PEOPLE[1].e164)])
    # Run again before any sweep (idempotent: the same markers, written again).
    again = backfill.run(store, echo=lines.append)
    assert [(p.read, p.indexed) for p in again[:2]] == [(1, 1), (1, 1)]
    assert backfill.run(store, state=state, resume=True, echo=lines.append) == []  # all done

    assert feed.sweep() == 2
    assert sorted(publisher.published, key=lambda c: c.recipient) == [mine, brand]
    assert feed.sweep() == 0 and len(publisher.published) == 2  # once: nothing owed any more
    assert store.feed.feed_rows(SENDER.key, [PEOPLE[0].e164])[0].owed == ()
    # Nothing is owed now: a later run marks nothing.
    assert [(p.read, p.indexed) for p in backfill.run(store, echo=lines.append)[:2]] == [
        (0, 0),
        (0, 0),
    ]
