"""The domain model: the vocabulary (StrEnums), the records, and the domain's exceptions.

No Azure, no HTTP, no Table entities here: every other module speaks these types. A new action,
source, outcome or reply status is one enum member here (and the code that produces it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Action(StrEnum):
    """What a person (keyword) or the business (API) asked for."""

    OPT_OUT = "optout"
    OPT_IN = "optin"
    HELP = "help"
    NONE = "none"


class Language(StrEnum):
    """ISO 639-1 codes of the keyword packs (`shared/keywords/packs.py`)."""

    EN = "en"
    FR = "fr"
    ES = "es"
    PT = "pt"
    IT = "it"
    DE = "de"


class Source(StrEnum):
    """Where a change came from."""

    API = "api"
    KEYWORD = "keyword"
    IMPORT = "import"  # a bulk import (POST /sms/senders/{sender}/optouts:import)
    CARRIER = "carrier"  # an opt-out ACS or the carrier holds that the service never saw (4007)


class Outcome(StrEnum):
    """What an event did, as recorded in the history (and reported by the inbound processor)."""

    APPLIED = "applied"
    SUPERSEDED = "superseded"  # an older event that arrived after a newer one
    # A STOP/START that found the state as asked: no change (confirmed again), a no-op that
    # as-of and the report leave out.
    UNCHANGED = "unchanged"
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

    @property
    def done(self) -> bool:
        """The reply went (or was logged): its time is the row's ReplySentAt."""
        return self in (ReplyStatus.SENT, ReplyStatus.LOGGED)


class DeliveryStatus(StrEnum):
    """What a delivery report said about a keyword confirmation (the STOP/START/HELP's row)."""

    NONE = ""  # no report (yet)
    DELIVERED = "delivered"
    FAILED = "failed"


class TimeBasis(StrEnum):
    """Which time of an event places it on the timeline (the evidence endpoints,
    docs/evidence.md)."""

    EFFECTIVE = "effective"  # when the change took effect in the service (its RecordedAt)
    RECEIVED = "received"  # the SMS's own timestamp (EventTime; for the API: the call's time)


class ReportFlag(StrEnum):
    """What the compliance report flags on a row (`shared/evidence/compliance.py`)."""

    CONFIRMATION_LATE = "confirmation-late"  # sent over 5 minutes after receipt, or not sent
    CONFIRMATION_TIME_UNKNOWN = "confirmation-time-unknown"  # sent before ReplySentAt existed
    OPTOUT_LATE = "optout-late"  # took effect after 10 business days


class FeedScope(StrEnum):
    """Whose state a change-feed row and its events describe; the value is the events' `source`
    path segment: a sender's own list (`/senders/<sender>`) or a revoke-all group's entries."""

    SENDER = "senders"
    GROUP = "groups"


class ChangeKind(StrEnum):
    """An applied change of opt-out state, as the change feed's CloudEvents `type`. Group-wide
    changes have types of their own (docs/events.md: why); see `shared/domain/changes.py`."""

    ADDED = "Sms.OptOut.Added"
    REMOVED = "Sms.OptOut.Removed"
    GROUP_ADDED = "Sms.OptOut.GroupAdded"
    GROUP_REMOVED = "Sms.OptOut.GroupRemoved"


class ApiAction(StrEnum):
    """The Opt-Out Management API's operations (`POST /sms/optouts:<action>`)."""

    ADD = "add"
    REMOVE = "remove"
    CHECK = "check"


# -- sending (POST /sms) -----------------------------------------------------------------------


class SenderKind(StrEnum):
    """What ACS sends from (shared/domain/sender.py parses and normalises them)."""

    PHONE_NUMBER = "phoneNumber"
    SHORT_CODE = "shortCode"
    ALPHANUMERIC = "alphanumeric"


