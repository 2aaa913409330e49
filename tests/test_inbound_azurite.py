"""Inbound keyword handling and sender programs against the real store on Azurite."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.data.tables import TableServiceClient

from devhost.inprocess import TEST_KEY, StorageRecorder, app_against, call
from devhost.testing import Azurite
from shared.domain.phone import parse_e164
from shared.domain.sender import parse_sender
from shared.inbound.bursts import Bursts
from shared.inbound.events import InboundSms
from shared.inbound.processor import InboundProcessor
from shared.inbound.program_cache import CachedPrograms
from shared.platform.settings import Settings
from shared.tables import TableStore
from shared.tables.optouts import STATE_PREFIX
from tests.fakes import FakeReplies
from tests.pages import walk

BUSINESS, PERSON = "+18005550100", "+14255550123"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SETTINGS = Settings(access_keys=(), reply_brand="Contoso")


def sms(text: str, n: int, person: str = PERSON) -> InboundSms:
    return InboundSms(
        message_id=f"Incoming_{uuid.uuid4().hex}_{n}",
        event_id=f"evt/{n}#?",  # characters Table keys forbid: must not reach a key
        sender=BUSINESS,
        recipient=person,
        text=text,
        received_at=T0 + timedelta(seconds=n),
    )


@pytest.fixture
def store(azurite: Azurite) -> Iterator[tuple[TableStore, StorageRecorder, str]]:
    suffix = uuid.uuid4().hex[:8]
    recorder = StorageRecorder()
    service = TableServiceClient.from_connection_string(
        azurite.connection_string, raw_request_hook=recorder
    )
    names = (f"OptOuts{suffix}", f"History{suffix}", f"Programs{suffix}")
    s = TableStore(service, *names)
    s.ensure_tables()
    recorder.clear()
    yield s, recorder, suffix
    assert recorder.max_comparisons() <= 15
    assert recorder.rowkey_or_filters() == []


def is_opted_out(s: TableStore, person: str = PERSON) -> bool:
    return person in s.optouts.opted_out(parse_sender(BUSINESS), [parse_e164(person)])


def test_keywords_against_table_storage(store: Any) -> None:
    s, recorder, _ = store
    replies = FakeReplies()
    ticks = itertools.count(step=60)  # a minute between events: no burst
    proc = InboundProcessor(
        s.optouts,
        s.history,
        CachedPrograms(s.programs),
        replies,
        SETTINGS,
        bursts=Bursts(clock=lambda: next(ticks)),
    )
    stop = sms("STOP", 1)
    assert proc.handle(stop).outcome == "applied"
    # program read (then remembered), state (three point reads: feed and state rows, entry),
    # the owed marker, transaction, history row (its creation claims the reply), reply status
    assert recorder.count == 8
    assert is_opted_out(s)
    recorder.clear()
    assert proc.handle(sms("STOP", 5, person="+14255550124")).outcome == "applied"
    assert recorder.count == 7  # the program is remembered
    assert proc.handle(stop).outcome == "duplicate"
    assert proc.handle(sms("START", 3)).outcome == "applied"
    assert not is_opted_out(s)
    assert proc.handle(sms("STOP", 2)).outcome == "superseded"  # older, arrived late
    assert not is_opted_out(s)
    assert proc.handle(sms("HELP", 4)).outcome == "help"
    assert len(replies.sent) == 4  # three for PERSON, one for the second person

    rows, token = s.history.history_page(parse_sender(BUSINESS), parse_e164(PERSON))
    assert token is None
    assert [(r.action, r.outcome) for r in rows] == [
        ("optout", "applied"),
        ("optout", "superseded"),
        ("optin", "applied"),
        ("help", "help"),
    ]
    assert all(r.source == "keyword" and r.actor == "keyword" for r in rows)
    assert [r.reply_status for r in rows] == ["sent", "none", "sent", "sent"]


def test_in_a_burst_a_stop_from_someone_new_is_written_without_a_read(store: Any) -> None:
    s, recorder, _ = store
    replies = FakeReplies()
    proc = InboundProcessor(s.optouts, s.history, CachedPrograms(s.programs), replies, SETTINGS)
    assert proc.handle(sms("STOP", 1, person="+14255550401")).outcome == "applied"
    recorder.clear()
    # The next STOP for the same sender within a second: a burst. Someone new: the owed marker,
    # the transaction (state row, entry and feed row created), the claim, the reply status.
    assert proc.handle(sms("STOP", 2, person="+14255550402")).outcome == "applied"
    assert recorder.count == 4
    assert is_opted_out(s, "+14255550402")
    # Someone with history (a START before): the bet fails (the rows exist), then the pair is
    # read and decided as usual.
    assert proc.handle(sms("START", 3, person="+14255550401")).outcome == "applied"
    assert proc.handle(sms("STOP", 2, person="+14255550401")).outcome == "superseded"  # older
    assert not is_opted_out(s, "+14255550401")
    assert proc.handle(sms("STOP", 4, person="+14255550401")).outcome == "applied"
    assert is_opted_out(s, "+14255550401")
    assert len(replies.sent) == 4


def test_state_rows_do_not_count_as_opt_outs(store: Any) -> None:
    s, _, _ = store
    proc = InboundProcessor(s.optouts, s.history, s.programs, FakeReplies(), SETTINGS)
    proc.handle(sms("STOP", 1))
    proc.handle(sms("START", 2))
    marker = STATE_PREFIX + PERSON
    assert not is_opted_out(s)
    assert marker not in s.optouts.opted_out(parse_sender(BUSINESS), [parse_e164(PERSON)])


def test_concurrent_instances_end_in_the_newest_state(store: Any) -> None:
    s, _, _ = store
    people = [f"+1425555{i:04d}" for i in range(6)]
    events = []
    for person in people:
        for n in range(6):
            events.append(sms("STOP" if n % 2 == 0 else "START", n, person))
    # Deliver every event twice, newest first, from four concurrent "instances".
    deliveries = list(reversed(events)) * 2
    errors: list[BaseException] = []

    def worker(chunk: list[InboundSms]) -> None:
        proc = InboundProcessor(s.optouts, s.history, s.programs, FakeReplies(), SETTINGS)
        for event in chunk:
            try:
                proc.handle(event)
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(deliveries[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # Conflicts beyond the retry budget may raise (the host would retry); retry them here.
    proc = InboundProcessor(s.optouts, s.history, s.programs, FakeReplies(), SETTINGS)
    for event in deliveries:
        proc.handle(event)
    assert all(type(e).__name__ == "ConcurrencyConflict" for e in errors)
    for person in people:
        assert not is_opted_out(s, person)  # the newest event of each (n=5) is START


def test_program_endpoint(azurite: Azurite, monkeypatch: pytest.MonkeyPatch, store: Any) -> None:
    _, _, suffix = store
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "OPTOUT_ACCESS_KEYS": TEST_KEY,
        "SENDER_PROGRAMS_TABLE_NAME": f"Programs{suffix}",
    }
    route = f"sms/senders/{BUSINESS}/program"
    program = {
        "brand": "Fabrikam",
        "helpContact": "555-0100",
        "helpText": "{brand}: call {help_contact}. Reply STOP to cancel.",
        "plainLanguageOptOut": False,
    }
    with app_against(env, monkeypatch):
        assert call("GET", route, query="")[0] == 404
        status, res = call("PUT", route, program, query="")
        assert status == 200 and res["brand"] == "Fabrikam"
        status, res = call("GET", route, query="")
        assert res == {"sender": BUSINESS, **program}
        status, res = call("PUT", route, {"helpText": "no opt-out words"}, query="")
        assert status == 400 and "helpText" in res["errors"]
        status, res = call("PUT", route, {"optOutText": "{name} bye"}, query="")
        assert status == 400 and "optOutText" in res["errors"]
        assert call("PUT", route, program, query="", key=None)[0] == 401
        assert call("PUT", "sms/senders/+123/program", program, query="")[0] == 400
        assert call("DELETE", route, query="")[0] == 204
        assert call("GET", route, query="")[0] == 404


def test_history_endpoint_pages_through_a_senders_trail(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch, store: Any
) -> None:
    s, _, suffix = store
    proc = InboundProcessor(s.optouts, s.history, s.programs, FakeReplies(), SETTINGS)
    for n in range(5):
        proc.handle(sms("STOP" if n % 2 == 0 else "START", n))
    proc.handle(sms("STOP", 9, person="+14255550999"))
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "OPTOUT_ACCESS_KEYS": TEST_KEY,
        "OPTOUT_HISTORY_TABLE_NAME": f"History{suffix}",
    }
    route = f"sms/senders/{BUSINESS}/history"
    with app_against(env, monkeypatch):
        api_rows = call("GET", route, query="")[1]["value"]
        assert len(api_rows) == 6
        pages = walk(route, f"recipient=%2B{PERSON[1:]}&maxpagesize=2")
        assert all(len(page["value"]) <= 2 for page in pages)
        seen = [record for page in pages for record in page["value"]]
        assert [r["action"] for r in seen] == ["optout", "optin", "optout", "optin", "optout"]
        assert {r["recipient"] for r in seen} == {PERSON}
        assert all(r["source"] == "keyword" and r["outcome"] == "applied" for r in seen)
        assert all(r["actor"] == "keyword" for r in seen)  # who: the person, by keyword
        assert call("GET", route, query="maxpagesize=0")[0] == 400
        assert call("GET", route, query="pageSize=0")[0] == 400
        assert call("GET", route, query="continuationToken=garbage!")[0] == 400
        assert call("GET", route, query="", key=None)[0] == 401
