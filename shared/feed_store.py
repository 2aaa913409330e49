"""The change feed's outbox on Table Storage: changes that record the event they owe.

Each sender/recipient pair that ever changed has a feed row in the OptOuts table, in the
sender's partition, RowKey `~feed|<recipient>` (`~` sorts after every E.164 number, so the
opt-out entries stay exactly the RowKeys below `~` and listings never see it). It holds:

- `Version`: the number of changes applied to the pair so far (the order of its events);
- `Owed`: the changes whose events are not yet known to be published (JSON, oldest first),
  `OwedCount` and `OwedSince` (when the oldest became owed), for the sweep.

A change writes the opt-out entry (create, or an ETag-conditional delete) and the feed row
(create, or an ETag-conditional replace with `Version + 1` and the change appended to `Owed`)
in ONE entity-group transaction: the change is never committed without its event being owed,
and two writers of one pair cannot both win (the loser re-reads and decides again: often the
change is then a no-op). Two operations per recipient, so at most 50 recipients per transaction.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, TableServiceClient, TableTransactionError, UpdateMode

from shared.model import ConcurrencyConflict, StorageUnavailable
from shared.optout_events import OptOutChange

R = TypeVar("R")

FEED_PREFIX = "~feed|"
FEED_END = "~feed}"  # `}` follows `|`: RowKeys in [FEED_PREFIX, FEED_END) are feed rows
OPS_PER_CHANGE = 2
CHANGES_PER_TRANSACTION = 100 // OPS_PER_CHANGE
# The Owed list is one string property (at most 32K characters); a change record is < 400.
MAX_OWED = 64


class FeedBacklogFull(StorageUnavailable):
    """A pair has MAX_OWED unpublished changes (the destinations have been down for long):
    refuse further changes of it rather than lose an event. Retried like a storage outage."""


@dataclass(frozen=True)
class FeedRow:
    """One pair's feed row as read (version 0, nothing owed and no ETag when there is none)."""

    sender: str
    recipient: str
    version: int = 0
    owed: tuple[OptOutChange, ...] = ()
    owed_since: datetime | None = None
    etag: str | None = field(default=None, compare=False)

    def appended(self, change: OptOutChange) -> FeedRow:
        if len(self.owed) >= MAX_OWED:
            raise FeedBacklogFull(f"{MAX_OWED} events of one recipient are still unpublished")
        return FeedRow(
            self.sender,
            self.recipient,
            change.version,
            (*self.owed, change),
            self.owed_since or change.effective_at,
            self.etag,
        )

    def without(self, published: Sequence[OptOutChange]) -> FeedRow:
        done = {c.version for c in published}
        owed = tuple(c for c in self.owed if c.version not in done)
        since = self.owed_since if owed else None
        return FeedRow(self.sender, self.recipient, self.version, owed, since, self.etag)


def feed_key(recipient: str) -> str:
    return FEED_PREFIX + recipient


def feed_entity(row: FeedRow) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": row.sender,
        "RowKey": feed_key(row.recipient),
        "Recipient": row.recipient,
        "Version": row.version,
        "Owed": json.dumps([c.to_record() for c in row.owed], separators=(",", ":")),
        "OwedCount": len(row.owed),
    }
    if row.owed_since is not None:
        entity["OwedSince"] = row.owed_since
    return entity


def feed_operation(row: FeedRow) -> tuple[Any, ...]:
    """The transaction operation that writes `row`: conditional on the ETag it was read with
    (create when there was no row), so a concurrent writer makes the transaction fail."""
    entity = feed_entity(row)
    if row.etag is None:
        return ("create", entity)
    cond = {"etag": row.etag, "match_condition": MatchConditions.IfNotModified}
    return ("update", entity, {"mode": UpdateMode.REPLACE, **cond})


def parse_feed_row(e: Any) -> FeedRow:
    since = e.get("OwedSince")
    return FeedRow(
        sender=e["PartitionKey"],
        recipient=e["Recipient"],
        version=int(e.get("Version") or 0),
        owed=tuple(OptOutChange.from_record(r) for r in json.loads(e.get("Owed") or "[]")),
        owed_since=since if since is None or since.tzinfo else since.replace(tzinfo=UTC),
        etag=e.metadata["etag"],
    )


def _table_missing(exc: HttpResponseError) -> bool:
    return exc.status_code == 404 and "TableNotFound" in f"{exc.error_code} {exc.message}"


class TableFeed:
    """Table plumbing shared by the feed's writers and its sweep: point reads, conditional
    transactions, the owed-row query. Failures become StorageUnavailable or
    ConcurrencyConflict, as in `shared.store`."""

    def __init__(
        self, service: TableServiceClient, table: str, pool: ThreadPoolExecutor | None = None
    ) -> None:
        self._service = service
        self.table: TableClient = service.get_table_client(table)
        self.pool = pool or ThreadPoolExecutor(max_workers=8, thread_name_prefix="feed")

    def call(self, fn: Callable[[], R]) -> R:
        try:
            try:
                return fn()
            except HttpResponseError as exc:
                if not _table_missing(exc):
                    raise
                with contextlib.suppress(ResourceExistsError):
                    self._service.create_table(self.table.table_name)
                return fn()
        except TableTransactionError as exc:
            if exc.status_code in (404, 409, 412):
                raise ConcurrencyConflict(str(exc.error_code)) from exc
            raise StorageUnavailable(f"table storage failed: {exc.status_code}") from exc
        except HttpResponseError as exc:
            if exc.status_code in (409, 412):
                raise ConcurrencyConflict(str(exc.error_code)) from exc
            raise StorageUnavailable(f"table storage failed: {exc.status_code}") from exc
        except AzureError as exc:
            raise StorageUnavailable(f"table storage failed: {type(exc).__name__}") from exc

    def get(self, partition: str, row: str) -> Any:
        """The entity, or None (a point read; a missing table is created, then read again)."""

        def read() -> Any:
            try:
                return self.table.get_entity(partition, row)
            except ResourceNotFoundError as exc:
                if _table_missing(exc):
                    raise
                return None

        return self.call(read)

    def get_many(self, keys: Sequence[tuple[str, str]]) -> list[Any]:
        """Concurrent point reads, in the order of `keys`."""
        return list(self.pool.map(lambda k: self.get(*k), keys))

    def transact(self, ops: list[Any]) -> list[dict[str, Any]]:
        """One entity-group transaction (<= 100 operations, one partition); each result holds
        the operation's new ETag."""
        return list(self.call(lambda: self.table.submit_transaction(ops)))

    def feed_rows(self, sender: str, recipients: Sequence[str]) -> list[FeedRow]:
        found = self.get_many([(sender, feed_key(r)) for r in recipients])
        return [
            parse_feed_row(e) if e is not None else FeedRow(sender, r)
            for r, e in zip(recipients, found, strict=True)
        ]

    def owed_rows(self, owed_before: datetime, page_size: int = 1000) -> Iterator[FeedRow]:
        """Every feed row with events owed since before `owed_before`, across all senders.

        A cross-partition query: the service scans the table (billed per page of up to 1000
        rows returned, or per 5 s of scanning); the sweep runs rarely and the inline publisher
        normally leaves nothing owed."""
        query = "RowKey ge @lo and RowKey lt @hi and OwedCount gt 0 and OwedSince lt @before"
        params = {"lo": FEED_PREFIX, "hi": FEED_END, "before": owed_before}

        def pages() -> list[FeedRow]:
            entities = self.table.query_entities(
                query, parameters=params, results_per_page=page_size
            )
            return [parse_feed_row(e) for e in entities]

        yield from self.call(pages)
