"""The change feed's domain: one applied change of opt-out state (`OptOutChange`), the event it
becomes, and what a sender/recipient pair, or a revoke-all group/recipient pair, owes (`FeedRow`).

Knows no Azure. An `OptOutChange` is what the store records (in the outbox) in the same
transaction as the change itself; everything an event carries is derived from it, so the event
published for a change is identical however often it is published (same `id`, same bytes).

Order per recipient: every change of one sender/recipient pair gets the next `version` (1, 2,
...), assigned under the same ETag condition that serialises the changes themselves. Events
carry it as the CloudEvents `sequence` extension (zero-padded, so it also sorts as text).

Two scopes (`FeedScope`), one code path: a sender's own entries (partition: the sender) and a
revoke-all group's group-wide entries (partition: the group; kinds `Sms.OptOut.Group*`). A
group pair counts its own versions, and its events name the group as `source` and `subject`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.domain.model import (
    ChangeKind,
    ConcurrencyConflict,
    FeedScope,
    Source,
    StorageUnavailable,
)

# Fixed namespace for the events' name-based (v5) UUIDs: never change it, or ids change.
EVENT_ID_NAMESPACE = uuid.UUID("5b0f6c3e-4a51-4d0e-9a0c-6f1d2f0f7e11")
SEQUENCE_DIGITS = 20
DEFAULT_EVENT_SOURCE = "/sms-optout"
# Owed events of one pair are kept in one Table string property (at most 32K characters); a
# change record is under 400.
MAX_OWED = 64
KEYWORD_SOURCE = str(Source.KEYWORD)
# Per pair, a change's time is never earlier than the change before it: raised to it plus this.
TIME_STEP = timedelta(microseconds=1)


class EventField(StrEnum):
    """The keys of an event's `data`."""

    SENDER = "sender"
    RECIPIENT = "recipient"
    COUNTRY = "country"
    SOURCE = "source"
    KEYWORD = "keyword"
    MESSAGE_ID = "messageId"
    OPTED_OUT_AT = "optedOutAt"
    # group-wide changes only:
    GROUP = "group"
    RECEIVED_BY = "receivedBy"  # the group's sender the keyword was sent to
    SENDERS = "senders"  # the group's revoke-all senders when the change was made
    ACTOR = "actor"  # who made it: the API key's name, "keyword" or "carrier"


_KINDS = {
    FeedScope.SENDER: (ChangeKind.ADDED, ChangeKind.REMOVED),
    FeedScope.GROUP: (ChangeKind.GROUP_ADDED, ChangeKind.GROUP_REMOVED),
}


def change_kind(opt_out: bool, scope: FeedScope) -> ChangeKind:
    return _KINDS[scope][0 if opt_out else 1]


def kind_scope(kind: ChangeKind) -> FeedScope:
    return next(scope for scope, kinds in _KINDS.items() if kind in kinds)


