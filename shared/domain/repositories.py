"""What the services need from storage: one narrow protocol per concern.

Implemented by the Table adapters in `shared/tables/` and by the in-memory fake in
`tests/fakes.py`; `tests/test_contract.py` holds both to the same behaviour. A new concern (a new
table) gets its own protocol here and its own adapter module.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from shared.domain.changes import Applied, FeedRow
from shared.domain.keyword_writes import KeywordState
from shared.domain.mirror import MirrorItem, MirrorState
from shared.domain.model import (
    EntryFilter,
    EntryPage,
    GroupEntry,
    HistoryRecord,
    ReplyStatus,
    SenderProgram,
    Source,
)
from shared.domain.phone import PhoneNumber
from shared.domain.sender import SenderId


class OptOutEntries(Protocol):
    """The opt-out list of each sender (the API's add / remove / check)."""

    def add(self, sender: SenderId, recipients: Sequence[PhoneNumber], at: datetime) -> None: ...

    def remove(self, sender: SenderId, recipients: Sequence[PhoneNumber]) -> None: ...

    def opted_out(self, sender: SenderId, recipients: Sequence[PhoneNumber]) -> set[str]:
        """The E.164 numbers of `recipients` that are opted out (point reads, never a scan)."""
        ...


class KeywordStates(Protocol):
    """Keyword events' view of one sender/recipient pair, changed only conditionally."""

    def keyword_state(self, sender: SenderId, recipient: PhoneNumber) -> KeywordState: ...

    def apply_keyword(
        self,
        sender: SenderId,
        recipient: PhoneNumber,
        state: KeywordState,
        *,
        opt_out: bool,
        event_at: datetime,
        message_id: str,
        keyword: str = "",
    ) -> FeedRow:
        """Record the event and opt in or out, all or nothing, with the change's event owed in
        the pair's feed row (when the state changes); ConcurrencyConflict if any row changed
        since `state` was read. Returns the feed row as committed."""
        ...


class FeedOutbox(Protocol):
    """A table's change-feed rows (a sender's pairs, or a group's): clearing and the sweep."""

    def clear(self, rows: Sequence[FeedRow]) -> None:
        """Forget the owed events of `rows` (published), keeping any owed since."""
        ...

    def owed_rows(self, owed_before: datetime) -> Iterator[FeedRow]:
        """Every pair with events owed since before `owed_before` (the sweep), found by key:
        what it costs follows what changed lately or is owed, not what is stored."""
        ...


class ChangeFeedStore(FeedOutbox, Protocol):
    """The change feed's outbox: changes written together with the events they owe."""

    def apply(
        self,
        sender: SenderId,
        recipients: Sequence[PhoneNumber],
        *,
        opt_out: bool,
        at: datetime,
        source: Source,
        message_id: str = "",
        times: Mapping[str, datetime] | None = None,
        actor: str = "",
    ) -> list[Applied]:
        """Opt recipients out (or in), each real change in one transaction with its owed
        event; recipients already in that state are left alone (no change, no event)."""
        ...


class History(Protocol):
    """The audit trail: one row per event, keyed by the event (HistoryRecord.event_key)."""

    def record_history(self, records: Sequence[HistoryRecord]) -> None: ...

    def create_history(self, record: HistoryRecord) -> None:
        """Create the row; AlreadyRecorded if the event has one already."""
        ...

    def get_history(self, record: HistoryRecord) -> HistoryRecord | None: ...

    def set_reply_status(self, record: HistoryRecord, status: ReplyStatus) -> None: ...

    def claim_reply(self, record: HistoryRecord, at: datetime) -> None:
        """Set status `sending` claimed at `at`, if the row is unchanged since `record` was read
        (its ETag); else raise ConcurrencyConflict."""
        ...


class HistoryReader(Protocol):
    def history_page(
        self,
        sender: SenderId,
        recipient: PhoneNumber | None = None,
        *,
        page_size: int = 100,
        token: str | None = None,
    ) -> tuple[list[HistoryRecord], str | None]:
        """One page, ordered by recipient then event time, and the next page's token (None at
        the end). InvalidPageToken for a token this store did not issue."""
        ...

    def history_window(
        self,
        sender: SenderId,
        start: datetime,
        end: datetime,
        *,
        page_size: int = 1000,
        token: str | None = None,
    ) -> tuple[list[HistoryRecord], str | None]:
        """One page of the sender's opt-out and opt-in rows with start <= event time < end,
        ordered by recipient then event time; a page may be short or empty before the end
        (token None). InvalidPageToken for a token this store did not issue."""
        ...


class SenderPrograms(Protocol):
    def get_program(self, sender: SenderId) -> SenderProgram | None: ...

    def put_program(self, sender: SenderId, program: SenderProgram) -> None: ...

    def delete_program(self, sender: SenderId) -> None: ...

    def revoke_all_senders(self, group: str) -> list[str]:
        """The E.164 numbers of the senders whose program names `group` with revoke-all on
        (a filtered query over the programs: one row per sender)."""
        ...

    def mirrored_senders(self) -> list[str]:
        """The senders whose program has `mirrorToAcs` on (a filtered query over the programs:
        one row per sender)."""
        ...


class GroupOptOuts(FeedOutbox, Protocol):
    """Brand-wide revoke-all: one group-wide entry per recipient in the group's own partition,
    with its own newest-event marker and change-feed row (`shared/domain/groups.py`). Same semantics
    as KeywordStates; its outbox holds the group-wide changes' events (scope `groups`)."""

    def group_opted_out(self, group: str, recipients: Sequence[PhoneNumber]) -> set[str]:
        """The E.164 numbers of `recipients` with a group-wide entry (point reads)."""
        ...

    def group_state(self, group: str, recipient: PhoneNumber) -> KeywordState: ...

    def apply_group_keyword(
        self,
        group: str,
        recipient: PhoneNumber,
        state: KeywordState,
        *,
        opt_out: bool,
        sender: SenderId,
        event_at: datetime,
        message_id: str,
        keyword: str = "",
        senders: Sequence[str] = (),
    ) -> FeedRow:
        """Record the event and write or lift the group-wide entry, all or nothing, with the
        change's event owed in the pair's feed row when the entry changes (`senders`: the
        group's revoke-all senders, for the event); ConcurrencyConflict if any row changed
        since `state` was read. Returns the feed row as committed."""
        ...

    def group_entries(
        self, group: str, *, page_size: int = 100, token: str | None = None
    ) -> tuple[list[GroupEntry], str | None]:
        """One page of group-wide entries, by recipient, and the next page's token (None at the
        end). InvalidPageToken for a token this store did not issue."""
        ...


class Health(Protocol):
    def ping(self) -> None:
        """Raise StorageUnavailable when storage cannot be reached."""
        ...


class OptOutListing(Protocol):
    """A sender's opt-out entries in recipient order, page by page (listing and export)."""

    def entries_page(
        self, sender: SenderId, flt: EntryFilter, *, start: str | None, size: int
    ) -> EntryPage:
        """At most `size` entries from `start` (a previous page's `next_start`; None: the
        beginning), with one storage query. Only opt-out entries, never other rows."""
        ...


class OptOutImports(Protocol):
    def imported_by(
        self, sender: SenderId, recipients: Sequence[PhoneNumber], import_id: str
    ) -> dict[str, datetime]:
        """Those of `recipients` whose entry this import made (source `import`, its id as
        the message id), with their opted-out time: concurrent point reads. An import request
        sent again uses it to count its own entries as added, not as already opted out."""
        ...


class MirrorJournal(Protocol):
    """Per mirrored sender: the changes not yet pushed to ACS (oldest first), the poisoned
    ones, and the drain's state (a lease, so that one drainer at a time pushes a sender)."""

    def note(self, sender: str, items: Sequence[MirrorItem]) -> None:
        """Record pending items (idempotent: the same change noted twice is one item)."""
        ...

    def pending(self, sender: str, limit: int) -> list[MirrorItem]:
        """The oldest `limit` pending items (one bounded range query)."""
        ...

    def done(self, sender: str, items: Sequence[MirrorItem]) -> None:
        """Forget pushed items (already gone: not an error)."""
        ...

    def poison(self, sender: str, items: Sequence[MirrorItem], reason: str) -> None:
        """Move pending items to the poisoned ones, with why."""
        ...

    def poisoned(self, sender: str, limit: int) -> list[MirrorItem]: ...

    def clear_poisoned(self, sender: str, recipients: Sequence[str]) -> int:
        """Forget the poisoned items of `recipients` (reconcile fixed them); how many."""
        ...

    def state(self, sender: str) -> MirrorState: ...

    def save_state(self, sender: str, state: MirrorState) -> MirrorState:
        """Write `state` if unchanged since read (its etag; None: create); ConcurrencyConflict
        otherwise. Returns it with its new etag."""
        ...


class KnownRecipients(Protocol):
    """Every recipient the service knows of a sender (its entries, keyword markers and change
    rows, then its history), page by page; a recipient may come more than once."""

    def known_recipients(
        self, sender: SenderId, *, token: str | None, size: int
    ) -> tuple[list[str], str | None]:
        """At most about `size` recipients and the next token (None at the end).
        InvalidPageToken for a token this store did not issue."""
        ...
