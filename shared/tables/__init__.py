"""The Table Storage adapters: the only code that knows Table entities. One module per table,
each with one `to_entity`/`from_entity` pair; `base.py` holds the SDK plumbing.

All tables are partitioned by sender (`SenderId.key`: E.164, short code or alphanumeric ID).
A new table: a module here with an adapter class (a `TableAdapter` subclass) implementing its
protocol from `shared/domain/repositories.py`, and one line in `TableStore` below.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from azure.data.tables import TableServiceClient

from shared.platform.settings import DEFAULT_GROUPS_TABLE, DEFAULT_MIRROR_TABLE
from shared.tables.base import MAX_PARALLEL_READS, TableAdapter
from shared.tables.bulk import TableBulkOptOuts
from shared.tables.feed import TableChangeFeed
from shared.tables.groups import TableGroupOptOuts
from shared.tables.history import TableHistory
from shared.tables.mirror import TableKnownRecipients, TableMirrorJournal
from shared.tables.optouts import TableOptOuts
from shared.tables.programs import TablePrograms


def utcnow() -> datetime:
    return datetime.now(UTC)


class TableStore:
    """The app's tables on one account, sharing one bounded pool for concurrent point reads."""

    def __init__(
        self,
        service: TableServiceClient,
        optout_table: str,
        history_table: str,
        programs_table: str,
        *,
        groups_table: str = DEFAULT_GROUPS_TABLE,
        mirror_table: str = DEFAULT_MIRROR_TABLE,
        clock: Callable[[], datetime] = utcnow,
        max_parallel_reads: int = MAX_PARALLEL_READS,
    ) -> None:
        self._service = service
        pool = ThreadPoolExecutor(max_workers=max_parallel_reads, thread_name_prefix="tbl")
        self.optouts = TableOptOuts(service, optout_table, pool)
        self.bulk = TableBulkOptOuts(service, optout_table, pool)  # same table, seen whole
        # Same table: a change and its feed row in one transaction; clears share the
        # keyword changes' transactions.
        self.feed = TableChangeFeed(
            service, optout_table, pool, transactions=self.optouts.transactions
        )
        self.history = TableHistory(service, history_table, pool, clock)
        self.programs = TablePrograms(service, programs_table, pool)
        self.groups = TableGroupOptOuts(service, groups_table, pool)
        self.mirror = TableMirrorJournal(service, mirror_table, pool)
        self.known_recipients = TableKnownRecipients(self.optouts, self.history)

    @property
    def adapters(self) -> tuple[TableAdapter, ...]:
        return (self.optouts, self.history, self.programs, self.groups, self.mirror)

    def ensure_tables(self) -> None:
        for adapter in self.adapters:
            adapter.call(adapter.ensure)

    def ping(self) -> None:
        """Health: one cheap request (StorageUnavailable when storage is unreachable)."""

        def query() -> None:
            next(iter(self._service.list_tables(results_per_page=1).by_page()), None)

        self.optouts.call(query)
