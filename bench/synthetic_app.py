"""The app with a synthetic opt-out list in place of Table storage, to measure the export's
memory at sizes Azurite cannot seed in reasonable time (its inserts scan the partition, so
seeding n entries costs O(n^2)). Everything else is the real app: host, pipeline, handlers,
page tokens, CSV rendering. Bench only (`bench/bulk.py` serves it with `--app`)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from shared import runtime
from shared.domain.model import EntryFilter, EntryPage, OptOutEntry, Source
from shared.domain.phone import PhoneNumber

ROWS_SETTING = "BENCH_SYNTHETIC_ROWS"
OPTED_OUT_AT = datetime(2026, 1, 1, tzinfo=UTC)


class SyntheticListing:
    """OptOutListing over `rows` made-up entries, generated page by page (never all at once)."""

    def __init__(self, rows: int) -> None:
        self.rows = rows

    def entries_page(
        self, sender: PhoneNumber, flt: EntryFilter, *, start: str | None, size: int
    ) -> EntryPage:
        first = int(start or 0)
        last = min(first + size, self.rows)
        entries = [
            OptOutEntry(f"+1425{i:07d}", "US", OPTED_OUT_AT, Source.IMPORT)
            for i in range(first, last)
        ]
        return EntryPage(entries, str(last) if last < self.rows else None)


_listing = SyntheticListing(int(os.environ.get(ROWS_SETTING, "100000")))
runtime.listing = lambda: _listing  # type: ignore[assignment]

from function_app import app  # noqa: E402

__all__ = ["app"]
