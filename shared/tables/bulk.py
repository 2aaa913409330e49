"""Listing, and an import's own entries, on the OptOuts table (OptOutListing, OptOutImports).

Listing: one query per page over the sender's partition, restricted to the RowKey range of
opt-out entries (E.164 keys start with `+`, so `+` <= RowKey < `,`): the table's other rows
(`~state|...`, and any other prefix) can never appear. With `since`, the range is the entries'
time-first copies from `~since|<since>` (`shared/tables/time_index.py`), oldest first: the
service reads only what is listed, however many entries are older. `Country` is a filter of
the same query. A page resumes from the service's continuation (NextPartitionKey /
NextRowKey, opaque on the real service), carried in `EntryPage.next_start`.

Imports write through the change feed (shared/tables/feed.py: entry and feed row in one
transaction); here only the point reads that tell an import's own entries from others.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shared.domain.model import (
    EntryFilter,
    EntryPage,
    InvalidPageToken,
    OptOutEntry,
    Source,
)
from shared.domain.phone import PhoneNumber
from shared.domain.sender import SenderId
from shared.tables.base import Entity, TableAdapter, utc
from shared.tables.time_index import SINCE_END, SINCE_PREFIX, key_time

ENTRY_KEYS_FROM = "+"  # every E.164 RowKey starts with "+" ...
ENTRY_KEYS_BELOW = ","  # ... the character after it, so [+, ,) is exactly the entries
MAX_ROWS_PER_QUERY = 1000  # the Table service's page limit
LISTED = ["RowKey", "Recipient", "Country", "OptedOutAt", "Source"]


def entry_from_entity(e: Entity) -> OptOutEntry:
    return OptOutEntry(
        recipient=e.get("Recipient") or e["RowKey"],
        country=e.get("Country", ""),
        opted_out_at=utc(e.get("OptedOutAt")) or datetime.min,
        source=Source(e.get("Source", Source.API)),
    )


def _query(sender: SenderId, flt: EntryFilter) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"pk": sender.key, "lo": ENTRY_KEYS_FROM, "hi": ENTRY_KEYS_BELOW}
    query = "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi"
    if flt.since is not None:  # the time copies' range: `since` on, oldest first
        params.update(lo=SINCE_PREFIX + key_time(flt.since), hi=SINCE_END)
    if flt.country is not None:
        params["country"] = flt.country
        query += " and Country eq @country"
    return query, params


def _decode_start(start: str | None) -> dict[str, str] | None:
    if start is None:
        return None
    try:
        partition, row = json.loads(start)
    except (ValueError, TypeError) as exc:
        raise InvalidPageToken("invalid page position") from exc
    return {"PartitionKey": str(partition), "RowKey": str(row)}


class TableBulkOptOuts(TableAdapter):
    """The OptOuts table seen whole: pages of entries; an import's own entries."""

    def entries_page(
        self, sender: SenderId, flt: EntryFilter, *, start: str | None, size: int
    ) -> EntryPage:
        query, params = _query(sender, flt)
        continuation = _decode_start(start)
        per_query = min(size, MAX_ROWS_PER_QUERY)

        def read() -> EntryPage:
            pages = self._table.query_entities(
                query, parameters=params, results_per_page=per_query, select=LISTED
            ).by_page(continuation_token=continuation)
            entries = [entry_from_entity(e) for e in next(pages, [])]
            nxt = pages.continuation_token
            encoded = json.dumps([nxt["PartitionKey"], nxt["RowKey"]]) if nxt else None
            return EntryPage(entries, encoded)

        return self.call(read)

    def imported_by(
        self,
        sender: SenderId,
        recipients: Sequence[PhoneNumber],
        import_id: str,
        source: Source = Source.IMPORT,
    ) -> dict[str, datetime]:
        found = self.get_many(sender.key, (r.e164 for r in recipients))
        return {
            number: utc(e["OptedOutAt"]) or datetime.min
            for number, e in found.items()
            if e.get("Source") == source and e.get("MessageId") == import_id
        }
