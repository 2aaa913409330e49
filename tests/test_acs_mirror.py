"""The mirror's drainer and publisher against the real journal (Azurite's Table service): the
lease, back-off, poisoning after a bounded number of tries, a recipient ACS refuses for good,
and which changes get noted. ACS is a scripted stand-in here (what it answers is the point);
the real wire is in tests/test_acs_mirror_e2e.py."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableServiceClient

from devhost.testing import Azurite
from shared.domain.changes import OptOutChange
from shared.domain.mirror import MirrorItem
from shared.domain.model import ChangeKind, SenderProgram, StorageUnavailable
from shared.domain.sender import parse_sender
from shared.feed.mirror import (
    AcsItem,
    AcsOptOutsFailed,
    MirrorDrainer,
    MirroredSenders,
    MirrorPublisher,
    retry_delay,
)
from shared.feed.publishers import PublishFailed
from shared.tables.mirror import TableMirrorJournal
from shared.tables.programs import TablePrograms

S = "+18005550190"
A, B, C = "+14255550901", "+14255550902", "+14255550903"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class ScriptedAcs:
    """Answers each call with the next scripted outcome: None (every item 200), an exception,
    or a dict of per-recipient statuses. Records every call."""

    def __init__(self, *script: object) -> None:
        self.script = list(script)
        self.calls: list[tuple[str, str, list[str]]] = []

    def call(self, action: str, sender: str, recipients: Sequence[str]) -> list[AcsItem]:
        self.calls.append((action, sender, list(recipients)))
        outcome = self.script.pop(0) if self.script else None
        if isinstance(outcome, Exception):
            raise outcome
        statuses = outcome if isinstance(outcome, dict) else {}
        return [AcsItem(r, statuses.get(r, 200), error="bad number") for r in recipients]


@pytest.fixture
def journal(azurite: Azurite) -> TableMirrorJournal:
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    return TableMirrorJournal(service, f"Mirror{uuid.uuid4().hex[:10]}", ThreadPoolExecutor(4))


def note(journal: TableMirrorJournal, *people: str) -> None:
    journal.note(S, [MirrorItem(p, T0, i + 1) for i, p in enumerate(people)])


def test_pending_items_go_oldest_first_and_are_forgotten_once_acs_took_them(
    journal: TableMirrorJournal,
) -> None:
    note(journal, A, B)
    acs = ScriptedAcs()
    drainer = MirrorDrainer(journal, lambda s, rs: {A}, acs, clock=Clock())
    result = drainer.drain(S)
    assert (result.pushed, result.poisoned, result.retry_in) == (2, 0, None)
    assert sorted(acs.calls) == [("add", S, [A]), ("remove", S, [B])]
    assert journal.pending(S, 10) == []
    assert journal.state(S).lease_until is None and journal.state(S).last_mirrored_at == T0


def test_a_failed_call_backs_off_then_poisons_after_the_bounded_tries(
    journal: TableMirrorJournal,
) -> None:
    note(journal, A)
    clock = Clock()
    down = AcsOptOutsFailed("unreachable")
    acs = ScriptedAcs(down, down, down)
    drainer = MirrorDrainer(journal, lambda s, rs: {A}, acs, max_tries=3, clock=clock)
    first = drainer.drain(S)
    assert first.retry_in == retry_delay(1) and len(acs.calls) == 1
    # A nudge before the back-off ended: no call, nothing owed (the delayed nudge comes).
    assert drainer.drain(S).busy and len(acs.calls) == 1
    clock.now += timedelta(seconds=retry_delay(1) + 0.1)
    assert drainer.drain(S).retry_in == retry_delay(2)
    clock.now += timedelta(seconds=retry_delay(2) + 0.1)
    third = drainer.drain(S)
    assert third.poisoned == 1 and len(acs.calls) == 3
    assert journal.pending(S, 10) == []
    [poisoned] = journal.poisoned(S, 10)
    assert poisoned.recipient == A and "3 tries" in poisoned.reason
    assert journal.state(S).tries == 0  # the next batch gets its own tries
    assert journal.clear_poisoned(S, [A]) == 1 and journal.poisoned(S, 10) == []


class Watched(TableMirrorJournal):
    """The real journal, noting the stored state at the moment pending items go."""

    seen: list[tuple[int, datetime | None]]

    def done(self, sender: str, items: Sequence[MirrorItem]) -> None:
        state = self.state(sender)
        self.seen.append((state.tries, state.last_mirrored_at))
        super().done(sender, items)


def test_whoever_sees_the_items_gone_sees_the_tries_reset(azurite: Azurite) -> None:
    # The status reads pending, then the state: with the items deleted before the outcome was
    # stored, it could say "nothing pending, 2 failed tries" (a flaky e2e test saw it).
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    journal = Watched(service, f"Mirror{uuid.uuid4().hex[:10]}", ThreadPoolExecutor(4))
    journal.seen = []
    note(journal, A)
    clock = Clock()
    down = AcsOptOutsFailed("unreachable")
    drainer = MirrorDrainer(journal, lambda s, rs: {A}, ScriptedAcs(down, down), clock=clock)
    for tries in (1, 2):
        assert drainer.drain(S).retry_in == retry_delay(tries)
        clock.now += timedelta(seconds=retry_delay(tries) + 0.1)
    assert journal.state(S).tries == 2
    assert drainer.drain(S).pushed == 1
    assert journal.seen == [(0, clock.now)]
    assert journal.pending(S, 10) == [] and journal.state(S).tries == 0


def test_items_poisoned_after_the_bounded_tries_go_after_the_tries_reset(
    azurite: Azurite,
) -> None:
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    journal = Watched(service, f"Mirror{uuid.uuid4().hex[:10]}", ThreadPoolExecutor(4))
    journal.seen = []
    note(journal, A)
    clock = Clock()
    down = AcsOptOutsFailed("unreachable")
    drainer = MirrorDrainer(journal, lambda s, rs: {A}, ScriptedAcs(down, down), max_tries=2,
                            clock=clock)  # fmt: skip
    drainer.drain(S)
    clock.now += timedelta(seconds=retry_delay(1) + 0.1)
    assert drainer.drain(S).poisoned == 1
    assert journal.seen == [(0, None)]  # poison() deletes the pending rows through done()


def test_a_recipient_acs_refuses_is_poisoned_at_once_the_others_go(
    journal: TableMirrorJournal,
) -> None:
    note(journal, A, B)
    acs = ScriptedAcs({B: 400})
    result = MirrorDrainer(journal, lambda s, rs: {A, B}, acs, clock=Clock()).drain(S)
    assert (result.pushed, result.poisoned) == (1, 1)
    assert [i.recipient for i in journal.poisoned(S, 10)] == [B]
    assert journal.pending(S, 10) == []


def test_a_held_lease_keeps_a_second_drainer_out(journal: TableMirrorJournal) -> None:
    note(journal, A)
    clock = Clock()
    holder = MirrorDrainer(journal, lambda s, rs: set(), ScriptedAcs(), clock=clock)
    state = holder._claim(S, journal.state(S))
    assert state is not None
    acs = ScriptedAcs()
    assert MirrorDrainer(journal, lambda s, rs: set(), acs, clock=clock).drain(S).busy
    assert acs.calls == []
    clock.now += timedelta(minutes=2)  # the holder died: its lease runs out
    assert MirrorDrainer(journal, lambda s, rs: set(), acs, clock=clock).drain(S).pushed == 1


def test_the_state_pushed_is_the_current_one_not_the_changes(journal: TableMirrorJournal) -> None:
    # Two changes of A wait together (out, then in): one call, with A's state now.
    journal.note(S, [MirrorItem(A, T0, 1), MirrorItem(A, T0 + timedelta(seconds=1), 2)])
    acs = ScriptedAcs()
    MirrorDrainer(journal, lambda s, rs: set(), acs, clock=Clock()).drain(S)
    assert acs.calls == [("remove", S, [A])]


def change(sender: str, recipient: str, version: int, **more: object) -> OptOutChange:
    return OptOutChange(ChangeKind.ADDED, sender, recipient, version, T0, "api", **more)  # type: ignore[arg-type]


def test_the_publisher_notes_only_mirrored_senders_and_group_members(
    azurite: Azurite, journal: TableMirrorJournal
) -> None:
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    programs = TablePrograms(service, f"Prog{uuid.uuid4().hex[:10]}", ThreadPoolExecutor(2))
    other = "+18005550191"
    programs.put_program(parse_sender(S), SenderProgram(mirror_to_acs=True))
    programs.put_program(parse_sender(other), SenderProgram(mirror_to_acs=False))
    nudged: list[str] = []
    publisher = MirrorPublisher(MirroredSenders(programs), journal, lambda s, d: nudged.append(s))
    group = OptOutChange(
        ChangeKind.GROUP_ADDED, other, C, 1, T0, "keyword", group="brand", senders=(S, other)
    )
    publisher.publish([change(S, A, 1), change(other, B, 1), group])
    assert sorted(i.recipient for i in journal.pending(S, 10)) == [A, C]
    assert journal.pending(other, 10) == []
    assert nudged == [S]

    def down(sender: str, delay: float) -> None:
        raise StorageUnavailable("queue down")

    with pytest.raises(PublishFailed):  # the change stays owed: the sweep publishes it again
        MirrorPublisher(MirroredSenders(programs), journal, down).publish([change(S, B, 2)])
