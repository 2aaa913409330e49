"""The change feed's outbox on Azure Table Storage, for any table that keeps `~feed|` rows in
its partitions: OptOuts (a sender's pairs, `TableChangeFeed`) and GroupOptOuts (a revoke-all
group's pairs, `TableGroupOptOuts`). Reading feed rows, clearing what was published, and the
sweep's query; the writes that make events owed live with the changes they describe.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from shared.domain.changes import FeedRow
from shared.domain.model import ConcurrencyConflict, FeedScope
from shared.domain.phone import mask
from shared.tables.base import MAX_TRANSACTION_OPERATIONS, TableAdapter, chunks
from shared.tables.feed_rows import (
    FEED_END,
    FEED_PREFIX,
    feed_from_entity,
    feed_key,
    feed_operation,
)
from shared.tables.group_commit import GroupCommit

log = logging.getLogger(__name__)

MAX_CONFLICT_RETRIES = 8


class TableOutbox(TableAdapter):
    """FeedOutbox: the feed rows of one table, whose partitions are of one `scope`."""

    scope: ClassVar[FeedScope] = FeedScope.SENDER

    def __init__(self, *args: Any, transactions: GroupCommit | None = None, **kwargs: Any) -> None:
        """Writes to one partition at the same moment (a burst's clears and keyword changes)
        share a transaction; each stays conditional on its own ETags, and a write that
        conflicts is sent again alone (`shared.tables.group_commit`). `transactions`: a group commit
        the table already has (`TableOptOuts.transactions` for OptOuts), so that clears and
        keyword changes of one partition share the same one."""
        super().__init__(*args, **kwargs)
        self.transactions = transactions or GroupCommit(self.submit)

    def feed_rows(self, partition: str, recipients: Sequence[str]) -> list[FeedRow]:
        found = self.get_many(partition, (feed_key(r) for r in recipients))
        return [self.feed_row(partition, r, found.get(feed_key(r))) for r in recipients]

    def feed_row(self, partition: str, recipient: str, entity: Any) -> FeedRow:
        return feed_from_entity(partition, recipient, entity, self.scope)

    def clear(self, rows: Sequence[FeedRow]) -> None:
        """Forget the owed changes of `rows` (as read or committed, with their ETags) now that
        they are published: one conditional transaction per 100 rows of a partition; rows
        changed since (a newer change, a concurrent clear) are re-read and cleared one by one,
        keeping whatever became owed since."""
        by_partition: dict[str, list[FeedRow]] = {}
        for row in rows:
            if row.owed:
                by_partition.setdefault(row.partition, []).append(row)
        for group in by_partition.values():
            for chunk in chunks(group, MAX_TRANSACTION_OPERATIONS):
                try:
                    ops = [feed_operation(r.without(r.owed)) for r in chunk]
                    self.transactions.write(chunk[0].partition, ops)
                except ConcurrencyConflict:
                    for row in chunk:
                        self._clear_one(row)

    def _clear_one(self, published: FeedRow) -> None:
        for _ in range(MAX_CONFLICT_RETRIES):
            [now] = self.feed_rows(published.partition, [published.recipient])
            remaining = now.without(published.owed)
            if now.etag is None or remaining.owed == now.owed:
                return  # cleared by someone else already
            try:
                self.submit([feed_operation(remaining)])
                return
            except ConcurrencyConflict:
                continue
        log.warning("Events of %s stay owed; the sweep retries", mask(published.recipient))

    def owed_rows(self, owed_before: datetime) -> Iterator[FeedRow]:
        """Every feed row owing events since before `owed_before`, across all partitions. A
        cross-partition query: the service scans the table (billed per page of up to 1000 rows
        or 5 s of scanning), so the sweep runs rarely; the inline publisher leaves nothing
        owed in the normal case."""
        query = "RowKey ge @lo and RowKey lt @hi and OwedCount gt 0 and OwedSince lt @before"
        params = {"lo": FEED_PREFIX, "hi": FEED_END, "before": owed_before.astimezone(UTC)}

        def read() -> list[FeedRow]:
            found = self._table.query_entities(query, parameters=params, results_per_page=1000)
            return [self.feed_row(e["PartitionKey"], e["Recipient"], e) for e in found]

        yield from self.call(read)