class RepeatabilityResult(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class Blocked(StrEnum):
    """Why the send gateway answered for a recipient itself instead of forwarding it."""

    OPTED_OUT = "opted-out"
    INVALID = "invalid"


class UpstreamFailure(StrEnum):
    """How a forwarding call to ACS failed as a whole (the HTTP layer picks each status)."""

    UNREACHABLE = "unreachable"  # no connection: nothing was sent
    TIMEOUT = "timeout"  # sent, no answer in time: the outcome is unknown
    SERVER_ERROR = "server-error"  # ACS answered 5xx
    UNAVAILABLE = "unavailable"  # ACS answered 503 (outage, throttling)
    AUTH_FAILED = "auth-failed"  # ACS refused this service's credentials (401/403)
    REFUSED = "refused"  # ACS refused the request (another 4xx): nothing was sent
    BAD_ANSWER = "bad-answer"  # an answer that is not a send response


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
    language: Language | None = None  # the keyword's language: the reply's (keyword events)
    reply_status: ReplyStatus = ReplyStatus.NONE
    # When the current reply attempt began (status `sending`): a lease, so that a concurrent
    # delivery of the same event does not send too, and a crashed attempt is taken over later.
    reply_claimed_at: datetime | None = None
    # Who made the change: the API key's name (API, import), "keyword" or "carrier".
    actor: str = ""
    # When the change took effect: the store's clock when the row was written (after the
    # opt-out transaction), and when the reply was sent (status `sent`/`logged`).
    recorded_at: datetime | None = field(default=None, compare=False)
    reply_sent_at: datetime | None = field(default=None, compare=False)
    # The change's effect time (its event's `time`), when the event changed the state: per
    # pair never earlier than the change before it (`FeedRow.effect_time`). None on rows of
    # no-ops and on rows written before it was kept.
    effective_at: datetime | None = field(default=None, compare=False)
    # The confirmation's outgoing message id (ACS's), and what its delivery report said.
    reply_message_id: str = field(default="", compare=False)
    delivery_status: DeliveryStatus = field(default=DeliveryStatus.NONE, compare=False)
    delivered_at: datetime | None = field(default=None, compare=False)
    delivery_detail: str = field(default="", compare=False)
    etag: str | None = field(default=None, compare=False)

    @property
    def event_key(self) -> tuple[str, str, datetime, str]:
        """Identifies the event: a redelivered event has the same key."""
        return (self.sender, self.recipient, self.event_at, self.event_id)


@dataclass(frozen=True)
class Reply:
    """What sending a keyword's reply came to: the status to record and, when ACS accepted it,
    ACS's outgoing message id (its delivery report carries it)."""

    status: ReplyStatus
    message_id: str = ""


@dataclass(frozen=True)
class ReplyTexts:
    """One language's reply templates; None falls back (see `replies.reply_text`)."""

    optout_text: str | None = None
    optin_text: str | None = None
    help_text: str | None = None

    def for_action(self, action: Action) -> str | None:
        return {
            Action.OPT_OUT: self.optout_text,
            Action.OPT_IN: self.optin_text,
            Action.HELP: self.help_text,
        }.get(action)


@dataclass(frozen=True)
class SenderProgram:
    """A sender's reply texts and options; None falls back to the settings.

    `optout_text` / `optin_text` / `help_text` are the English texts (as before languages);
    `texts` holds per-language overrides, including, if given, English ones, which win.
    `languages`: the keyword packs, first first (None: from the sender number's country).
    `group` + `revoke_all`: brand-wide revoke-all (`shared/domain/groups.py`)."""

    brand: str | None = None
    help_contact: str | None = None
    optout_text: str | None = None
    optin_text: str | None = None
    help_text: str | None = None
    plain_language_optout: bool | None = None
    languages: tuple[Language, ...] | None = None
    texts: tuple[tuple[Language, ReplyTexts], ...] = ()
    group: str | None = None
    revoke_all: bool | None = None
    # Mirror every change of this sender into ACS's own opt-out database (docs/acs-mirror.md).
    mirror_to_acs: bool | None = None

    def texts_for(self, language: Language) -> ReplyTexts:
        return dict(self.texts).get(language, ReplyTexts())


@dataclass(frozen=True)
class GroupEntry:
    """A group-wide opt-out: `recipient` is opted out of every revoke-all sender of `group`."""

    group: str
    recipient: str
    sender: str  # the sender the STOP was sent to
    opted_out_at: datetime
    message_id: str = ""


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
