"""The domain model: the vocabulary (StrEnums), the records, and the domain's exceptions.

No Azure, no HTTP, no Table entities here: every other module speaks these types. A new action,
source, outcome or reply status is one enum member here (and the code that produces it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.optout_events import FeedRow


class Action(StrEnum):
    """What a person (keyword) or the business (API) asked for."""

    OPT_OUT = "optout"
    OPT_IN = "optin"
    HELP = "help"
    NONE = "none"


class Source(StrEnum):
    """Where a change came from."""

    API = "api"
    KEYWORD = "keyword"
    IMPORT = "import"  # a bulk import (POST /sms/senders/{sender}/optouts:import)


class Outcome(StrEnum):
    """What an event did, as recorded in the history (and reported by the inbound processor)."""

    APPLIED = "applied"
    SUPERSEDED = "superseded"  # an older event that arrived after a newer one
    HELP = "help"
    # Not recorded, only reported for one delivery:
    PENDING = ""  # not decided yet (a record being built)
    DUPLICATE = "duplicate"
    NO_KEYWORD = "no-keyword"
    IGNORED = "ignored"


class ReplyStatus(StrEnum):
    NONE = "none"
    SENDING = "sending"  # claimed by a delivery at reply_claimed_at (a lease)
    PENDING = "pending"  # a failed attempt gave the claim back
    SENT = "sent"
    LOGGED = "logged"  # ACS not configured
    FAILED = "failed"  # refused by ACS for good

    @property
    def in_progress(self) -> bool:
        return self in (ReplyStatus.SENDING, ReplyStatus.PENDING)


class ChangeKind(StrEnum):
    """An applied change of opt-out state, as the change feed's CloudEvents `type`."""

    ADDED = "Sms.OptOut.Added"
    REMOVED = "Sms.OptOut.Removed"


class ApiAction(StrEnum):
    """The Opt-Out Management API's operations (`POST /sms/optouts:<action>`)."""

    ADD = "add"
    REMOVE = "remove"
    CHECK = "check"


# -- exceptions --------------------------------------------------------------------------------


class StorageUnavailable(Exception):
    """Storage could not be reached or failed; the operation made no change or may be retried."""


class ConcurrencyConflict(Exception):
    """Another writer changed the rows between our read and our conditional write."""


class AlreadyRecorded(Exception):
    """The history row for this event already exists (a duplicate delivery)."""


class InvalidPageToken(ValueError):
    """A paging token that this service did not issue (or that was altered)."""


# -- records -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeywordState:
    """What the store knows about one sender/recipient pair, read for a keyword event. The
    versions are opaque tokens (ETags) for the conditional write that follows."""

    opted_out: bool
    opted_out_at: datetime | None
    opt_out_source: Source | None
    last_event_at: datetime | None
    last_message_id: str | None
    entry_etag: str | None = field(default=None, compare=False)
    state_etag: str | None = field(default=None, compare=False)
    # The pair's change-feed row (its change count, owed events and ETag): a keyword change
    # writes it in the same conditional transaction.
    feed: FeedRow | None = field(default=None, compare=False)


@dataclass(frozen=True)
class HistoryRecord:
    sender: str
    recipient: str
    action: Action
    source: Source
    event_id: str
    event_at: datetime
    outcome: Outcome
    message_id: str = ""
    keyword: str = ""
    reply_status: ReplyStatus = ReplyStatus.NONE
    # When the current reply attempt began (status `sending`): a lease, so that a concurrent
    # delivery of the same event does not send too, and a crashed attempt is taken over later.
    reply_claimed_at: datetime | None = None
    recorded_at: datetime | None = field(default=None, compare=False)
    etag: str | None = field(default=None, compare=False)

    @property
    def event_key(self) -> tuple[str, str, datetime, str]:
        """Identifies the event: a redelivered event has the same key."""
        return (self.sender, self.recipient, self.event_at, self.event_id)


@dataclass(frozen=True)
class SenderProgram:
    """A sender's reply texts and options; None falls back to the settings."""

    brand: str | None = None
    help_contact: str | None = None
    optout_text: str | None = None
    optin_text: str | None = None
    help_text: str | None = None
    plain_language_optout: bool | None = None


# -- listing, export and import of a sender's opt-outs ------------------------------------------


@dataclass(frozen=True)
class OptOutEntry:
    """One opted-out person, as listed and exported."""

    recipient: str  # E.164
    country: str  # ISO 3166-1 alpha-2 (ZZ: no country)
    opted_out_at: datetime
    source: Source


@dataclass(frozen=True)
class EntryFilter:
    since: datetime | None = None  # opted out at or after
    country: str | None = None


@dataclass(frozen=True)
class EntryPage:
    entries: list[OptOutEntry]
    next_start: str | None  # where the next page starts (opaque to callers); None at the end
