"""The change feed's domain: one applied change of opt-out state (`OptOutChange`), the event it
becomes, and what a sender/recipient pair owes (`FeedRow`).

Knows no Azure. An `OptOutChange` is what the store records (in the outbox) in the same
transaction as the change itself; everything an event carries is derived from it, so the event
published for a change is identical however often it is published (same `id`, same bytes).

Order per recipient: every change of one sender/recipient pair gets the next `version` (1, 2,
...), assigned under the same ETag condition that serialises the changes themselves. Events
carry it as the CloudEvents `sequence` extension (zero-padded, so it also sorts as text).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from shared.model import ChangeKind, ConcurrencyConflict, StorageUnavailable

# Fixed namespace for the events' name-based (v5) UUIDs: never change it, or ids change.
EVENT_ID_NAMESPACE = uuid.UUID("5b0f6c3e-4a51-4d0e-9a0c-6f1d2f0f7e11")
SEQUENCE_DIGITS = 20
DEFAULT_EVENT_SOURCE = "/sms-optout"
# Owed events of one pair are kept in one Table string property (at most 32K characters); a
# change record is under 400.
MAX_OWED = 64


class EventField(StrEnum):
    """The keys of an event's `data`."""

    SENDER = "sender"
    RECIPIENT = "recipient"
    COUNTRY = "country"
    SOURCE = "source"
    KEYWORD = "keyword"
    MESSAGE_ID = "messageId"
    OPTED_OUT_AT = "optedOutAt"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class OptOutChange:
    """One applied change of one sender/recipient pair (E.164 numbers).

    `effective_at` is when the change took effect (the event's `time`); `opted_out_at` is the
    opt-out's own time (for a keyword STOP, when the person sent it), None for a removal.
    `source` is what made the change (`api`, `keyword`, `import`, ...).
    """

    kind: ChangeKind
    sender: str
    recipient: str
    version: int
    effective_at: datetime
    source: str
    country: str = ""
    keyword: str = ""
    message_id: str = ""
    opted_out_at: datetime | None = None

    @property
    def event_id(self) -> str:
        """Stable: derived only from the change record."""
        name = f"{self.sender}|{self.recipient}|{self.version}|{_iso(self.effective_at)}"
        return str(uuid.uuid5(EVENT_ID_NAMESPACE, name))

    @property
    def sequence(self) -> str:
        return str(self.version).zfill(SEQUENCE_DIGITS)

    def event_source(self, service: str = DEFAULT_EVENT_SOURCE) -> str:
        return f"{service.rstrip('/')}/senders/{self.sender}"

    def data(self) -> dict[str, Any]:
        return {
            EventField.SENDER: self.sender,
            EventField.RECIPIENT: self.recipient,
            EventField.COUNTRY: self.country or None,
            EventField.SOURCE: self.source,
            EventField.KEYWORD: self.keyword or None,
            EventField.MESSAGE_ID: self.message_id or None,
            EventField.OPTED_OUT_AT: _iso(self.opted_out_at) if self.opted_out_at else None,
        }

    # -- the outbox record (a plain dict, so any store can keep it as JSON) ------------------

    def to_record(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "sender": self.sender,
            "recipient": self.recipient,
            "version": self.version,
            "effectiveAt": _iso(self.effective_at),
            "source": self.source,
            "country": self.country,
            "keyword": self.keyword,
            "messageId": self.message_id,
            "optedOutAt": _iso(self.opted_out_at) if self.opted_out_at else None,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> OptOutChange:
        opted = record.get("optedOutAt")
        return cls(
            kind=ChangeKind(record["kind"]),
            sender=record["sender"],
            recipient=record["recipient"],
            version=int(record["version"]),
            effective_at=datetime.fromisoformat(record["effectiveAt"]),
            source=record["source"],
            country=record.get("country") or "",
            keyword=record.get("keyword") or "",
            message_id=record.get("messageId") or "",
            opted_out_at=datetime.fromisoformat(opted) if opted else None,
        )


class FeedBacklogFull(StorageUnavailable):
    """A pair has MAX_OWED unpublished changes (the destinations have been down for long):
    further changes of it are refused (like a storage outage: 503, or the message is retried)
    rather than made without their event."""


@dataclass(frozen=True)
class FeedRow:
    """A pair's change count and the changes whose events are owed (oldest first), as read or
    committed; `etag` is the store's version token for the conditional write that follows."""

    sender: str
    recipient: str
    version: int = 0
    owed: tuple[OptOutChange, ...] = ()
    owed_since: datetime | None = None
    # The pair's state after its last change (None: no row, or written before it was kept).
    opted_out: bool | None = None
    etag: str | None = field(default=None, compare=False)

    def appended(self, change: OptOutChange, owed_at: datetime) -> FeedRow:
        """With `change` owed too (since `owed_at`, when it is committed, if nothing was)."""
        if len(self.owed) >= MAX_OWED:
            raise FeedBacklogFull(f"{MAX_OWED} events of one recipient are still unpublished")
        return FeedRow(
            self.sender,
            self.recipient,
            change.version,
            (*self.owed, change),
            self.owed_since or owed_at,
            change.kind is ChangeKind.ADDED,
            self.etag,
        )

    def without(self, published: tuple[OptOutChange, ...]) -> FeedRow:
        done = {c.version for c in published}
        owed = tuple(c for c in self.owed if c.version not in done)
        return replace(self, owed=owed, owed_since=self.owed_since if owed else None)

    def next_change(
        self,
        kind: ChangeKind,
        effective_at: datetime,
        source: str,
        *,
        country: str = "",
        keyword: str = "",
        message_id: str = "",
    ) -> OptOutChange:
        """The pair's next change (version + 1); an opt-out's time is `effective_at`."""
        return OptOutChange(
            kind=kind,
            sender=self.sender,
            recipient=self.recipient,
            version=self.version + 1,
            effective_at=effective_at,
            source=source,
            country=country,
            keyword=keyword,
            message_id=message_id,
            opted_out_at=effective_at if kind is ChangeKind.ADDED else None,
        )


class ChangesPartlyApplied(ConcurrencyConflict):
    """A request's changes gave up on conflicts after some of them were committed: those are in
    `applied` (each with its event owed), so the caller can still publish their events and
    record their history before it answers "try again"."""

    def __init__(self, message: str, applied: list[Applied]) -> None:
        super().__init__(message)
        self.applied = applied


@dataclass(frozen=True)
class Applied:
    """A committed change and its pair's feed row as committed (owing this change's event and
    possibly older ones of the same pair), with the row's new ETag."""

    change: OptOutChange
    row: FeedRow