def opts_out(kind: ChangeKind) -> bool:
    return kind in (ChangeKind.ADDED, ChangeKind.GROUP_ADDED)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class OptOutChange:
    """One applied change of one sender/recipient pair (E.164 numbers), or of one group-wide
    entry (a `Group*` kind: `group` names the group, `sender` the group's sender the keyword
    was sent to, `senders` the group's revoke-all senders then).

    `effective_at` is when the change took effect (the event's `time`); `opted_out_at` is the
    opt-out's own time (for a keyword STOP, when the person sent it), None for a removal.
    `source` is what made the change (`api`, `keyword`, `import`, ...), `actor` who: the API
    key's name (API and import), "keyword" (a keyword) or "carrier".
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
    group: str = ""
    senders: tuple[str, ...] = ()
    actor: str = ""

    @property
    def scope(self) -> FeedScope:
        return kind_scope(self.kind)

    @property
    def partition(self) -> str:
        """Whose state changed: the sender, or the group (the events' `subject`)."""
        return self.group if self.scope is FeedScope.GROUP else self.sender

    @property
    def stream(self) -> tuple[FeedScope, str, str]:
        """The pair whose events are ordered by `sequence`."""
        return (self.scope, self.partition, self.recipient)

    @property
    def event_id(self) -> str:
        """Stable: derived only from the change record. A group's name is prefixed with its
        scope (`groups/`), which no sender key can hold, so ids of the two never meet."""
        who = self.sender if self.scope is FeedScope.SENDER else f"{self.scope}/{self.group}"
        name = f"{who}|{self.recipient}|{self.version}|{_iso(self.effective_at)}"
        return str(uuid.uuid5(EVENT_ID_NAMESPACE, name))

    @property
    def sequence(self) -> str:
        return str(self.version).zfill(SEQUENCE_DIGITS)

    def event_source(self, service: str = DEFAULT_EVENT_SOURCE) -> str:
        return f"{service.rstrip('/')}/{self.scope}/{self.partition}"

    def data(self) -> dict[str, Any]:
        if self.scope is FeedScope.GROUP:
            who: dict[str, Any] = {EventField.GROUP: self.group}
            tail = {EventField.RECEIVED_BY: self.sender, EventField.SENDERS: list(self.senders)}
        else:
            who, tail = {EventField.SENDER: self.sender}, {}
        return {
            **who,
            EventField.RECIPIENT: self.recipient,
            EventField.COUNTRY: self.country or None,
            EventField.SOURCE: self.source,
            EventField.KEYWORD: self.keyword or None,
            EventField.MESSAGE_ID: self.message_id or None,
            EventField.OPTED_OUT_AT: _iso(self.opted_out_at) if self.opted_out_at else None,
            EventField.ACTOR: self.actor or None,
            **tail,
        }

    # -- the outbox record (a plain dict, so any store can keep it as JSON) ------------------

    def to_record(self) -> dict[str, Any]:
        record = {
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
        if self.actor:
            record[EventField.ACTOR] = self.actor
        if self.scope is FeedScope.GROUP:  # a sender's record keeps its shape of before
            record |= {EventField.GROUP: self.group, EventField.SENDERS: list(self.senders)}
        return record

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
            group=record.get(EventField.GROUP) or "",
            senders=tuple(record.get(EventField.SENDERS) or ()),
            actor=record.get(EventField.ACTOR) or "",
        )


class FeedBacklogFull(StorageUnavailable):
    """A pair has MAX_OWED unpublished changes (the destinations have been down for long):
    further changes of it are refused (like a storage outage: 503, or the message is retried)
    rather than made without their event."""


@dataclass(frozen=True)
class FeedRow:
    """A pair's change count and the changes whose events are owed (oldest first), as read or
    committed; `etag` is the store's version token for the conditional write that follows.
    `partition` is the sender's key, or the group's name for a group row (`scope`)."""

    partition: str
    recipient: str
    version: int = 0
    owed: tuple[OptOutChange, ...] = ()
    owed_since: datetime | None = None
    # The pair's state after its last change (None: no row, or written before it was kept).
    opted_out: bool | None = None
    # The effect time of the pair's last change (None: none yet, or before it was kept).
    last_change_at: datetime | None = None
    etag: str | None = field(default=None, compare=False)
    scope: FeedScope = FeedScope.SENDER

    def appended(self, change: OptOutChange, owed_at: datetime) -> FeedRow:
        """With `change` owed too (since `owed_at`, when it is committed, if nothing was)."""
        if len(self.owed) >= MAX_OWED:
            raise FeedBacklogFull(f"{MAX_OWED} events of one recipient are still unpublished")
        return replace(
            self,
            version=change.version,
            owed=(*self.owed, change),
            owed_since=self.owed_since or owed_at,
            opted_out=opts_out(change.kind),
            last_change_at=change.effective_at,
        )

    def without(self, published: tuple[OptOutChange, ...]) -> FeedRow:
        done = {c.version for c in published}
        owed = tuple(c for c in self.owed if c.version not in done)
        return replace(self, owed=owed, owed_since=self.owed_since if owed else None)

    def effect_time(self, own: datetime) -> datetime:
        """A change's effect time: its own (the SMS's timestamp, the import file's time, the
        service clock), raised to the pair's previous change's time + 1 µs when it would go
        backwards. Decided under the feed row's ETag condition, in the transaction that decides
        the change's version, so time order is version (`sequence`) order."""
        last = self.last_change_at
        return last + TIME_STEP if last is not None and own <= last else own

    def next_change(
        self,
        opt_out: bool,
        effective_at: datetime,
        source: str,
        *,
        country: str = "",
        keyword: str = "",
        message_id: str = "",
        received_by: str = "",
        senders: Sequence[str] = (),
        actor: str = "",
    ) -> OptOutChange:
        """The pair's next change (version + 1) at `effect_time(effective_at)`; an opt-out's
        time is the same. For a group row, `received_by` is the sender the keyword was sent
        to, `senders` the group's."""
        group = self.scope is FeedScope.GROUP
        effective_at = self.effect_time(effective_at)
        return OptOutChange(
            kind=change_kind(opt_out, self.scope),
            sender=received_by if group else self.partition,
            recipient=self.recipient,
            version=self.version + 1,
            effective_at=effective_at,
            source=source,
            country=country,
            keyword=keyword,
            message_id=message_id,
            opted_out_at=effective_at if opt_out else None,
            group=self.partition if group else "",
            senders=tuple(senders) if group else (),
            actor=actor,
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
