"""Bulk import of a sender's opt-outs (the service layer): parsed rows in, a report out.

Every valid number is added (source `import`, with the import's id and the time the business
gives, else now); numbers already opted out are left as they were; each added entry gets its
history row (source `import`). Entries are written before their history rows: if a request
fails in between, sending it again (same import id) finds the entries as its own, counts them
as added and writes their history rows, so nothing stays half-written after a retry.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.importfile import LineError, ParsedImport
from shared.model import Action, HistoryRecord, ImportOutcome, Outcome, Source
from shared.phone import PhoneNumber
from shared.repositories import History, OptOutImports

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
        self, entries: OptOutImports, history: History, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._entries = entries
        self._history = history
        self._clock = clock

    def run(self, sender: PhoneNumber, parsed: ParsedImport, import_id: str) -> ImportReport:
        now = self._clock()
        times = {r.number.e164: r.opted_out_at or now for r in parsed.rows}
        items = [(r.number, times[r.number.e164]) for r in parsed.rows]
        outcome = (
            self._entries.import_entries(sender, items, import_id)
            if items
            else ImportOutcome({}, [])
        )
        self._history.record_history(
            [
                HistoryRecord(
                    sender=sender.e164,
                    recipient=number,
                    action=Action.OPT_OUT,
                    source=Source.IMPORT,
                    event_id=f"import:{import_id}:{number}",
                    message_id=import_id,
                    event_at=at,
                    outcome=Outcome.APPLIED,
                )
                for number, at in sorted(outcome.added.items())
            ]
        )
        return ImportReport(
            import_id=import_id,
            received=parsed.total,
            added=len(outcome.added),
            already_opted_out=len(outcome.already_opted_out),
            invalid=len(parsed.errors),
            duplicates=parsed.duplicates,
            errors=parsed.errors,
        )
