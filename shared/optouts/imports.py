"""Bulk import of a sender's opt-outs (the service layer): parsed rows in, a report out.

Every valid number is opted out through the change feed (source `import`, the import's id as
the message id, the time the business gives, else now), so each entry that changes is written
in one transaction with its owed event, and numbers already opted out are left as they were (no
change, no event). Each added entry then gets its history row (source `import`, at its opted-out
time). The feed is called on slices of the rows, a few at a time, so that transactions overlap.

If a request fails after some entries were written (their events are owed with them, so those
are safe), sending it again with the same import id finds those entries as its own: they count
as added and their history rows are written, so nothing stays half-done after a retry.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.domain.changes import OptOutChange
from shared.domain.model import Action, HistoryRecord, Outcome, Source
from shared.domain.phone import PhoneNumber
from shared.domain.repositories import History, OptOutImports
from shared.domain.sender import SenderId
from shared.feed.change_feed import ChangeFeed
from shared.optouts.importfile import LineError, ParsedImport

# Rows per call of the feed: two transactions of 50 (entry + feed row each) and one clear;
# calls in flight at once: a partition's target is 2,000 entities/s, so a few transactions.
FEED_SLICE = 100
PARALLEL_SLICES = 4
IMPORT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_import_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class ImportReport:
    import_id: str
    received: int  # data rows in the request
    added: int
    already_opted_out: int
    invalid: int
    duplicates: int
    errors: tuple[LineError, ...]


class ImportService:
    def __init__(
        self,
        feed: ChangeFeed,
        entries: OptOutImports,
        history: History,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._feed = feed
        self._entries = entries
        self._history = history
        self._clock = clock
        self._pool = ThreadPoolExecutor(PARALLEL_SLICES, thread_name_prefix="import")

    def run(
        self, sender: SenderId, parsed: ParsedImport, import_id: str, *, actor: str = ""
    ) -> ImportReport:
        """`actor`: who imports (the API key's name), in the history rows and the events."""
        now = self._clock()
        numbers = [r.number for r in parsed.rows]
        times = {r.number.e164: r.opted_out_at or now for r in parsed.rows}
        added = self._apply(sender, numbers, times, import_id, now, actor)
        rest = [n for n in numbers if n.e164 not in added]
        if rest:  # already opted out; or entries of this same import, sent before
            added.update(self._entries.imported_by(sender, rest, import_id))
        self._history.record_history(
            [
                _history_record(sender, number, at, import_id, actor)
                for number, at in sorted(added.items())
            ]
        )
        return ImportReport(
            import_id=import_id,
            received=parsed.total,
            added=len(added),
            already_opted_out=len(numbers) - len(added),
            invalid=len(parsed.errors),
            duplicates=parsed.duplicates,
            errors=parsed.errors,
        )

    def _apply(
        self,
        sender: SenderId,
        numbers: Sequence[PhoneNumber],
        times: dict[str, datetime],
        import_id: str,
        now: datetime,
        actor: str = "",
    ) -> dict[str, datetime]:
        """Opt `numbers` out through the feed, slices in parallel: number -> opted-out time of
        those that changed."""

        def apply(part: Sequence[PhoneNumber]) -> list[OptOutChange]:
            return self._feed.apply(
                sender,
                part,
                opt_out=True,
                source=Source.IMPORT,
                at=now,
                message_id=import_id,
                times=times,
                actor=actor,
            )

        slices = [numbers[i : i + FEED_SLICE] for i in range(0, len(numbers), FEED_SLICE)]
        changes = [c for done in self._pool.map(apply, slices) for c in done]
        return {c.recipient: c.opted_out_at or times[c.recipient] for c in changes}


def _history_record(
    sender: SenderId, number: str, at: datetime, import_id: str, actor: str = ""
) -> HistoryRecord:
    return HistoryRecord(
        sender=sender.key,
        recipient=number,
        action=Action.OPT_OUT,
        source=Source.IMPORT,
        event_id=f"import:{import_id}:{number}",
        message_id=import_id,
        event_at=at,
        outcome=Outcome.APPLIED,
        effective_at=at,  # the change's time: the file's, raised past the pair's last change
        actor=actor,
    )
