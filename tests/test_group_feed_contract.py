"""The group store's outbox contract: the in-memory fake and the GroupOptOuts Table adapter on
Azurite owe, clear and sweep group-wide changes' events alike (as tests/test_contract.py does
for a sender's)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.domain.model import ChangeKind, ConcurrencyConflict, FeedScope
from shared.domain.phone import parse_e164
from shared.domain.sender import parse_sender
from tests.test_contract import Repos, repos  # noqa: F401 (the fake and Azurite)

A, B = parse_sender("+18005550111"), parse_sender("+18005550112")
PERSON = parse_e164("+14255550123")
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def groups(repos: Repos) -> Any:  # noqa: F811 (the imported fixture)
    return repos.groups


def apply(groups: Any, opt_out: bool, n: int, sender: Any = A, **extra: Any) -> Any:
    state = groups.group_state("contoso", PERSON)
    return groups.apply_group_keyword(
        "contoso",
        PERSON,
        state,
        opt_out=opt_out,
        sender=sender,
        event_at=T0 + timedelta(seconds=n),
        message_id=f"m{n}",
        keyword="STOP" if opt_out else "START",
        **extra,
    )


def test_a_group_wide_change_owes_its_event_in_the_same_write(groups: Any) -> None:
    assert groups.group_state("contoso", PERSON).feed.scope is FeedScope.GROUP
    row = apply(groups, True, 1, senders=(A.key, B.key))
    [owed] = row.owed
    assert (row.partition, row.recipient, row.scope, row.version) == (
        "contoso",
        PERSON.e164,
        FeedScope.GROUP,
        1,
    )
    assert (owed.kind, owed.group, owed.sender, owed.senders) == (
        ChangeKind.GROUP_ADDED,
        "contoso",
        A.key,
        (A.key, B.key),
    )
    assert (owed.keyword, owed.message_id, owed.country) == ("STOP", "m1", "US")
    assert row.etag is not None
    # Read back as written: the state carries the feed row, owing the same change.
    assert groups.group_state("contoso", PERSON).feed.owed == (owed,)


def test_no_op_owes_nothing_and_numbers_continue(groups: Any) -> None:
    apply(groups, True, 1)
    again = apply(groups, True, 2, sender=B)  # already opted out group-wide
    assert [c.version for c in again.owed] == [1] and again.version == 1
    lifted = apply(groups, False, 3, sender=B)
    assert [(c.version, c.kind) for c in lifted.owed] == [
        (1, ChangeKind.GROUP_ADDED),
        (2, ChangeKind.GROUP_REMOVED),
    ]
    assert lifted.owed[1].opted_out_at is None and lifted.opted_out is False


def test_a_stale_feed_row_fails_the_write(groups: Any) -> None:
    apply(groups, True, 1)
    state = groups.group_state("contoso", PERSON)
    groups.clear([state.feed])  # the row changes under the read (a concurrent clear)
    with pytest.raises(ConcurrencyConflict):
        groups.apply_group_keyword(
            "contoso", PERSON, state, opt_out=False, sender=A, event_at=T0, message_id="m9"
        )
    assert groups.group_opted_out("contoso", [PERSON]) == {PERSON.e164}


def test_clear_keeps_what_became_owed_since_and_the_sweep_finds_the_rest(groups: Any) -> None:
    first = apply(groups, True, 1)
    later = datetime.now(UTC) + timedelta(minutes=1)
    [owed] = [r for r in groups.owed_rows(later) if r.scope is FeedScope.GROUP]
    assert (owed.partition, [c.version for c in owed.owed]) == ("contoso", [1])
    second = apply(groups, False, 2)
    groups.clear([first])  # published the first only, from an older read
    [left] = [r for r in groups.owed_rows(later) if r.scope is FeedScope.GROUP]
    assert [c.version for c in left.owed] == [2]
    assert [r for r in groups.owed_rows(T0) if r.scope is FeedScope.GROUP] == []
    groups.clear([replace(second, owed=second.owed[1:])])
    assert [r for r in groups.owed_rows(later) if r.scope is FeedScope.GROUP] == []
    # Entries list only group-wide opt-outs, never the feed or state rows.
    apply(groups, True, 3)
    rows, _ = groups.group_entries("contoso")
    assert [r.recipient for r in rows] == [PERSON.e164]
