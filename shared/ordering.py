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

from shared.events import InboundSms
from shared.model import ConcurrencyConflict, KeywordState, Outcome, Source
from shared.phone import mask

log = logging.getLogger(__name__)

MAX_CONFLICT_RETRIES = 5


def apply_in_order(
    read: Callable[[], KeywordState],
    write: Callable[[KeywordState], None],
    sms: InboundSms,
    *,
    opt_out: bool,
) -> Outcome:
    """Apply the event with `write(state)` unless a newer event was applied; ConcurrencyConflict
    after MAX_CONFLICT_RETRIES lost races (the host retries the message)."""
    event_key = (sms.received_at, sms.message_id)
    for _ in range(MAX_CONFLICT_RETRIES):
        state = read()
        if state.last_message_id == sms.message_id:
            return Outcome.APPLIED  # applied by an earlier try whose history write failed
        last = state.last_event_at
        if last is not None and (last, state.last_message_id or "") > event_key:
            return Outcome.SUPERSEDED
        if (
            not opt_out
            and state.opted_out
            and state.opt_out_source == Source.API
            and state.opted_out_at is not None
            and state.opted_out_at > sms.received_at
        ):
            return Outcome.SUPERSEDED
        try:
            write(state)
            return Outcome.APPLIED
        except ConcurrencyConflict:
            log.info("Concurrent change for %s; reading again", mask(sms.recipient))
    raise ConcurrencyConflict("too many concurrent changes; the host will retry")
