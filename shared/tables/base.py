"""Plumbing shared by the Table adapters: SDK errors to domain exceptions, a missing table created
on first use, transactions in batches, point reads in parallel.

Real-service limits are honoured here even where Azurite is lenient: at most 100 operations per
transaction, each entity once; membership is asked with point reads, never an `or` of RowKeys
(that scans the partition on the real service).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.data.tables import (
    TableErrorCode,
    TableServiceClient,
    TableTransactionError,
    TransactionOperation,
    UpdateMode,
)

from shared.domain.model import AlreadyRecorded, ConcurrencyConflict, StorageUnavailable

T = TypeVar("T")
R = TypeVar("R")
Entity = dict[str, Any]
Operation = tuple[Any, ...]  # (TransactionOperation, entity[, kwargs]) as submit_transaction takes

MAX_TRANSACTION_OPERATIONS = 100
# Transactions of one call in flight at once: a table partition's scalability target is 2,000
# entities/s, so a few 100-entity transactions at a time keep a bulk import under it (instead of
# inviting 503 ServerBusy), while still overlapping their round trips.
MAX_PARALLEL_TRANSACTIONS = 4
# Concurrent point reads per call; the HTTP transport's connection pool is sized to match.
MAX_PARALLEL_READS = 16


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def if_unchanged(etag: str) -> dict[str, Any]:
    """The keyword arguments of a write conditional on the entity's ETag."""
    return {"etag": etag, "match_condition": MatchConditions.IfNotModified}


def without_none(entity: Entity) -> Entity:
    return {k: v for k, v in entity.items() if v is not None}


def error_code(exc: HttpResponseError) -> str | None:
    """The service's error code; from the body when the SDK did not decode it (create_entity
    does not)."""
    code = getattr(exc, "error_code", None)
    if code is None and exc.response is not None:
        try:
            code = exc.response.json()["odata.error"]["code"]
        except (ValueError, KeyError, TypeError):
            return None
    return code


def table_missing(exc: HttpResponseError) -> bool:
    return exc.status_code == 404 and error_code(exc) == TableErrorCode.TABLE_NOT_FOUND


def _unavailable(exc: AzureError) -> StorageUnavailable:
    status = getattr(exc, "status_code", None)
    code = getattr(exc, "error_code", None)
    return StorageUnavailable(f"table storage failed: {type(exc).__name__} {status} {code}")


def translate(exc: AzureError) -> Exception:
    """An SDK exception as the domain's: conflicts, duplicates, or storage unavailable."""
    if isinstance(exc, TableTransactionError):
        if exc.status_code in (404, 409, 412) and not table_missing(exc):
            return ConcurrencyConflict(str(error_code(exc)))
        return _unavailable(exc)
    if isinstance(exc, ResourceExistsError):
        return AlreadyRecorded(str(error_code(exc)))
    if isinstance(exc, HttpResponseError) and exc.status_code == 412:
        return ConcurrencyConflict(str(error_code(exc)))
    return _unavailable(exc)


class TableAdapter:
    """One table: runs SDK calls with the table created on first use and errors translated."""

    def __init__(self, service: TableServiceClient, table_name: str, pool: ThreadPoolExecutor):
        self._service = service
        self._table = service.get_table_client(table_name)
        self._pool = pool

    def call(self, fn: Callable[[], R]) -> R:
        """Run `fn`; if the table does not exist yet, create it and run `fn` again (once)."""
        try:
            try:
                return fn()
            except HttpResponseError as exc:
                if not table_missing(exc):
                    raise
                self.ensure()
                return fn()
        except ResourceNotFoundError:
            raise
        except AzureError as exc:
            raise translate(exc) from exc

    def ensure(self) -> None:
        with contextlib.suppress(ResourceExistsError):
            self._service.create_table(self._table.table_name)

    def get_or_none(self, partition: str, row: str) -> Entity | None:
        """One point read: the entity, or None when it does not exist."""

        def get() -> Entity | None:
            try:
                return self._table.get_entity(partition, row)
            except ResourceNotFoundError as exc:
                if table_missing(exc):
                    raise  # `call` creates the table
                return None

        return self.call(get)

    def get_many(self, partition: str, rows: Iterable[str]) -> dict[str, Entity]:
        """Concurrent point reads: the entities that exist, by RowKey (one is read inline)."""
        keys = list(dict.fromkeys(rows))
        found: Iterable[Entity | None]
        if len(keys) == 1:
            found = [self.get_or_none(partition, keys[0])]
        else:
            found = self._pool.map(lambda row: self.get_or_none(partition, row), keys)
        return {row: e for row, e in zip(keys, found, strict=True) if e is not None}

    def delete(self, partition: str, row: str) -> None:
        """A single delete; a missing entity is not an error."""
        self.call(lambda: self._table.delete_entity(partition, row))

    def submit(self, ops: Sequence[Operation]) -> list[dict[str, Any]]:
        """One transaction (<= 100 operations, one partition); each result has the new ETag."""
        return list(self.call(lambda: self._table.submit_transaction(list(ops))))

    def transact(self, ops: Sequence[Operation]) -> None:
        """Entity-group transactions of at most 100 operations each (one partition); more than
        one run in parallel (bulk imports: every caller's operations are idempotent)."""
        self.in_parallel(self.submit, chunks(ops, MAX_TRANSACTION_OPERATIONS))

    def in_parallel(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """`fn` over `items`, at most MAX_PARALLEL_TRANSACTIONS at a time (one alone inline)."""
        if len(items) == 1:
            return [fn(items[0])]
        results: list[R] = []
        for group in chunks(items, MAX_PARALLEL_TRANSACTIONS):
            results += self._pool.map(fn, group)
        return results


def upsert(entity: Entity) -> Operation:
    return (TransactionOperation.UPSERT, entity, {"mode": UpdateMode.REPLACE})


def replace_or_create(entity: Entity, etag: str | None) -> Operation:
    """Create the entity, or replace it if unchanged since it was read with `etag`."""
    if etag is None:
        return (TransactionOperation.CREATE, entity)
    return (TransactionOperation.UPDATE, entity, {"mode": UpdateMode.REPLACE, **if_unchanged(etag)})
