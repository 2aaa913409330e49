"""Languages and revoke-all against the real Table adapters on Azurite: the group store's
contract (shared with the fake), programs with languages and groups, the inbound path answering
in the keyword's language, and concurrent group STOPs and sender STARTs."""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.data.tables import TableServiceClient

from devhost.inprocess import StorageRecorder
from devhost.testing import Azurite
from shared.domain.model import (
    Action,
    ConcurrencyConflict,
    InvalidPageToken,
    Language,
    Outcome,
    ReplyTexts,
    SenderProgram,
)
from shared.domain.phone import parse_e164
from shared.domain.sender import parse_sender
from shared.inbound.events import InboundSms
from shared.inbound.processor import InboundProcessor, handle_queue_message
from shared.keywords.packs import PACKS
from shared.keywords.replies import render
from shared.optouts.membership import OptOutMembership
from shared.platform.settings import Settings
from shared.tables import TableStore
from tests.fakes import FakeReplies, FakeRepository

CANADA, A, B, OUTSIDER = "+14165550100", "+18005550111", "+18005550112", "+18005550199"
PERSON = parse_e164("+14255550123")
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SETTINGS = Settings(access_keys=(), reply_brand="Contoso", reply_help_contact="1-800-555-0100")
GROUPED = SenderProgram(group="contoso", revoke_all=True)


@pytest.fixture
def tables(azurite: Azurite) -> Iterator[tuple[TableStore, StorageRecorder]]:
    suffix = uuid.uuid4().hex[:8]
    recorder = StorageRecorder()
    service = TableServiceClient.from_connection_string(
        azurite.connection_string, raw_request_hook=recorder
    )
    names = (f"O{suffix}", f"H{suffix}", f"P{suffix}")
    store = TableStore(service, *names, groups_table=f"G{suffix}", clock=lambda: T0)
    store.ensure_tables()
    recorder.clear()
    yield store, recorder
    assert recorder.rowkey_or_filters() == []
    assert recorder.max_comparisons() <= 15


@pytest.fixture(params=["fake", "tables"])
def groups(request: pytest.FixtureRequest) -> Any:
    if request.param == "fake":
        return FakeRepository()
    return request.getfixturevalue("tables")[0].groups


# --- the group store's contract (fake and Table adapter alike) ------------------------------


def test_group_state_apply_and_conflicts(groups: Any) -> None:
    sender = parse_sender(A)
    empty = groups.group_state("contoso", PERSON)
    assert not empty.opted_out and empty.last_event_at is None
    groups.apply_group_keyword(
        "contoso", PERSON, empty, opt_out=True, sender=sender, event_at=T0, message_id="m1"
    )
    assert groups.group_opted_out("contoso", [PERSON]) == {PERSON.e164}
    assert groups.group_opted_out("other", [PERSON]) == set()
    state = groups.group_state("contoso", PERSON)
    assert state.opted_out and state.last_message_id == "m1" and state.opted_out_at == T0
    with pytest.raises(ConcurrencyConflict):  # written from a stale read
        groups.apply_group_keyword(
            "contoso", PERSON, empty, opt_out=False, sender=sender, event_at=T0, message_id="m2"
        )
    later = T0 + timedelta(seconds=1)
    groups.apply_group_keyword(
        "contoso", PERSON, state, opt_out=False, sender=sender, event_at=later, message_id="m3"
    )
    assert groups.group_opted_out("contoso", [PERSON]) == set()
    assert groups.group_state("contoso", PERSON).last_message_id == "m3"


def test_group_entries_page_by_recipient(groups: Any) -> None:
    people = [parse_e164(f"+1425555{i:04d}") for i in (3, 1, 2)]
    for n, person in enumerate(people):
        state = groups.group_state("contoso", person)
        groups.apply_group_keyword(
            "contoso", person, state, opt_out=True, sender=parse_sender(A), event_at=T0,
            message_id=f"m{n}",
        )  # fmt: skip
    seen, token, pages = [], None, 0
    while True:
        rows, token = groups.group_entries("contoso", page_size=2, token=token)
        seen += rows
        pages += 1
        if token is None:
            break
    assert [r.recipient for r in seen] == sorted(p.e164 for p in people)
    assert all(r.sender == A and r.group == "contoso" and r.opted_out_at == T0 for r in seen)
    assert groups.group_entries("nobody") == ([], None)
    with pytest.raises(InvalidPageToken):
        groups.group_entries("contoso", token="not-a-token!")


def test_programs_keep_languages_texts_and_group(tables: Any) -> None:
    store, _ = tables
    program = SenderProgram(
        brand="Fabrikam",
        help_text="{brand}: STOP to cancel",
        languages=(Language.FR, Language.EN),
        texts=(
            (Language.FR, ReplyTexts(optout_text="{brand} : désabonné.", help_text="ARRET")),
            (Language.DE, ReplyTexts(optin_text="{brand}: wieder angemeldet.")),
        ),
        group="contoso",
        revoke_all=True,
    )
    store.programs.put_program(parse_sender(CANADA), program)
    assert store.programs.get_program(parse_sender(CANADA)) == program
    store.programs.put_program(parse_sender(CANADA), SenderProgram(brand="x"))
    assert store.programs.get_program(parse_sender(CANADA)) == SenderProgram(brand="x")


