"""Evidence through the real store on Azurite and the registered HTTP functions: the as-of
status around STOP/START events written by the inbound processor with known times, the report's
delays and flags, and paging a long window with one storage query per page."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from azure.data.tables import TableServiceClient

from devhost.inprocess import TEST_KEY, StorageRecorder, app_against, call
from devhost.testing import Azurite
from shared.domain.model import Action, HistoryRecord, Outcome, ReplyStatus, SenderProgram, Source
from shared.domain.sender import parse_sender
from shared.inbound.events import InboundSms
from shared.inbound.processor import InboundProcessor
from shared.platform.settings import Settings
from shared.tables import TableStore
from tests.fakes import FakeReplies
from tests.pages import walk

BUSINESS, PERSON = "+18005550100", "+14255550123"
T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)  # a Monday
SETTINGS = Settings(access_keys=(), reply_brand="Contoso")


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    store: TableStore
    clock: Clock
    app: StorageRecorder


@pytest.fixture
def world(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    suffix = uuid.uuid4().hex[:8]
    names = {
        "OPTOUT_TABLE_NAME": f"OptOuts{suffix}",
        "OPTOUT_HISTORY_TABLE_NAME": f"History{suffix}",
        "SENDER_PROGRAMS_TABLE_NAME": f"Programs{suffix}",
    }
    clock = Clock()
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    store = TableStore(service, *names.values(), clock=clock)
    env = {"AzureWebJobsStorage": azurite.connection_string, "OPTOUT_ACCESS_KEYS": TEST_KEY}
    with app_against({**env, **names}, monkeypatch) as recorder:
        yield World(store, clock, recorder)
        assert recorder.max_comparisons() <= 15


def keyword(world: World, text: str, minute: int, effect: float, reply: float | None) -> None:
    """`text` received at T0+minute, applied `effect` s later, replied `reply` s after receipt
    (None: the reply fails)."""
    received = T0 + timedelta(minutes=minute)
    replies = FakeReplies()

    def send_at() -> None:
        if reply is not None:
            world.clock.now = received + timedelta(seconds=reply)

    replies.during_send = send_at
    if reply is None:
        replies.fail = RuntimeError("ACS down")
    s = world.store
    proc = InboundProcessor(s.optouts, s.history, s.programs, replies, SETTINGS, world.clock)
    world.clock.now = received + timedelta(seconds=effect)
    sms = InboundSms(f"Incoming_{minute}", f"e{minute}", BUSINESS, PERSON, text, received)
    if reply is None:
        with pytest.raises(RuntimeError):
            proc.handle(sms)
    else:
        assert proc.handle(sms).outcome == Outcome.APPLIED


def as_of(at: datetime | None, basis: str = "effective") -> dict[str, Any]:
    query = f"basis={basis}" + (f"&at={quote(at.isoformat())}" if at else "")
    status, body = call("GET", f"sms/senders/{BUSINESS}/recipients/{PERSON}", query=query)
    assert status == 200, body
    return body


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


@pytest.fixture
def stop_start_stop(world: World) -> World:
    keyword(world, "STOP", 10, effect=2, reply=3)
    keyword(world, "START", 20, effect=2, reply=7 * 60)  # confirmed after 7 minutes
    keyword(world, "STOP", 30, effect=1, reply=None)  # applied; the confirmation failed
    world.clock.now = T0 + timedelta(days=1)
    return world


def test_as_of_around_stop_and_start(stop_start_stop: World) -> None:
    stop1 = T0 + timedelta(minutes=10)
    start = T0 + timedelta(minutes=20)
    first = as_of(T0)  # before anything
    assert first["isOptedOut"] is False and "decidingEvent" not in first
    assert first["nextChange"]["keyword"] == "STOP" and first["events"] == []
    # A keyword change's effect time is the SMS's own timestamp (its change event's `time`),
    # not when the service got to it (2 s later here): the instant it took effect counts.
    exact = as_of(stop1)
    assert exact["isOptedOut"] is True
    assert exact["decidingEvent"]["effectiveAt"] == stop1.isoformat()
    assert exact["decidingEvent"]["recordedAt"] == (stop1 + seconds(2)).isoformat()
    assert exact["nextChange"]["action"] == "optin"
    assert as_of(stop1 - timedelta(microseconds=1))["isOptedOut"] is False
    assert as_of(start)["isOptedOut"] is False  # START's instant
    between = as_of(start + timedelta(minutes=5))
    assert between["isOptedOut"] is False
    assert [e["action"] for e in between["events"]] == ["optout", "optin"]
    last = as_of(None)  # now: the second STOP was applied though its reply failed
    assert last["isOptedOut"] is True and last["decidingEvent"]["replyStatus"] == "pending"
    assert "nextChange" not in last
    stop_start_stop.app.clear()
    received = as_of(stop1, basis="received")  # by the SMS's own timestamp
    assert received["isOptedOut"] is True and received["basis"] == "received"
    # the pair's history; the program (its group?) is remembered from the calls above (30 s)
    assert stop_start_stop.app.count == 1


def test_report_delays_and_flags_from_known_times(stop_start_stop: World) -> None:
    query = f"from={quote(T0.isoformat())}&to={quote((T0 + timedelta(hours=1)).isoformat())}"
    status, body = call("GET", f"sms/senders/{BUSINESS}/report", query=query)
    assert status == 200, body
    rows = body["value"]
    assert [(r["action"], r["keyword"]) for r in rows] == [
        ("optout", "STOP"),
        ("optin", "START"),
        ("optout", "STOP"),
    ]
    assert [r["effectDelaySeconds"] for r in rows] == [2.0, 2.0, 1.0]
    assert [r["confirmationDelaySeconds"] for r in rows] == [3.0, 420.0, None]
    assert rows[0]["receivedAt"] == (T0 + timedelta(minutes=10)).isoformat()
    assert rows[0]["confirmationSentAt"] == (T0 + timedelta(minutes=10, seconds=3)).isoformat()
    assert rows[0]["optOutDeadline"] == "2026-11-16"
    assert [r["flags"] for r in rows] == [[], ["confirmation-late"], ["confirmation-late"]]
    assert body["totalsComplete"] is True and "nextLink" not in body
    assert body["totals"]["bySource"] == {"keyword": {"optin": 1, "optout": 2}}
    assert body["totals"]["byKeyword"] == {"START": 1, "STOP": 2}
    assert body["totals"]["flags"] == {"confirmation-late": 2}


def test_bad_parameters_get_400(world: World) -> None:
    route = f"sms/senders/{BUSINESS}"
    for path, query in [
        (f"{route}/recipients/{PERSON}", "at=yesterday"),
        (f"{route}/recipients/{PERSON}", "at=2026-11-02T12:00:00"),  # no offset
        (f"{route}/recipients/{PERSON}", "basis=sometimes"),
        (f"sms/senders/{BUSINESS}/recipients/+1", ""),
        (f"{route}/report", "from=2026-11-03T00:00:00Z&to=2026-11-02T00:00:00Z"),
        (f"{route}/report", "continuationToken=forged"),
        (f"{route}/report", "pageToken=forged"),
        (f"{route}/report", "maxpagesize=0"),
        (f"{route}/report", "pageSize=0"),
        (f"{route}/report", "maxpagesize=5&pageSize=6"),
    ]:
        status, body = call("GET", path, query=query)
        assert status == 400, (path, query, body)
        assert body["errors"]


def test_a_year_of_a_busy_sender_pages_with_one_query_per_page(world: World) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    inside = [history(i, start + timedelta(minutes=210 * i)) for i in range(2500)]  # a year
    outside = [history(i, start - timedelta(days=1 + i)) for i in range(300)]
    world.store.history.record_history(inside + outside)
    world.app.clear()
    window = f"from={quote(start.isoformat())}&to={quote('2027-01-01T00:00:00Z')}&maxpagesize=1000"
    pages = walk(f"sms/senders/{BUSINESS}/report", window)
    body = pages[-1]
    assert sum(len(page["value"]) for page in pages) == 2500 and len(pages) == 3
    totals = [(page["totals"]["rows"], page["totalsComplete"]) for page in pages]
    assert totals == [(1000, False), (2000, False), (2500, True)]
    assert world.app.count == len(pages)  # one storage query per page, no per-row reads
    assert body["totals"]["bySource"] == {"api": {"optin": 1250, "optout": 1250}}


def history(i: int, at: datetime) -> HistoryRecord:
    return HistoryRecord(
        sender=BUSINESS,
        recipient=f"+1425555{i % 97:04d}",
        action=Action.OPT_OUT if i % 2 else Action.OPT_IN,
        source=Source.API,
        event_id=f"api-{i}-{at.isoformat()}",
        event_at=at,
        outcome=Outcome.APPLIED,
        reply_status=ReplyStatus.NONE,
    )


def test_as_of_through_a_revoke_all_group(world: World) -> None:
    """A STOP to sender A of a group, then a START to sender B: B's as-of status follows the
    group's, though B itself was never told STOP; a sender outside the group is unaffected."""
    s, group = world.store, f"brand-{uuid.uuid4().hex[:6]}"
    a, b, outside = BUSINESS, "+18005550111", "+18005550122"
    for number in (a, b):
        s.programs.put_program(parse_sender(number), SenderProgram(group=group, revoke_all=True))
    proc = InboundProcessor(
        s.optouts, s.history, s.programs, FakeReplies(), SETTINGS, world.clock, groups=s.groups
    )
    for n, (to, text) in enumerate([(a, "STOP"), (b, "START")], start=1):
        received = T0 + timedelta(minutes=10 * n)
        world.clock.now = received + seconds(2)
        proc.handle(InboundSms(f"Incoming_g{n}", f"g{n}", to, PERSON, text, received))

    def status(sender: str, minute: int) -> dict[str, Any]:
        at = quote((T0 + timedelta(minutes=minute)).isoformat())
        code, body = call("GET", f"sms/senders/{sender}/recipients/{PERSON}", query=f"at={at}")
        assert code == 200, body
        return body

    between = status(b, 15)
    assert between["isOptedOut"] is True and between["events"] == []  # nothing sent to B yet
    assert between["group"]["name"] == group and between["group"]["senders"] == sorted([a, b])
    assert between["group"]["decidingEvent"]["keyword"] == "STOP"
    assert between["group"]["nextChange"]["keyword"] == "START"
    after = status(a, 25)  # B's START lifted the group-wide opt-out, and A's own entry stays
    assert after["group"]["isOptedOut"] is False and after["isOptedOut"] is True
    assert after["decidingEvent"]["keyword"] == "STOP"
    assert status(outside, 15)["isOptedOut"] is False and "group" not in status(outside, 15)
