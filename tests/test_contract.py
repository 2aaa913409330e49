"""Repository contract: the same behaviours asked of the in-memory fake (tests/fakes.py) and of
the Table adapters on Azurite, so the fake that the fast service tests use cannot drift."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.data.tables import TableServiceClient

from devhost.inprocess import StorageRecorder
from devhost.testing import Azurite
from shared.domain.delivery import DeliveryAttempt, DeliveryReport, DrySend, ReportStatus
from shared.domain.model import (
    Action,
    AlreadyRecorded,
    ChangeKind,
    ConcurrencyConflict,
    DeliveryStatus,
    EntryFilter,
    HistoryRecord,
    InvalidPageToken,
    OptOutEntry,
    Outcome,
    ReplyStatus,
    SenderProgram,
    Source,
)
from shared.domain.phone import parse_e164
from shared.domain.sender import parse_sender
from shared.tables import TableStore
from tests.fakes import FakeDeliveryReports, FakeRepository

SENDER = parse_sender("+18005550100")
PEOPLE = [parse_e164(f"+1425555{i:04d}") for i in range(5)]
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@dataclass
class Repos:
    entries: Any
    states: Any
    history: Any
    programs: Any
    bulk: Any = None
    feed: Any = None
    groups: Any = None
    delivery: Any = None


@pytest.fixture(params=["fake", "tables"])
def repos(request: pytest.FixtureRequest) -> Iterator[Repos]:
    if request.param == "fake":
        fake = FakeRepository(clock=lambda: T0)
        yield Repos(fake, fake, fake, fake, fake, fake, fake, FakeDeliveryReports())
        return
    azurite: Azurite = request.getfixturevalue("azurite")
    recorder = StorageRecorder()
    service = TableServiceClient.from_connection_string(
        azurite.connection_string, raw_request_hook=recorder
    )
    suffix = uuid.uuid4().hex[:8]
    # The tables are not created beforehand: the first use of each creates it.
    names = (f"O{suffix}", f"H{suffix}", f"P{suffix}")
    store = TableStore(
        service, *names, groups_table=f"G{suffix}", delivery_table=f"D{suffix}", clock=lambda: T0
    )
    yield Repos(
        store.optouts,
        store.optouts,
        store.history,
        store.programs,
        store.bulk,
        store.feed,
        store.groups,
        store.delivery,
    )
    assert recorder.rowkey_or_filters() == []


def record(n: int, person: int = 0, **changes: Any) -> HistoryRecord:
    rec = HistoryRecord(
        sender=SENDER.key,
        recipient=PEOPLE[person].e164,
        action=Action.OPT_OUT,
        source=Source.KEYWORD,
        event_id=f"event-{n}",
        event_at=T0 + timedelta(seconds=n),
        outcome=Outcome.APPLIED,
        message_id=f"msg-{n}",
        keyword="STOP",
    )
    return replace(rec, **changes)


def test_add_remove_check_are_idempotent(repos: Repos) -> None:
    assert repos.entries.opted_out(SENDER, PEOPLE) == set()  # a brand-new table
    repos.entries.add(SENDER, [PEOPLE[0], PEOPLE[1], PEOPLE[0]], T0)
    repos.entries.add(SENDER, [PEOPLE[1]], T0)
    assert repos.entries.opted_out(SENDER, PEOPLE) == {PEOPLE[0].e164, PEOPLE[1].e164}
    repos.entries.remove(SENDER, PEOPLE)  # partly missing
    repos.entries.remove(SENDER, PEOPLE)  # all missing
    assert repos.entries.opted_out(SENDER, PEOPLE) == set()


def test_senders_do_not_share_entries(repos: Repos) -> None:
    repos.entries.add(SENDER, [PEOPLE[0]], T0)
    assert repos.entries.opted_out(parse_sender("+18005550199"), [PEOPLE[0]]) == set()


def test_keyword_apply_is_conditional_on_what_was_read(repos: Repos) -> None:
    fresh = repos.states.keyword_state(SENDER, PEOPLE[0])
    assert (fresh.opted_out, fresh.last_event_at, fresh.last_message_id) == (False, None, None)
    repos.states.apply_keyword(SENDER, PEOPLE[0], fresh, opt_out=True, event_at=T0, message_id="m1")
    after = repos.states.keyword_state(SENDER, PEOPLE[0])
    assert (after.opted_out, after.opt_out_source) == (True, Source.KEYWORD)
    assert (after.last_event_at, after.last_message_id) == (T0, "m1")
    assert repos.entries.opted_out(SENDER, [PEOPLE[0]]) == {PEOPLE[0].e164}
    with pytest.raises(ConcurrencyConflict):  # `fresh` is stale now
        repos.states.apply_keyword(
            SENDER, PEOPLE[0], fresh, opt_out=False, event_at=T0, message_id="m2"
        )
    later = T0 + timedelta(seconds=1)
    repos.states.apply_keyword(
        SENDER, PEOPLE[0], after, opt_out=False, event_at=later, message_id="m2"
    )
    final = repos.states.keyword_state(SENDER, PEOPLE[0])
    assert (final.opted_out, final.last_message_id) == (False, "m2")
    assert repos.entries.opted_out(SENDER, [PEOPLE[0]]) == set()


def test_an_api_add_changes_the_entry_under_a_keyword_read(repos: Repos) -> None:
    state = repos.states.keyword_state(SENDER, PEOPLE[0])
    repos.entries.add(SENDER, [PEOPLE[0]], T0)
    with pytest.raises(ConcurrencyConflict):
        repos.states.apply_keyword(
            SENDER, PEOPLE[0], state, opt_out=True, event_at=T0, message_id="m1"
        )
    assert repos.states.keyword_state(SENDER, PEOPLE[0]).opt_out_source == Source.API


def test_history_rows_are_created_once_per_event(repos: Repos) -> None:
    rec = record(1)
    assert repos.history.get_history(rec) is None
    repos.history.create_history(rec)
    with pytest.raises(AlreadyRecorded):
        repos.history.create_history(replace(rec, outcome=Outcome.SUPERSEDED))
    assert repos.history.get_history(rec) == rec
    repos.history.record_history([rec, record(2)])  # upserts: idempotent
    assert repos.history.get_history(record(2)) == record(2)


def test_reply_claim_and_lease_take_over(repos: Repos) -> None:
    rec = record(1, reply_status=ReplyStatus.SENDING, reply_claimed_at=T0)
    repos.history.create_history(rec)
    crashed = repos.history.get_history(rec)  # the first attempt died without a status
    assert crashed.reply_status == ReplyStatus.SENDING
    later = T0 + timedelta(minutes=5)
    repos.history.claim_reply(crashed, later)  # a later delivery takes the claim over
    with pytest.raises(ConcurrencyConflict):  # a concurrent copy read the same row: it loses
        repos.history.claim_reply(crashed, later)
    claimed = repos.history.get_history(rec)
    assert (claimed.reply_status, claimed.reply_claimed_at) == (ReplyStatus.SENDING, later)
    repos.history.set_reply_status(claimed, ReplyStatus.SENT)
    assert repos.history.get_history(rec).reply_status == ReplyStatus.SENT


def test_history_pages_in_recipient_then_time_order(repos: Repos) -> None:
    rows = [record(n, person) for person in (1, 0) for n in (3, 1, 2)]
    repos.history.record_history(rows)
    seen, token, pages = [], None, 0
    while True:
        page, token = repos.history.history_page(SENDER, page_size=4, token=token)
        seen += page
        pages += 1
        if token is None:
            break
    assert pages == 2
    expected = sorted(rows, key=lambda r: (r.recipient, r.event_at))
    assert [(r.recipient, r.event_id) for r in seen] == [
        (r.recipient, r.event_id) for r in expected
    ]
    one, _ = repos.history.history_page(SENDER, PEOPLE[1])
    assert {r.recipient for r in one} == {PEOPLE[1].e164} and len(one) == 3


def test_reply_sent_at_is_written_with_the_sent_status(repos: Repos) -> None:
    rec = record(1, reply_status=ReplyStatus.SENDING, reply_claimed_at=T0)
    repos.history.create_history(rec)
    row = repos.history.get_history(rec)
    assert (row.recorded_at, row.reply_sent_at) == (T0, None)
    repos.history.set_reply_status(row, ReplyStatus.PENDING)  # a failed try: not sent
    assert repos.history.get_history(rec).reply_sent_at is None
    repos.history.set_reply_status(row, ReplyStatus.SENT)
    assert repos.history.get_history(rec).reply_sent_at == T0  # the store's clock


def test_history_window_pages_opt_outs_and_opt_ins_received_in_the_window(repos: Repos) -> None:
    rows = [record(n, person) for person in (2, 0, 1) for n in range(1, 7)]
    rows.append(record(3, 3, action=Action.HELP, outcome=Outcome.HELP))  # not a change
    rows.append(record(4, 4, action=Action.OPT_IN, source=Source.API))
    repos.history.record_history(rows)
    start, end = T0 + timedelta(seconds=2), T0 + timedelta(seconds=5)  # [2, 5)
    seen, token, pages = [], None, 0
    while True:
        page, token = repos.history.history_window(SENDER, start, end, page_size=4, token=token)
        seen += page
        pages += 1
        if token is None:
            break
    expected = sorted(
        (r for r in rows if start <= r.event_at < end and r.action != Action.HELP),
        key=lambda r: (r.event_at, r.recipient),  # time order: a key range of time copies
    )
    assert [(r.recipient, r.event_id) for r in seen] == [
        (r.recipient, r.event_id) for r in expected
    ]
    assert len(seen) == 10 and pages >= 3
    other = parse_sender("+18005550199")
    assert repos.history.history_window(other, start, end) == ([], None)
    with pytest.raises(InvalidPageToken):
        repos.history.history_window(SENDER, start, end, token="not a token!")


@pytest.mark.parametrize("token", ["not a token!", "WzFd", "eyJhIjogMX0="])  # [1], {"a": 1}
def test_an_altered_page_token_is_refused(repos: Repos, token: str) -> None:
    with pytest.raises(InvalidPageToken):
        repos.history.history_page(SENDER, token=token)
    with pytest.raises(InvalidPageToken):
        repos.history.history_window(SENDER, T0, T0 + timedelta(days=1), token=token)


def test_programs_round_trip(repos: Repos) -> None:
    assert repos.programs.get_program(SENDER) is None
    program = SenderProgram(brand="Contoso", help_text="Reply STOP", plain_language_optout=False)
    repos.programs.put_program(SENDER, program)
    assert repos.programs.get_program(SENDER) == program
    repos.programs.delete_program(SENDER)
    repos.programs.delete_program(SENDER)  # idempotent
    assert repos.programs.get_program(SENDER) is None


def test_revoke_all_senders_of_a_group(repos: Repos) -> None:
    numbers = [parse_sender(f"+1800555{i:04d}") for i in range(4)]
    repos.programs.put_program(numbers[0], SenderProgram(group="contoso", revoke_all=True))
    repos.programs.put_program(numbers[1], SenderProgram(group="contoso", revoke_all=False))
    repos.programs.put_program(numbers[2], SenderProgram(group="fabrikam", revoke_all=True))
    repos.programs.put_program(numbers[3], SenderProgram(group="contoso", revoke_all=True))
    assert repos.programs.revoke_all_senders("contoso") == [numbers[0].key, numbers[3].key]
    assert repos.programs.revoke_all_senders("nobody") == []


def test_mirrored_senders_and_the_switch_round_trip(repos: Repos) -> None:
    numbers = [parse_sender(f"+1800556{i:04d}") for i in range(3)]
    repos.programs.put_program(numbers[0], SenderProgram(mirror_to_acs=True))
    repos.programs.put_program(numbers[1], SenderProgram(mirror_to_acs=False, brand="B"))
    repos.programs.put_program(numbers[2], SenderProgram(brand="C"))
    assert repos.programs.mirrored_senders() == [numbers[0].key]
    assert repos.programs.get_program(numbers[0]) == SenderProgram(mirror_to_acs=True)
    assert repos.programs.get_program(numbers[1]) == SenderProgram(mirror_to_acs=False, brand="B")


def test_the_transport_pools_a_connection_per_concurrent_read() -> None:
    from shared import runtime
    from shared.tables.base import MAX_PARALLEL_READS

    transport = runtime.pooled_transport(MAX_PARALLEL_READS)
    adapter = transport.session.get_adapter("https://account.table.core.windows.net")
    assert adapter.poolmanager.connection_pool_kw["maxsize"] == MAX_PARALLEL_READS


# -- the change feed (ChangeFeedStore, and the keyword transaction's feed row) -----------------


def test_feed_apply_changes_only_what_differs_and_owes_one_event_each(repos: Repos) -> None:
    made = repos.feed.apply(SENDER, PEOPLE[:2], opt_out=True, at=T0, source=Source.API)
    assert [(a.change.recipient, a.change.version, a.change.kind) for a in made] == [
        (PEOPLE[0].e164, 1, ChangeKind.ADDED),
        (PEOPLE[1].e164, 1, ChangeKind.ADDED),
    ]
    assert [a.row.owed for a in made] == [(a.change,) for a in made]
    assert repos.entries.opted_out(SENDER, PEOPLE) == {PEOPLE[0].e164, PEOPLE[1].e164}
    assert repos.feed.apply(SENDER, PEOPLE[:2], opt_out=True, at=T0, source=Source.API) == []
    [removed] = repos.feed.apply(SENDER, PEOPLE[1:3], opt_out=False, at=T0, source=Source.API)
    assert (removed.change.version, removed.change.kind) == (2, ChangeKind.REMOVED)
    # Still owed (nothing cleared yet): the pair owes both, oldest first.
    assert [c.version for c in removed.row.owed] == [1, 2]
    assert repos.entries.opted_out(SENDER, PEOPLE) == {PEOPLE[0].e164}


def test_feed_clear_keeps_what_became_owed_since_and_the_sweep_finds_the_rest(
    repos: Repos,
) -> None:
    [first] = repos.feed.apply(SENDER, PEOPLE[:1], opt_out=True, at=T0, source=Source.API)
    [second] = repos.feed.apply(SENDER, PEOPLE[:1], opt_out=False, at=T0, source=Source.API)
    repos.feed.clear([first.row])  # published only the first: its row is stale now
    later = datetime.now(UTC) + timedelta(minutes=1)
    [owed] = list(repos.feed.owed_rows(later))
    assert [c.version for c in owed.owed] == [2] and owed.owed[0] == second.change
    assert list(repos.feed.owed_rows(datetime.now(UTC) - timedelta(minutes=1))) == []
    repos.feed.clear([owed])
    assert list(repos.feed.owed_rows(later)) == []


def test_keyword_changes_owe_events_and_count_with_api_changes(repos: Repos) -> None:
    repos.feed.apply(SENDER, PEOPLE[:1], opt_out=True, at=T0, source=Source.API)
    state = repos.states.keyword_state(SENDER, PEOPLE[0])
    # STOP while opted out: no change of state, no event.
    row = repos.states.apply_keyword(
        SENDER, PEOPLE[0], state, opt_out=True, event_at=T0, message_id="m1", keyword="STOP"
    )
    assert [c.version for c in row.owed] == [1]
    state = repos.states.keyword_state(SENDER, PEOPLE[0])
    assert state.feed is not None and state.feed.version == 1
    row = repos.states.apply_keyword(
        SENDER, PEOPLE[0], state, opt_out=False, event_at=T0, message_id="m2", keyword="START"
    )
    change = row.owed[-1]
    assert (change.version, change.kind, change.source, change.keyword) == (
        2,
        ChangeKind.REMOVED,
        Source.KEYWORD,
        "START",
    )
    # An API change after the state was read makes the keyword transaction conflict.
    state = repos.states.keyword_state(SENDER, PEOPLE[0])
    repos.feed.apply(SENDER, PEOPLE[:1], opt_out=True, at=T0, source=Source.API)
    with pytest.raises(ConcurrencyConflict):
        repos.states.apply_keyword(
            SENDER, PEOPLE[0], state, opt_out=True, event_at=T0, message_id="m3"
        )


# -- listing and bulk import (OptOutListing, OptOutImports) ------------------------------------


def all_entries(repos: Repos, flt: EntryFilter, size: int) -> list[OptOutEntry]:
    entries, start = [], None
    while True:
        page = repos.bulk.entries_page(SENDER, flt, start=start, size=size)
        assert len(page.entries) <= size
        entries += page.entries
        start = page.next_start
        if start is None:
            return entries


def opt_out(repos: Repos, people: list[Any], at: datetime, import_id: str, sender: Any = SENDER):
    return repos.feed.apply(
        sender, people, opt_out=True, at=at, source=Source.IMPORT, message_id=import_id
    )


def test_imported_by_tells_an_imports_own_entries(repos: Repos) -> None:
    repos.feed.apply(SENDER, PEOPLE[:1], opt_out=True, at=T0, source=Source.API)
    opt_out(repos, PEOPLE[1:3], T0 - timedelta(days=1), "imp-1")
    opt_out(repos, PEOPLE[3:4], T0, "imp-2")
    assert repos.bulk.imported_by(SENDER, PEOPLE, "imp-1") == {
        PEOPLE[1].e164: T0 - timedelta(days=1),
        PEOPLE[2].e164: T0 - timedelta(days=1),
    }
    assert repos.bulk.imported_by(SENDER, PEOPLE, "imp-3") == {}
    assert repos.bulk.imported_by(parse_sender("+18005550199"), PEOPLE, "imp-1") == {}
    listed = {e.recipient: e for e in all_entries(repos, EntryFilter(), 10)}
    assert (listed[PEOPLE[0].e164].source, listed[PEOPLE[1].e164].source) == (
        Source.API,
        Source.IMPORT,
    )
    assert listed[PEOPLE[1].e164].country == "US"


def test_entry_pages_cover_each_entry_once_in_order_with_filters(repos: Repos) -> None:
    others = [parse_e164("+447700900123"), parse_e164("+16475550100")]
    opt_out(repos, PEOPLE, T0, "a")
    opt_out(repos, others, T0 + timedelta(days=1), "b")
    opt_out(repos, PEOPLE[:1], T0, "c", parse_sender("+18005550199"))
    repos.states.apply_keyword(
        SENDER,
        PEOPLE[0],
        repos.states.keyword_state(SENDER, PEOPLE[0]),
        opt_out=True,
        event_at=T0,
        message_id="m",
    )  # keyword state and feed rows: never listed
    everyone = sorted(p.e164 for p in [*PEOPLE, *others])
    for size in (1, 2, 7, 1000):
        assert [e.recipient for e in all_entries(repos, EntryFilter(), size)] == everyone
    later = EntryFilter(since=T0 + timedelta(hours=1))
    assert [e.recipient for e in all_entries(repos, later, 2)] == sorted(p.e164 for p in others)
    gb = EntryFilter(country="GB")
    assert [e.recipient for e in all_entries(repos, gb, 3)] == ["+447700900123"]


# --- delivery reports -------------------------------------------------------------------------


def report(message_id: str, at: datetime, status: ReportStatus, **more: Any) -> DeliveryReport:
    return DeliveryReport(
        message_id=message_id,
        sender=SENDER.key,
        recipient=PEOPLE[0].e164,
        status=status,
        received_at=at,
        details=more.pop("details", ""),
        attempts=(DeliveryAttempt(at - timedelta(seconds=2), 1, 0),),
        **more,
    )


@pytest.mark.parametrize(
    "message_id",
    ["Outgoing_20261201100000abc_noam", "odd/id?#with\\chars" + "x" * 300, "DryRun_0a1b"],
)
def test_the_newest_report_of_a_message_is_kept(repos: Repos, message_id: str) -> None:
    assert repos.delivery.get_report(message_id) is None
    failed = report(message_id, T0, ReportStatus.FAILED, details="4007", tag="t")
    assert repos.delivery.keep_report(failed)
    assert repos.delivery.keep_report(failed)  # a redelivery: the same report, kept
    assert repos.delivery.get_report(message_id) == failed
    older = report(message_id, T0 - timedelta(minutes=1), ReportStatus.DELIVERED)
    assert not repos.delivery.keep_report(older)  # arrived late: the newer one stays
    newer = report(message_id, T0 + timedelta(minutes=1), ReportStatus.DELIVERED)
    assert repos.delivery.keep_report(newer)
    assert repos.delivery.get_report(message_id) == newer
    assert repos.delivery.get_report(message_id + "2") is None


def test_dry_sends_are_kept_by_message_id(repos: Repos) -> None:
    sends = [DrySend(f"DryRun_{i}", SENDER.display, PEOPLE[i].e164, T0, "tag") for i in range(3)]
    repos.delivery.record_dry_sends(sends)
    assert [repos.delivery.get_dry_send(s.message_id) for s in sends] == sends
    assert repos.delivery.get_dry_send("DryRun_9") is None
    assert repos.delivery.get_report("DryRun_0") is None  # a dry send is no report


def test_a_confirmation_is_found_by_its_message_id_and_marked(repos: Repos) -> None:
    stop = record(1, reply_status=ReplyStatus.SENDING, reply_claimed_at=T0)
    other = record(2, reply_status=ReplyStatus.SENDING, reply_claimed_at=T0)
    elsewhere = record(3, 1, reply_status=ReplyStatus.SENDING, reply_claimed_at=T0)
    for rec in (stop, other, elsewhere):
        repos.history.create_history(rec)
    repos.history.set_reply_status(stop, ReplyStatus.SENT, "Outgoing_1")
    repos.history.set_reply_status(other, ReplyStatus.SENT, "Outgoing_2")
    repos.history.set_reply_status(elsewhere, ReplyStatus.SENT, "Outgoing_1")
    found = repos.history.confirmation(SENDER, PEOPLE[0], "Outgoing_1")
    assert found.event_key == stop.event_key and found.reply_message_id == "Outgoing_1"
    assert repos.history.confirmation(SENDER, PEOPLE[0], "Outgoing_3") is None
    assert repos.history.confirmation(parse_sender("+18005550199"), PEOPLE[0], "Outgoing_1") is None
    delivered = T0 + timedelta(seconds=9)
    repos.history.set_delivery(found, DeliveryStatus.DELIVERED, delivered, "No error.")
    row = repos.history.get_history(stop)
    assert (row.delivery_status, row.delivered_at, row.delivery_detail) == (
        DeliveryStatus.DELIVERED,
        delivered,
        "No error.",
    )
    assert row.reply_status == ReplyStatus.SENT  # the rest of the row unchanged
    repos.history.set_delivery(other, DeliveryStatus.FAILED, None, "4007: opted out")
    failed = repos.history.get_history(other)
    assert (failed.delivery_status, failed.delivered_at) == (DeliveryStatus.FAILED, None)


def test_imported_by_asks_the_same_of_a_carrier_reports_entries(repos: Repos) -> None:
    repos.feed.apply(
        SENDER, PEOPLE[:1], opt_out=True, at=T0, source=Source.CARRIER, message_id="Outgoing_9"
    )
    assert repos.bulk.imported_by(SENDER, PEOPLE, "Outgoing_9", Source.CARRIER) == {
        PEOPLE[0].e164: T0
    }
    assert repos.bulk.imported_by(SENDER, PEOPLE, "Outgoing_9") == {}  # not an import's
