"""The change feed's domain: one applied change of opt-out state, and the event it becomes.

Knows no Azure. An `OptOutChange` is what the store records (in the outbox) in the same
transaction as the change itself; everything an event carries is derived from it, so the event
published for a change is identical however often it is published (same `id`, same bytes).

Order per recipient: every change of one sender/recipient pair gets the next `version` (1, 2,
...), assigned under the same ETag condition that serialises the changes themselves. Events
carry it as the CloudEvents `sequence` extension (zero-padded, so it also sorts as text).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

# Fixed namespace for the events' name-based (v5) UUIDs: never change it, or ids change.
EVENT_ID_NAMESPACE = uuid.UUID("5b0f6c3e-4a51-4d0e-9a0c-6f1d2f0f7e11")
SEQUENCE_DIGITS = 20
DEFAULT_EVENT_SOURCE = "/sms-optout"


class ChangeKind(StrEnum):
    """The CloudEvents `type` of each kind of change."""

    ADDED = "Sms.OptOut.Added"
    REMOVED = "Sms.OptOut.Removed"


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
