"""Keyword events apply in the order they were sent (ReceivedTimestamp), whatever order they
arrive or run in: the rule for one partition, a sender's or a group's.

Each partition keeps the newest applied event (time, message id) in a state row; an event older
than it is `superseded`. The write is conditional on the state read (ETags), so of two
concurrent instances one wins and the other reads again and decides again. An opt-in never
undoes a newer opt-out made through the API (the conservative direction).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from shared.events import InboundSms
from shared.model import ConcurrencyConflict, KeywordState, Outcome, Source
from shared.phone import mask

log = logging.getLogger(__name__)

MAX_CONFLICT_RETRIES = 5
R = TypeVar("R")


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


def _nothing(result: object, state: KeywordState) -> None:
    return None


def apply_in_order(
    read: Callable[[], KeywordState],
    write: Callable[[KeywordState], R],
    sms: InboundSms,
    *,
    opt_out: bool,
    done: Callable[[R | None, KeywordState], None] = _nothing,
) -> Outcome:
    """Apply the event with `write(state)` unless a newer event was applied. `done(result,
    state)` follows a successful write, or `done(None, state)` when an earlier try of this event
    had applied it already (its history write failed). ConcurrencyConflict after
    MAX_CONFLICT_RETRIES lost races (the host retries the message)."""
    for _ in range(MAX_CONFLICT_RETRIES):
        state = read()
        if state.last_message_id == sms.message_id:
            done(None, state)
            return Outcome.APPLIED
        if superseded(state, sms, opt_out=opt_out):
            return Outcome.SUPERSEDED
        try:
            result = write(state)
        except ConcurrencyConflict:
            log.info("Concurrent change for %s; reading again", mask(sms.recipient))
            continue
        done(result, state)
        return Outcome.APPLIED
    raise ConcurrencyConflict("too many concurrent changes; the host will retry")
