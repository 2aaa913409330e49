"""What the services need from storage: one narrow protocol per concern.

Implemented by the Table adapters in `shared/tables/` and by the in-memory fake in
`tests/fakes.py`; `tests/test_contract.py` holds both to the same behaviour. A new concern (a new
table) gets its own protocol here and its own adapter module.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from shared.model import (
    EntryFilter,
    EntryPage,
    HistoryRecord,
    ImportOutcome,
    KeywordState,
    ReplyStatus,
    SenderProgram,
)
from shared.phone import PhoneNumber


class OptOutEntries(Protocol):
    """The opt-out list of each sender (the API's add / remove / check)."""

    def add(self, sender: PhoneNumber, recipients: Sequence[PhoneNumber], at: datetime) -> None: ...

    def remove(self, sender: PhoneNumber, recipients: Sequence[PhoneNumber]) -> None: ...

    def opted_out(self, sender: PhoneNumber, recipients: Sequence[PhoneNumber]) -> set[str]:
        """The E.164 numbers of `recipients` that are opted out (point reads, never a scan)."""
        ...


class KeywordStates(Protocol):
    """Keyword events' view of one sender/recipient pair, changed only conditionally."""

    def keyword_state(self, sender: PhoneNumber, recipient: PhoneNumber) -> KeywordState: ...

    def apply_keyword(
        self,
        sender: PhoneNumber,
        recipient: PhoneNumber,
        state: KeywordState,
        *,
        opt_out: bool,
        event_at: datetime,
        message_id: str,
    ) -> None:
        """Record the event and opt in or out, all or nothing; ConcurrencyConflict if either
        row changed since `state` was read."""
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
        sender: PhoneNumber,
        recipient: PhoneNumber | None = None,
        *,
        page_size: int = 100,
        token: str | None = None,
    ) -> tuple[list[HistoryRecord], str | None]:
        """One page, ordered by recipient then event time, and the next page's token (None at
        the end). InvalidPageToken for a token this store did not issue."""
        ...


class SenderPrograms(Protocol):
    def get_program(self, sender: PhoneNumber) -> SenderProgram | None: ...

    def put_program(self, sender: PhoneNumber, program: SenderProgram) -> None: ...

    def delete_program(self, sender: PhoneNumber) -> None: ...


class Health(Protocol):
    def ping(self) -> None:
        """Raise StorageUnavailable when storage cannot be reached."""
        ...


class OptOutListing(Protocol):
    """A sender's opt-out entries in recipient order, page by page (listing and export)."""

    def entries_page(
        self, sender: PhoneNumber, flt: EntryFilter, *, start: str | None, size: int
    ) -> EntryPage:
        """At most `size` entries from `start` (a previous page's `next_start`; None: the
        beginning), with one storage query. Only opt-out entries, never other rows."""
        ...


class OptOutImports(Protocol):
    def import_entries(
        self, sender: PhoneNumber, items: Sequence[tuple[PhoneNumber, datetime]], import_id: str
    ) -> ImportOutcome:
        """Create the entries (source `import`, this import id, the given opt-out times) that do
        not exist; leave existing ones as they are. Each number at most once in `items`.
        An entry that this same import created earlier counts as added (a retried request)."""
        ...
