"""As-of status: was a recipient opted out from a sender at a given moment, and which history
events decide it. Pure: it reads HistoryRecords, whoever fetched them.

The timeline (docs/evidence.md):
- Only opt-outs and opt-ins count (HELP changes nothing), from every source (keywords, API).
- `TimeBasis.EFFECTIVE` (the default): the state the service had, i.e. what `check` answers.
  Each change that was applied sits at its effect time (`effective_at`: its change event's
  `time`), which per pair never goes backwards: it is the change's own time (the SMS's
  timestamp, the import file's time, the service clock for an API call) raised past the
  pair's previous change, decided in the transaction that decides its `sequence`. So the
  timeline's order is the changes' order, and as-of at now is `check`. Rows written before
  the effect time was kept fall back to `recorded_at` (when the row was written). Superseded
  events and no-ops (`unchanged`: a STOP of someone opted out) are not on this timeline.
- `TimeBasis.RECEIVED`: what the person (or the business, through the API) had asked for. Each
  opt-out / opt-in sits at the SMS's own timestamp (`event_at`; an API call's is the service's
  time of the call), including superseded ones: an older STOP that arrived after a newer START
  still counts from its own timestamp until that START. Ties are broken by message id, as the
  ordering rule of inbound events does.
- The instant: an event exactly at `at` counts (it is effective at its own instant), so the
  status at an event's time is the state that event made.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from shared.domain.model import Action, HistoryRecord, Outcome, Source, TimeBasis

CHANGES = (Action.OPT_OUT, Action.OPT_IN)


@dataclass(frozen=True)
class AsOfAnswer:
    at: datetime
    basis: TimeBasis
    opted_out: bool
    deciding: HistoryRecord | None  # the last change at or before `at` (None: never opted out)
    events: tuple[HistoryRecord, ...]  # every change at or before `at`, in timeline order
    next_change: HistoryRecord | None  # the first change after `at`, if any


def effective_at(record: HistoryRecord) -> datetime | None:
    """When an applied change took effect in the service; None if it never did."""
    if record.outcome != Outcome.APPLIED or record.action not in CHANGES:
        return None
    return record.effective_at or record.recorded_at or record.event_at


def timeline_time(record: HistoryRecord, basis: TimeBasis) -> datetime | None:
    """Where the record sits on the `basis` timeline; None when it is not on it."""
    if record.action not in CHANGES:
        return None
    if basis == TimeBasis.EFFECTIVE:
        return effective_at(record)
    if record.outcome in (Outcome.APPLIED, Outcome.SUPERSEDED):
        return record.event_at
    return None


def timeline(
    records: Iterable[HistoryRecord], basis: TimeBasis
) -> list[tuple[datetime, HistoryRecord]]:
    placed = [(t, r) for r in records if (t := timeline_time(r, basis)) is not None]
    placed.sort(key=lambda p: (p[0], p[1].event_at, p[1].message_id or p[1].event_id))
    return placed


def status_at(
    records: Iterable[HistoryRecord], at: datetime, basis: TimeBasis = TimeBasis.EFFECTIVE
) -> AsOfAnswer:
    """The recipient's status at `at` from its history with one sender (any order)."""
    placed = timeline(records, basis)
    before = [r for t, r in placed if t <= at]
    after = [r for t, r in placed if t > at]
    deciding = before[-1] if before else None
    return AsOfAnswer(
        at=at,
        basis=basis,
        opted_out=deciding is not None and deciding.action == Action.OPT_OUT,
        deciding=deciding,
        events=tuple(before),
        next_change=after[0] if after else None,
    )


def _newest_key(record: HistoryRecord) -> tuple[datetime, str]:
    """The ordering rule of keyword events (`shared/inbound/processor.py`): SMS timestamp, then
    id."""
    return (record.event_at, record.message_id or record.event_id)


def group_status_at(
    records: Iterable[HistoryRecord], at: datetime, basis: TimeBasis = TimeBasis.EFFECTIVE
) -> AsOfAnswer:
    """The group-wide (revoke-all) status at `at`, from the keyword events sent to the group's
    senders (any order, any sender). A group keeps the newest keyword event it has seen, so its
    state once some events have taken effect is the newest of them (by SMS timestamp): on the
    effective timeline, the newest of those recorded by `at`; on the received one, the newest
    sent by `at`. API changes never reach a group."""
    keyword = [
        r
        for r in records
        if r.source == Source.KEYWORD
        and r.action in CHANGES
        and r.outcome in (Outcome.APPLIED, Outcome.SUPERSEDED, Outcome.UNCHANGED)
    ]

    def placed(r: HistoryRecord) -> datetime:
        return (r.recorded_at or r.event_at) if basis == TimeBasis.EFFECTIVE else r.event_at

    before = sorted((r for r in keyword if placed(r) <= at), key=lambda r: (placed(r), r.event_at))
    deciding = max(before, key=_newest_key, default=None)
    newer = [
        r
        for r in keyword
        if placed(r) > at and (deciding is None or _newest_key(r) > _newest_key(deciding))
    ]
    return AsOfAnswer(
        at=at,
        basis=basis,
        opted_out=deciding is not None and deciding.action == Action.OPT_OUT,
        deciding=deciding,
        events=tuple(before),
        next_change=min(newer, key=placed, default=None),
    )