# --- the inbound path on Azurite ---------------------------------------------------------------


def event(sender: str, text: str, n: int, person: str = PERSON.e164) -> str:
    message_id = f"Incoming_{uuid.uuid4().hex}"
    ts = (T0 + timedelta(seconds=n)).isoformat().replace("+00:00", "Z")
    return json.dumps(
        {
            "id": message_id,
            "eventType": "Microsoft.Communication.SMSReceived",
            "eventTime": ts,
            "data": {
                "MessageId": message_id,
                "From": person[1:],
                "To": sender[1:],
                "Message": text,
                "ReceivedTimestamp": ts,
            },
        }
    )


def processor(store: TableStore, replies: FakeReplies) -> InboundProcessor:
    return InboundProcessor(
        store.optouts, store.history, store.programs, replies, SETTINGS, groups=store.groups
    )


def test_arret_to_a_canadian_sender_is_confirmed_in_french(tables: Any) -> None:
    store, recorder = tables
    replies = FakeReplies()
    proc = processor(store, replies)
    assert handle_queue_message(event(CANADA, "ARRÊT", 1), proc).outcome is Outcome.APPLIED
    # program, the pair's feed and state rows and its entry (three point reads), the owed marker,
    # transaction, history row (its creation claims the reply), reply status (no feed publisher)
    assert recorder.count == 8
    assert handle_queue_message(event(CANADA, "START", 2), proc).action is Action.OPT_IN
    assert handle_queue_message(event(CANADA, "STOP", 3), proc).action is Action.OPT_OUT
    values = {"brand": "Contoso", "help_contact": "1-800-555-0100"}
    assert [t for _, _, t in replies.sent] == [
        render(PACKS[Language.FR].optout_text, values),
        render(PACKS[Language.EN].optin_text, values),
        render(PACKS[Language.EN].optout_text, values),
    ]
    rows, _ = store.history.history_page(parse_sender(CANADA), PERSON)
    assert [(r.keyword, r.language) for r in rows] == [
        ("ARRET", Language.FR),
        ("START", Language.EN),
        ("STOP", Language.EN),
    ]
    recorder.clear()
    assert handle_queue_message(event(CANADA, "bonjour", 4), proc).outcome is Outcome.NO_KEYWORD
    assert recorder.count == 0  # no keyword in any language: no storage request
    assert handle_queue_message(event(CANADA, "ALTO", 5), proc).outcome is Outcome.NO_KEYWORD
    assert recorder.count == 1  # a Spanish word: the program says the sender has no Spanish


def test_revoke_all_on_table_storage(tables: Any) -> None:
    store, recorder = tables
    for sender in (A, B):
        store.programs.put_program(parse_sender(sender), GROUPED)
    proc = processor(store, FakeReplies())
    membership = OptOutMembership(store.optouts, store.groups, store.programs)
    assert handle_queue_message(event(A, "STOP", 1), proc).outcome is Outcome.APPLIED

    def check(sender: str) -> bool:
        return PERSON.e164 in membership.opted_out(parse_sender(sender), [PERSON])

    assert check(A) and check(B) and not check(OUTSIDER)
    people = [parse_e164(f"+1425555{i:04d}") for i in range(10)]
    membership.opted_out(parse_sender(B), people)  # learns B's group
    recorder.clear()
    membership.opted_out(parse_sender(B), people)
    # one round trip: the program, B's 10 and the group's 10 point reads, all concurrent
    assert recorder.count == 1 + 10 + 10
    recorder.clear()
    membership.opted_out(parse_sender(OUTSIDER), people)
    assert recorder.count == 1 + 10

    handle_queue_message(event(B, "START", 2), proc)
    assert check(A) and not check(B)  # A keeps the entry its own STOP made
    assert store.groups.group_entries("contoso") == ([], None)


@pytest.mark.parametrize("seed", range(6))
def test_concurrent_group_stop_and_sender_start_end_in_the_newest_state(
    tables: Any, seed: int
) -> None:
    """A STOP to A and a START to B of the same group, run at the same time on two instances,
    for several people: the group-wide entry ends as the newer of the two says."""
    store, _ = tables
    for sender in (A, B):
        store.programs.put_program(parse_sender(sender), GROUPED)
    rng = random.Random(seed)
    people = [f"+1425555{seed}{i:03d}" for i in range(4)]
    stop_newer = {p: rng.random() < 0.5 for p in people}
    work = []
    for p in people:
        stop_n, start_n = (2, 1) if stop_newer[p] else (1, 2)
        work += [(A, "STOP", stop_n, p), (B, "START", start_n, p)]
    rng.shuffle(work)
    errors: list[BaseException] = []

    def run(item: tuple[str, str, int, str]) -> None:
        sender, text, n, person = item
        at = T0 + timedelta(seconds=n)
        sms = InboundSms(f"m-{sender}-{person}", "e", sender, person, text, at)
        try:
            processor(store, FakeReplies()).handle(sms)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(item,)) for item in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    group_out = store.groups.group_opted_out("contoso", [parse_e164(p) for p in people])
    assert group_out == {p for p in people if stop_newer[p]}
    # A's own entry stays whatever happened (only a START to A lifts it)
    assert store.optouts.opted_out(parse_sender(A), [parse_e164(p) for p in people]) == set(people)
