"""Brand-wide revoke-all on the fake store: a STOP to one sender of a group is seen by `check`
on every sender of the group (present and future); START lifts the group-wide entry and that
sender's own entry; senders outside the group are unaffected; order wins over arrival."""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.model import Outcome, SenderProgram
from shared.domain.phone import parse_e164
from shared.domain.sender import parse_sender
from shared.feed.change_feed import ChangeFeed
from shared.inbound.events import InboundSms
from shared.inbound.processor import InboundProcessor
from shared.optouts.membership import OptOutMembership
from shared.optouts.service import OptOutService
from shared.platform.settings import Settings
from tests.fakes import GROUP_PREFIX, FakePublisher, FakeReplies, FakeRepository

A, B, LATER, OUTSIDER, NO_REVOKE = (
    "+18005550111",
    "+18005550112",
    "+18005550113",
    "+18005550199",
    "+18005550120",
)
PERSON = "+14255550123"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SETTINGS = Settings(access_keys=(), reply_brand="Contoso")
GROUPED = SenderProgram(group="contoso", revoke_all=True)


def sms(sender: str, text: str, n: int, person: str = PERSON) -> InboundSms:
    return InboundSms(
        message_id=f"Incoming_{n}_{uuid.uuid4().hex[:6]}",
        event_id=f"evt-{n}",
        sender=sender,
        recipient=person,
        text=text,
        received_at=T0 + timedelta(seconds=n),
    )


def setup() -> tuple[FakeRepository, InboundProcessor, OptOutMembership]:
    repo = FakeRepository()
    repo.programs.update(
        {
            A: GROUPED,
            B: GROUPED,
            NO_REVOKE: SenderProgram(group="contoso", revoke_all=False),
            OUTSIDER: SenderProgram(group="fabrikam", revoke_all=True),
        }
    )
    proc = InboundProcessor(repo, repo, repo, FakeReplies(), SETTINGS, groups=repo)
    return repo, proc, OptOutMembership(repo, repo, repo)


def checked(membership: OptOutMembership, sender: str, person: str = PERSON) -> bool:
    return person in membership.opted_out(parse_sender(sender), [parse_e164(person)])


def test_stop_to_one_sender_opts_out_of_every_group_sender() -> None:
    repo, proc, membership = setup()
    assert proc.handle(sms(A, "STOP", 1)).outcome is Outcome.APPLIED
    assert checked(membership, A) and checked(membership, B)
    # one group-wide entry in the group's partition, not a copy per sender
    assert (GROUP_PREFIX + "contoso", PERSON) in repo.optouts
    assert (B, PERSON) not in repo.optouts
    # a sender that joins later sees it at once
    repo.programs[LATER] = GROUPED
    assert checked(membership, LATER)
    # outside the group, or in it without revokeAll: unaffected
    assert not checked(membership, OUTSIDER)
    assert not checked(membership, NO_REVOKE)
    assert not checked(membership, "+18005550150")  # no program at all
    assert not checked(membership, B, "+14255550999")  # another person


def test_any_opt_out_keyword_and_language_counts() -> None:
    _, proc, membership = setup()
    proc.handle(sms(A, "Arrêt", 1, person="+14255550001"))
    proc.handle(sms(A, "please stop texting me", 2, person="+14255550002"))
    assert checked(membership, B, "+14255550001") and checked(membership, B, "+14255550002")


def test_start_lifts_the_group_entry_and_that_senders_own_entry_only() -> None:
    repo, proc, membership = setup()
    proc.handle(sms(A, "STOP", 1))
    proc.handle(sms(B, "STOP", 2))  # B has its own entry too now
    assert proc.handle(sms(B, "START", 3)).outcome is Outcome.APPLIED
    assert not checked(membership, B)
    repo.programs[LATER] = GROUPED
    assert not checked(membership, LATER)
    # A was told STOP directly: only a START to A undoes that
    assert checked(membership, A)
    assert (GROUP_PREFIX + "contoso", PERSON) not in repo.optouts
    proc.handle(sms(A, "START", 4))
    assert not checked(membership, A)


def test_an_older_start_does_not_lift_a_newer_group_stop() -> None:
    _, proc, membership = setup()
    proc.handle(sms(A, "STOP", 5))
    # sent before the STOP, delivered after it: superseded at the group level
    # B's own partition: B was not opted out itself, so no change (confirmed all the same)
    assert proc.handle(sms(B, "START", 4)).outcome is Outcome.UNCHANGED
    assert checked(membership, B) and checked(membership, A)


