"""Keyword events apply in the order they were sent (ReceivedTimestamp), whatever order they
arrive or run in: the rule (`superseded`) for one partition, a sender's
(`shared/inbound/processor.py`,
which also publishes the change's event) or a revoke-all group's (`apply_to_group`, whose
group-wide change owes its own event, in the same transaction).

Each partition keeps the newest applied event (time, message id) in a state row; an event older
than it is `superseded`. The write is conditional on the state read (ETags), so of two
concurrent instances one wins and the other reads again and decides again. An opt-in never
undoes a newer opt-out made through the API (the conservative direction).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from shared.domain.changes import FeedRow
from shared.domain.keyword_writes import KeywordState
from shared.domain.model import ConcurrencyConflict, Outcome, Source
from shared.domain.phone import PhoneNumber, mask
from shared.domain.repositories import GroupOptOuts
from shared.inbound.events import InboundSms

log = logging.getLogger(__name__)

MAX_CONFLICT_RETRIES = 5
# A pair nothing is known of (a burst's first write assumes it: `shared/inbound/processor.py`).
NO_HISTORY = KeywordState(
    opted_out=False,
    opted_out_at=None,
    opt_out_source=None,
    last_event_at=None,
    last_message_id=None,
)


def superseded(state: KeywordState, sms: InboundSms, *, opt_out: bool) -> bool:
    """An older event than the newest applied keyword event, or a START older than an opt-out
    made through the API."""
    last = state.last_event_at
    if last is not None and (last, state.last_message_id or "") > (sms.received_at, sms.message_id):
        return True
    return (
        not opt_out
        and state.opted_out
        and state.opt_out_source == Source.API
        and state.opted_out_at is not None
        and state.opted_out_at > sms.received_at
    )


def apply_in_order(
    read: Callable[[], KeywordState],
    write: Callable[[KeywordState], object],
    sms: InboundSms,
    *,
    opt_out: bool,
) -> Outcome:
    """Apply the event with `write(state)` unless a newer event was applied (or this one was,
    by an earlier try whose history write failed). ConcurrencyConflict after
    MAX_CONFLICT_RETRIES lost races (the host retries the message)."""
    for _ in range(MAX_CONFLICT_RETRIES):
        state = read()
        if state.last_message_id == sms.message_id:
            return Outcome.APPLIED
        if superseded(state, sms, opt_out=opt_out):
            return Outcome.SUPERSEDED
        try:
            write(state)
        except ConcurrencyConflict:
            log.info("Concurrent change for %s; reading again", mask(sms.recipient))
            continue
        return Outcome.APPLIED
    raise ConcurrencyConflict("too many concurrent changes; the host will retry")


def apply_to_group(
    groups: GroupOptOuts,
    group: str,
    parties: tuple[PhoneNumber, PhoneNumber],
    sms: InboundSms,
    opt_out: bool,
    outcome: Outcome,
    *,
    keyword: str = "",
    members: Callable[[], Sequence[str]] = tuple,
) -> tuple[Outcome, FeedRow | None]:
    """A revoke-all sender's STOP/START, already applied to its own partition with `outcome`,
    applied to its group's partition too, in order (after its own: a retry after a failure in
    between finds its own change made). APPLIED if either was; and the group pair's feed row
    as last read or committed, whose owed events the caller publishes. `members()` (the
    group's revoke-all senders, for the event) is asked only when the entry changes."""
    sender, recipient = parties
    row: list[FeedRow | None] = [None]

    def read() -> KeywordState:
        state = groups.group_state(group, recipient)
        row[0] = state.feed
        return state

    def write(state: KeywordState) -> None:
        row[0] = groups.apply_group_keyword(
            group,
            recipient,
            state,
            opt_out=opt_out,
            sender=sender,
            event_at=sms.received_at,
            message_id=sms.message_id,
            keyword=keyword,
            senders=members() if state.opted_out != opt_out else (),
        )

    group_outcome = apply_in_order(read, write, sms, opt_out=opt_out)
    log.info("Group-wide change for %s: %s", mask(recipient), group_outcome)
    return (Outcome.APPLIED if Outcome.APPLIED in (outcome, group_outcome) else outcome), row[0]
