"""Listing and bulk import on the OptOuts table (OptOutListing, OptOutImports).

Listing: one query per page over the sender's partition, restricted to the RowKey range of
opt-out entries (E.164 keys start with `+`, so `+` <= RowKey < `,`): the table's other rows
(`~state|...`, and any other prefix) can never appear. Filters on `OptedOutAt` and `Country`
are part of the same query. A page resumes from the service's continuation (NextPartitionKey /
NextRowKey, opaque on the real service), carried in `EntryPage.next_start`.

Import: entries are created in entity-group transactions of 100, in parallel. A transaction
fails whole when one of its entries exists already, so only then are its numbers read, with
concurrent point reads (never an `or` of RowKeys), and the missing ones created. A fresh import
costs one request per 100 rows; a re-import one failed transaction + one read per row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from azure.data.tables import TransactionOperation

from shared.model import (
    ConcurrencyConflict,
    EntryFilter,
    EntryPage,
    ImportOutcome,
    InvalidPageToken,
    OptOutEntry,
    Source,
)
from shared.phone import PhoneNumber
from shared.tables.base import MAX_TRANSACTION_OPERATIONS, Entity, TableAdapter, chunks, utc
from shared.tables.optouts import entry_to_entity

ENTRY_KEYS_FROM = "+"  # every E.164 RowKey starts with "+" ...
ENTRY_KEYS_BELOW = ","  # ... the character after it, so [+, ,) is exactly the entries
MAX_ROWS_PER_QUERY = 1000  # the Table service's page limit
IMPORT_ROUNDS = 3  # create / read / create again, before giving up to concurrent writers
LISTED = ["RowKey", "Country", "OptedOutAt", "Source"]

Item = tuple[PhoneNumber, datetime]


def entry_from_entity(e: Entity) -> OptOutEntry:
    return OptOutEntry(
        recipient=e["RowKey"],
        country=e.get("Country", ""),
        opted_out_at=utc(e.get("OptedOutAt")) or datetime.min,
        source=Source(e.get("Source", Source.API)),
    )


def _query(sender: PhoneNumber, flt: EntryFilter) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"pk": sender.e164, "lo": ENTRY_KEYS_FROM, "hi": ENTRY_KEYS_BELOW}
    query = "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi"
    if flt.since is not None:
        params["since"] = flt.since
        query += " and OptedOutAt ge @since"
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
    """The OptOuts table seen whole: pages of entries, and many entries created at once."""

    def entries_page(
        self, sender: PhoneNumber, flt: EntryFilter, *, start: str | None, size: int
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

    def import_entries(
        self, sender: PhoneNumber, items: Sequence[Item], import_id: str
    ) -> ImportOutcome:
        pending: list[Sequence[Item]] = chunks(items, MAX_TRANSACTION_OPERATIONS)
        added: dict[str, datetime] = {}
        already: list[str] = []
        for _ in range(IMPORT_ROUNDS):
            created, failed = self._create_batches(sender, pending, import_id)
            added.update((number.e164, at) for number, at in created)
            if not failed:
                return ImportOutcome(added, already)
            existing = self.get_many(sender.e164, (n.e164 for n, _ in failed))
            for number, entity in existing.items():
                if entity.get("ImportId") == import_id:
                    added[number] = utc(entity["OptedOutAt"]) or datetime.min
                else:
                    already.append(number)
            missing = [item for item in failed if item[0].e164 not in existing]
            pending = chunks(missing, MAX_TRANSACTION_OPERATIONS)
            if not pending:
                return ImportOutcome(added, already)
        raise ConcurrencyConflict("entries kept changing during the import")

    def _create_batches(
        self, sender: PhoneNumber, batches: Sequence[Sequence[Item]], import_id: str
    ) -> tuple[list[Item], list[Item]]:
        """Run one create-transaction per batch, in parallel: (items created, items of the
        batches that failed because an entry existed)."""

        def create(batch: Sequence[Item]) -> bool:
            ops = [
                (TransactionOperation.CREATE, _import_entity(sender, number, at, import_id))
                for number, at in batch
            ]
            try:
                self.call(lambda: self._table.submit_transaction(ops))
            except ConcurrencyConflict:
                return False
            return True

        results = self.in_parallel(create, batches)
        created = [item for ok, b in zip(results, batches, strict=True) if ok for item in b]
        failed = [item for ok, b in zip(results, batches, strict=True) if not ok for item in b]
        return created, failed


def _import_entity(
    sender: PhoneNumber, recipient: PhoneNumber, at: datetime, import_id: str
) -> Entity:
    return {**entry_to_entity(sender, recipient, at, Source.IMPORT), "ImportId": import_id}
