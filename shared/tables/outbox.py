"""The change feed's outbox on Azure Table Storage, for any table that keeps `~feed|` rows in
its partitions: OptOuts (a sender's pairs, `TableChangeFeed`) and GroupOptOuts (a revoke-all
group's pairs, `TableGroupOptOuts`). Reading feed rows, clearing what was published, the owed
markers written before a change (`shared/tables/owed_marks.py`) and the sweep that reads them
by key; the writes that make events owed live with the changes they describe.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from azure.core import MatchConditions
from azure.data.tables import TransactionOperation

from shared.domain.changes import FeedRow
from shared.domain.model import ConcurrencyConflict, FeedScope
from shared.domain.phone import mask
from shared.tables.base import (
    MAX_TRANSACTION_OPERATIONS,
    Entity,
    TableAdapter,
    chunks,
    if_unchanged,
)
from shared.tables.feed_rows import feed_from_entity, feed_key, feed_operation
from shared.tables.group_commit import GroupCommit
from shared.tables.owed_marks import MARK_HOLD, mark_operations, shard_key, shard_keys

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

    def mark_owed(self, partition: str, recipients: Sequence[str]) -> None:
        """Before a change of these pairs is committed: their owed markers (one transaction
        per 100, shared with concurrent markers of the shard), so the sweep finds by key
        whatever the change may leave owed."""
        ops = mark_operations(partition, recipients)
        for chunk in chunks(ops, MAX_TRANSACTION_OPERATIONS):
            self.transactions.write(shard_key(partition), chunk)

    def owed_rows(self, owed_before: datetime) -> Iterator[FeedRow]:
        """Every feed row owing events since before `owed_before`, found by key: the marker
        shards (one query each, `PartitionKey eq`), then point reads of the feed rows the
        markers name. Markers of pairs that owe nothing, older than MARK_HOLD, are deleted on
        the way (conditional on their ETags): the cost follows what changed lately or is owed,
        never what is stored."""
        forget_before = datetime.now(UTC) - MARK_HOLD
        for shard in shard_keys():
            for marks in self._mark_pages(shard):
                yield from self._owed_of(shard, marks, owed_before, forget_before)

    def _owed_of(
        self, shard: str, marks: list[Entity], owed_before: datetime, forget_before: datetime
    ) -> Iterator[FeedRow]:
        by_partition: dict[str, list[Entity]] = {}
        for mark in marks:
            by_partition.setdefault(mark["Partition"], []).append(mark)
        stale: list[Entity] = []
        for partition, found in by_partition.items():
            rows = self.feed_rows(partition, [m["Recipient"] for m in found])
            for mark, row in zip(found, rows, strict=True):
                if row.owed:
                    if row.owed_since is not None and row.owed_since < owed_before:
                        yield row
                elif _written_at(mark) < forget_before:
                    stale.append(mark)
        self._forget(shard, stale)

    def _mark_pages(self, shard: str) -> Iterator[list[Entity]]:
        """The shard's markers, a page (up to 1000) at a time: one query each."""
        token: Any = None
        while True:

            def read(after: Any = token) -> tuple[list[Entity], Any]:
                pages = self._table.query_entities(
                    "PartitionKey eq @pk", parameters={"pk": shard}, results_per_page=1000
                ).by_page(continuation_token=after)
                return list(next(pages, [])), pages.continuation_token

            page, token = self.call(read)
            yield page
            if not token:
                return

    def _forget(self, shard: str, marks: Sequence[Entity]) -> None:
        """Delete `marks` unless rewritten since they were read (a new change is announced)."""
        for chunk in chunks(marks, MAX_TRANSACTION_OPERATIONS):
            ops = [(TransactionOperation.DELETE, m, if_unchanged(_etag(m))) for m in chunk]
            try:
                self.submit(ops)
            except ConcurrencyConflict:  # one was rewritten (or is gone): one by one
                for mark in chunk:
                    self._forget_one(mark)

    def _forget_one(self, mark: Entity) -> None:
        def delete() -> None:
            self._table.delete_entity(
                mark["PartitionKey"],
                mark["RowKey"],
                etag=_etag(mark),
                match_condition=MatchConditions.IfNotModified,
            )

        with contextlib.suppress(ConcurrencyConflict):  # rewritten since: a newer change
            self.call(delete)


def _etag(mark: Entity) -> str:
    return mark.metadata["etag"]  # type: ignore[attr-defined]


def _written_at(mark: Entity) -> datetime:
    """When the marker was last written (the service's Timestamp)."""
    stamp = mark.metadata.get("timestamp")  # type: ignore[attr-defined]
    if stamp is None:
        return datetime.now(UTC)  # unknown: treated as new (kept)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
