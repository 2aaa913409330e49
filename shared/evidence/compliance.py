"""The compliance report: one row per opt-out / opt-in received in a window, with its delays and
flags, and running totals per source, keyword and flag. Pure: rows come from the history.

Times of a row (docs/evidence.md):
- received: the SMS's own timestamp (`event_at`; for an API call, the service's time of it);
- took effect: when the service applied it (`recorded_at`; none for a superseded event): the
  compliance deadlines are about the service's processing. (As-of places a change at its
  effect time instead, its event's `time`: `shared/evidence/asof.py`.) No-ops (`unchanged`)
  are not in the report (the history window leaves them out).
- confirmation sent: when the reply was accepted by ACS (`reply_sent_at`), keyword events only;
- confirmation delivered: what its delivery report said (`delivery_status`, `delivered_at`):
  `delivered` and when, `failed`, or none (no report yet, or none asked for).

Flags:
- `confirmation-late`: a keyword opt-out/opt-in that was applied (so a confirmation was due)
  whose confirmation went more than 5 minutes after receipt, or has not gone and 5 minutes have
  passed (exactly 5 minutes is in time).
- `confirmation-time-unknown`: the reply was sent but the row predates `ReplySentAt`.
- `optout-late`: an applied opt-out that took effect after the 10-business-day deadline
  (`shared/evidence/business_days.py`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from shared.domain.model import (
    Action,
    DeliveryStatus,
    HistoryRecord,
    Outcome,
    ReportFlag,
    Source,
)
from shared.evidence.business_days import applied_in_time, optout_deadline

CONFIRMATION_DEADLINE = timedelta(minutes=5)


@dataclass(frozen=True)
class ReportRow:
    record: HistoryRecord
    effective_at: datetime | None
    confirmation_sent_at: datetime | None
    effect_delay: timedelta | None
    confirmation_delay: timedelta | None
    optout_deadline: date | None
    flags: tuple[ReportFlag, ...]
    confirmation_delivery: DeliveryStatus = DeliveryStatus.NONE
    confirmation_delivered_at: datetime | None = None

    @property
    def received_at(self) -> datetime:
        return self.record.event_at


def confirmation_due(record: HistoryRecord) -> bool:
    return record.source == Source.KEYWORD and record.outcome == Outcome.APPLIED


def _confirmation_flags(record: HistoryRecord, now: datetime) -> list[ReportFlag]:
    if not confirmation_due(record):
        return []
    sent = record.reply_sent_at
    if sent is not None:
        late = sent - record.event_at > CONFIRMATION_DEADLINE
        return [ReportFlag.CONFIRMATION_LATE] if late else []
    if record.reply_status.done:
        return [ReportFlag.CONFIRMATION_TIME_UNKNOWN]
    late = now - record.event_at > CONFIRMATION_DEADLINE
    return [ReportFlag.CONFIRMATION_LATE] if late else []


def report_row(record: HistoryRecord, now: datetime) -> ReportRow:
    """The row for one opt-out / opt-in; `now` decides whether a missing confirmation is late."""
    applied = record.outcome == Outcome.APPLIED
    effective = (record.recorded_at or record.event_at) if applied else None
    due = confirmation_due(record)
    sent = record.reply_sent_at if due else None
    is_optout = record.action == Action.OPT_OUT
    flags = _confirmation_flags(record, now)
    if is_optout and effective is not None and not applied_in_time(record.event_at, effective):
        flags.append(ReportFlag.OPTOUT_LATE)
    return ReportRow(
        record=record,
        effective_at=effective,
        confirmation_sent_at=sent,
        effect_delay=effective - record.event_at if effective else None,
        confirmation_delay=sent - record.event_at if sent else None,
        optout_deadline=optout_deadline(record.event_at) if is_optout else None,
        flags=tuple(flags),
        confirmation_delivery=record.delivery_status if due else DeliveryStatus.NONE,
        confirmation_delivered_at=record.delivered_at if due else None,
    )


@dataclass
class ReportTotals:
    """Counts over every row reported so far; carried from page to page in the page token."""

    rows: int = 0
    by_source: Counter[str] = field(default_factory=Counter)  # "keyword/optout" -> n
    by_keyword: Counter[str] = field(default_factory=Counter)  # "STOP" -> n
    by_outcome: Counter[str] = field(default_factory=Counter)
    flags: Counter[str] = field(default_factory=Counter)
    # Keyword confirmations: due, sent (ACS accepted), delivered / failed (their reports).
    confirmations: Counter[str] = field(default_factory=Counter)

    def add(self, row: ReportRow) -> None:
        record = row.record
        self.rows += 1
        if confirmation_due(record):
            self.confirmations["due"] += 1
            if row.confirmation_sent_at is not None or record.reply_status.done:
                self.confirmations["sent"] += 1
            if row.confirmation_delivery:
                self.confirmations[str(row.confirmation_delivery)] += 1
        self.by_source[f"{record.source}/{record.action}"] += 1
        if record.keyword:
            self.by_keyword[record.keyword] += 1
        self.by_outcome[str(record.outcome)] += 1
        self.flags.update(str(f) for f in row.flags)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "bySource": _nested(self.by_source),
            "byKeyword": dict(sorted(self.by_keyword.items())),
            "byOutcome": dict(sorted(self.by_outcome.items())),
            "flags": dict(sorted(self.flags.items())),
            "confirmations": {
                k: self.confirmations[k] for k in ("due", "sent", "delivered", "failed")
            },
        }

    @classmethod
    def from_dict(cls, data: Any) -> ReportTotals:
        """The inverse of to_dict; ValueError for anything else (a page token is user input)."""
        try:
            by_source = data["bySource"].items()
            source = {f"{s}/{a}": n for s, acts in by_source for a, n in acts.items()}
            # `confirmations`: absent in tokens issued before it was counted.
            parts = (
                source,
                data["byKeyword"],
                data["byOutcome"],
                data["flags"],
                data.get("confirmations", {}),
            )
            counters = [Counter({str(k): _count(v) for k, v in p.items()}) for p in parts]
            return cls(_count(data["rows"]), *counters)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError("not report totals") from exc


def _count(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise ValueError("not a count")
    return value


def _nested(flat: Counter[str]) -> dict[str, dict[str, int]]:
    nested: dict[str, dict[str, int]] = {}
    for key, n in sorted(flat.items()):
        source, action = key.split("/", 1)
        nested.setdefault(source, {})[action] = n
    return nested
