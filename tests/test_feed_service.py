"""The change feed through the services, on the in-memory fakes (fast; the same behaviours run
against Azurite in tests/test_feed_azurite.py and tests/test_e2e_feed.py): every source of
change publishes exactly one event with its fields, a no-op none, and an outage loses nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.changes import MAX_OWED, FeedBacklogFull
from shared.domain.model import ChangeKind, Outcome, Source
from shared.domain.phone import parse_e164
from shared.domain.sender import parse_sender
from shared.feed.change_feed import ChangeFeed
from shared.inbound.processor import InboundProcessor
from shared.optouts.service import OptOutService
from tests.fakes import FakePublisher, FakeReplies, FakeRepository
from tests.test_inbound import SETTINGS, sms

SENDER = parse_sender("+18005550100")
PERSON = parse_e164("+14255550123")
OTHER = parse_e164("+14255550124")
T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def rig() -> tuple[FakeRepository, FakePublisher, ChangeFeed]:
    repo, publisher = FakeRepository(), FakePublisher()
    return repo, publisher, ChangeFeed(repo, publisher, sweep_grace=timedelta(0))


def test_api_add_remove_and_import_publish_one_event_per_change() -> None:
    repo, pub, feed = rig()
    service = OptOutService(repo, repo, feed, clock=lambda: T0)
    service.add(SENDER, [PERSON, PERSON, OTHER])
    service.add(SENDER, [PERSON])  # no-op
    service.remove(SENDER, [PERSON])
    service.remove(SENDER, [PERSON])  # no-op
    [imported] = service.import_optouts(
        SENDER, [PERSON, OTHER], times={PERSON.e164: T0 - timedelta(days=3)}, reference="imp-1"
    )
    seen = [(c.recipient, c.kind, c.source, c.version) for c in pub.published]
    assert seen == [
        (PERSON.e164, ChangeKind.ADDED, Source.API, 1),
        (OTHER.e164, ChangeKind.ADDED, Source.API, 1),
        (PERSON.e164, ChangeKind.REMOVED, Source.API, 2),
        (PERSON.e164, ChangeKind.ADDED, Source.IMPORT, 3),
    ]
    assert imported == pub.published[-1]
    # The file's time is 3 days before the pair's last change (the removal at T0, itself
    # raised past the add at T0): raised to just after it, so time never goes backwards.
    assert imported.message_id == "imp-1"
    assert imported.opted_out_at == imported.effective_at == T0 + timedelta(microseconds=2)
    assert [c.effective_at for c in pub.published if c.recipient == PERSON.e164] == [
        T0,
        T0 + timedelta(microseconds=1),
        T0 + timedelta(microseconds=2),
    ]
    assert list(repo.owed_rows(datetime.now(UTC) + timedelta(days=1))) == []  # all cleared


def test_keywords_publish_stop_and_start_once_and_nothing_else() -> None:
    repo, pub, feed = rig()
    proc = InboundProcessor(repo, repo, repo, FakeReplies(), SETTINGS, feed=feed)
    stop = sms("STOP", 1)
    assert proc.handle(stop).outcome is Outcome.APPLIED
    assert proc.handle(stop).outcome is Outcome.DUPLICATE  # redelivered: no second event
    proc.handle(sms("HELP", 2))
    proc.handle(sms("stop by the store later?", 3))
    proc.handle(sms("START", 5))
    assert proc.handle(sms("STOP", 4)).outcome is Outcome.SUPERSEDED  # older: no event
    [added, removed] = pub.published
    assert (added.kind, added.keyword, added.message_id, added.source) == (
        ChangeKind.ADDED,
        "STOP",
        stop.message_id,
        Source.KEYWORD,
    )
    assert added.effective_at == added.opted_out_at == stop.received_at
    assert (removed.kind, removed.keyword, removed.version) == (ChangeKind.REMOVED, "START", 2)


def test_a_stop_while_opted_out_through_the_api_publishes_nothing() -> None:
    repo, pub, feed = rig()
    OptOutService(repo, repo, feed, clock=lambda: T0).add(
        SENDER, [parse_e164(sms("x", 1).recipient)]
    )
    InboundProcessor(repo, repo, repo, FakeReplies(), SETTINGS, feed=feed).handle(sms("STOP", 2))
    assert [c.source for c in pub.published] == [Source.API]


def test_an_outage_keeps_events_owed_until_the_sweep_and_never_loses_one() -> None:
    repo, pub, feed = rig()
    service = OptOutService(repo, repo, feed, clock=lambda: T0)
    pub.down = True
    service.add(SENDER, [PERSON])
    service.remove(SENDER, [PERSON])
    assert pub.published == [] and feed.sweep() == 0
    pub.down = False
    assert feed.sweep() == 2
    assert [c.version for c in pub.published] == [1, 2]
    assert feed.sweep() == 0


def test_a_recipient_with_a_full_backlog_refuses_further_changes() -> None:
    repo, pub, feed = rig()
    service = OptOutService(repo, repo, feed, clock=lambda: T0)
    pub.down = True
    for i in range(MAX_OWED):
        (service.add if i % 2 == 0 else service.remove)(SENDER, [PERSON])
    with pytest.raises(FeedBacklogFull):
        service.add(SENDER, [PERSON])
    assert repo.opted_out(SENDER, [PERSON]) == set()  # the refused change was not made
    pub.down = False
    assert feed.sweep() == MAX_OWED
    service.add(SENDER, [PERSON])
    assert pub.published[-1].version == MAX_OWED + 1