def test_an_older_stop_does_not_undo_a_newer_start_at_the_group() -> None:
    _, proc, membership = setup()
    proc.handle(sms(B, "START", 6))
    proc.handle(sms(A, "STOP", 5))  # older: A's own partition applies, the group's does not
    assert checked(membership, A)
    assert not checked(membership, B)


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_arrival_order_never_matters(order: tuple[int, ...]) -> None:
    events = [sms(A, "STOP", 1), sms(B, "START", 2), sms(LATER, "STOP", 3)]
    repo, proc, membership = setup()
    repo.programs[LATER] = GROUPED
    for i in order:
        proc.handle(events[i])
    # newest group event is the STOP to LATER: everyone in the group is opted out
    assert all(checked(membership, s) for s in (A, B, LATER))
    assert not checked(membership, OUTSIDER)


@pytest.mark.parametrize(("stop_at", "start_at"), [(2, 3), (3, 2)])
def test_a_concurrent_start_between_read_and_write_is_decided_by_time(
    stop_at: int, start_at: int
) -> None:
    """A group STOP has read the group's state when a START to another sender of the group
    lands: the STOP's conditional write fails, it reads again and decides again, so the newer
    of the two wins at the group level whichever ran first."""
    repo, proc, membership = setup()
    repo.programs[LATER] = GROUPED
    other = InboundProcessor(repo, repo, repo, FakeReplies(), SETTINGS, groups=repo)
    proc.handle(sms(A, "STOP", 1))
    start = sms(B, "START", start_at)
    # The hook runs before the next conditional write: the STOP's own partition first; there it
    # arms itself again for the STOP's group write, and then runs the START.
    repo.before_apply = lambda: setattr(repo, "before_apply", lambda: other.handle(start))
    proc.handle(sms(LATER, "STOP", stop_at))
    group_out = stop_at > start_at
    assert checked(membership, B) is group_out
    assert bool(repo.group_opted_out("contoso", [parse_e164(PERSON)])) is group_out
    assert checked(membership, LATER)  # its own entry from its STOP
    assert checked(membership, A)  # its own entry from the first STOP


def test_check_through_the_service_reads_both_partitions() -> None:
    repo, proc, _ = setup()
    feed = ChangeFeed(repo, FakePublisher(), sweep_grace=timedelta(0))
    service = OptOutService(repo, repo, feed, membership=OptOutMembership(repo, repo, repo))
    proc.handle(sms(A, "STOP", 1))
    people = [parse_e164(PERSON), parse_e164("+14255550999")]
    assert service.check(parse_sender(B), people) == {PERSON}
    assert service.check(parse_sender(OUTSIDER), people) == set()
    assert OptOutService(repo, repo, feed).check(parse_sender(B), people) == set()  # no groups


def test_membership_follows_program_changes_at_once() -> None:
    """The group guessed from the last check is never trusted: a program change is seen by the
    very next check."""
    repo, proc, membership = setup()
    proc.handle(sms(A, "STOP", 1))
    assert checked(membership, B)
    repo.programs[B] = SenderProgram(group="fabrikam", revoke_all=True)
    assert not checked(membership, B)
    repo.programs[B] = SenderProgram(group="contoso", revoke_all=False)
    assert not checked(membership, B)
    repo.programs[B] = GROUPED
    assert checked(membership, B)
    del repo.programs[B]
    assert not checked(membership, B)


def test_group_entries_are_listed() -> None:
    repo, proc, _ = setup()
    proc.handle(sms(A, "STOP", 1, person="+14255550002"))
    proc.handle(sms(B, "STOP", 2, person="+14255550001"))
    rows, token = repo.group_entries("contoso", page_size=1)
    assert [(r.recipient, r.sender) for r in rows] == [("+14255550001", B)]
    rows, token = repo.group_entries("contoso", page_size=1, token=token)
    assert [(r.recipient, r.sender) for r in rows] == [("+14255550002", A)] and token is None


# --- property: any events, any arrival order -----------------------------------------------------

_EVENT = st.tuples(st.sampled_from([A, B, LATER]), st.sampled_from(["STOP", "START"]))


@given(st.lists(_EVENT, min_size=1, max_size=8), st.randoms(use_true_random=False))
@settings(max_examples=150, deadline=None)
def test_property_state_is_the_newest_events_whatever_the_arrival_order(
    events: list[tuple[str, str]], rng: random.Random
) -> None:
    """Event i is sent at second i; delivered shuffled, some twice. Then each sender's own entry
    is what its newest event says, the group-wide entry what the group's newest event says, and
    check on a sender is either."""
    repo, proc, membership = setup()
    repo.programs[LATER] = GROUPED
    deliveries = [sms(sender, text, n) for n, (sender, text) in enumerate(events)]
    deliveries += rng.sample(deliveries, k=len(deliveries) // 2)  # redeliveries
    rng.shuffle(deliveries)
    for delivery in deliveries:
        proc.handle(delivery)
    group_out = events[-1][1] == "STOP"
    for sender in (A, B, LATER):
        own = [text for s, text in events if s == sender]
        own_out = bool(own) and own[-1] == "STOP"
        assert ((sender, PERSON) in repo.optouts) is own_out
        assert checked(membership, sender) is (own_out or group_out)
    assert not checked(membership, OUTSIDER)
