"""One-off backfill for rows written before issue 19's version (docs/deployment.md):

- owed markers (`shared/tables/owed_marks.py`) for the change-feed rows that owe events, in
  OptOuts and GroupOptOuts: the sweep finds owed events only through markers, and a row left
  owed by an earlier version has none. Done first, so such events go out within minutes;
- the time-first index (`shared/tables/time_index.py`): every opt-out entry without its
  `~since|` copy, and every history row's `~time|` copy.

Run once after the upgrade:

    python -m shared.tables.backfill            # the app's settings: AzureWebJobsStorage, ...
    python -m shared.tables.backfill --resume   # go on from where a stopped run got to

- Idempotent: an entry that names its copy (`SinceKey`) is skipped; a history row's copy is
  written again identical; a marker is an upsert of the same row (a pair that owes nothing any
  more has its marker deleted by the sweep). Running it twice, or beside the app, changes
  nothing the app wrote.
- Safe beside the running app: each copy is written in one transaction with a conditional merge
  of its row (on the ETag read), so a row changed (or deleted) meanwhile is skipped (the app
  wrote that row's copy itself; or, for an entry deleted, there is nothing to index).
- Resumable, with progress: after each page it prints the rows read, indexed and skipped, and
  saves the page's continuation in a state file (`--state`); `--resume` starts from it.

It reads each table once, across partitions (`RowKey lt '~'` for the index; the feed rows with
`OwedCount gt 0` for the markers): the queries that may scan (devhost/query_rules.py's
allow-list), as a one-off. Cost: one query page per 1,000 rows, one transaction per 50 rows
of a partition (index), one per 100 owed pairs of a marker shard (markers).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.data.tables import TableClient, TransactionOperation, UpdateMode

from shared.domain.model import ConcurrencyConflict
from shared.tables.base import Entity, Operation, TableAdapter, chunks, if_unchanged
from shared.tables.feed_rows import FEED_END, FEED_PREFIX
from shared.tables.outbox import TableOutbox
from shared.tables.time_index import SINCE_KEY, history_time_key, since_key

log = logging.getLogger(__name__)

ROWS_FILTER = "RowKey lt '~'"  # entries and history rows; never the `~` rows beside them
# Change-feed rows that owe events (a sender's or a group's partition).
OWED_FILTER = f"RowKey ge '{FEED_PREFIX}' and RowKey lt '{FEED_END}' and OwedCount gt 0"
PAGE = 1000
ROWS_PER_TRANSACTION = 50  # the row's conditional merge + its copy
DEFAULT_STATE = Path(".backfill-time-index.json")


@dataclass
class Progress:
    table: str
    read: int = 0
    indexed: int = 0
    skipped: int = 0  # already indexed, or changed meanwhile (the app indexed it)
    token: Any = field(default=None, repr=False)
    verb: str = "indexed"  # what was done to the rows counted in `indexed`

    def line(self) -> str:
        return (
            f"{self.table}: {self.read} rows read, {self.indexed} {self.verb}, "
            f"{self.skipped} skipped" + ("" if self.token else " (done)")
        )


def _row_key(entity: Entity) -> dict[str, str]:
    return {"PartitionKey": entity["PartitionKey"], "RowKey": entity["RowKey"]}


def entry_copy(entry: Entity) -> tuple[Operation, Operation] | None:
    """The entry's conditional merge (naming its copy) and the copy; None if it has one."""
    if entry.get(SINCE_KEY) or entry.get("OptedOutAt") is None:
        return None
    key = since_key(entry["OptedOutAt"], entry["RowKey"])
    named = {**_row_key(entry), SINCE_KEY: key}
    merge = (TransactionOperation.UPDATE, named, {"mode": UpdateMode.MERGE, **_etag(entry)})
    copy = {**dict(entry), SINCE_KEY: key, "RowKey": key}
    return merge, (TransactionOperation.UPSERT, copy, {"mode": UpdateMode.REPLACE})


def history_copy(row: Entity) -> tuple[Operation, Operation] | None:
    """The history row's conditional (empty) merge, and its copy."""
    touch = (TransactionOperation.UPDATE, _row_key(row), {"mode": UpdateMode.MERGE, **_etag(row)})
    copy = {**dict(row), "RowKey": history_time_key(row["RowKey"])}
    return touch, (TransactionOperation.UPSERT, copy, {"mode": UpdateMode.REPLACE})


def _etag(entity: Entity) -> dict[str, Any]:
    return if_unchanged(entity.metadata["etag"])  # type: ignore[attr-defined]


Plan = Callable[[Entity], tuple[Operation, Operation] | None]


class Backfill:
    def __init__(self, adapter: TableAdapter, plan: Plan, progress: Progress) -> None:
        self._adapter = adapter
        self._table: TableClient = adapter._table
        self._plan = plan
        self.progress = progress

    def pages(self) -> Iterator[Progress]:
        """Index page after page (from `progress.token`), yielding the progress after each."""
        while True:
            pages = self._table.query_entities(ROWS_FILTER, results_per_page=PAGE).by_page(
                continuation_token=self.progress.token
            )
            rows = list(next(pages, []))
            self._index(rows)
            self.progress.token = pages.continuation_token
            yield self.progress
            if not self.progress.token:
                return

    def _index(self, rows: Sequence[Entity]) -> None:
        self.progress.read += len(rows)
        by_partition: dict[str, list[tuple[Operation, Operation]]] = {}
        for row in rows:
            plan = self._plan(row)
            if plan is None:
                self.progress.skipped += 1
            else:
                by_partition.setdefault(row["PartitionKey"], []).append(plan)
        for plans in by_partition.values():
            for chunk in chunks(plans, ROWS_PER_TRANSACTION):
                self._submit(chunk)

    def _submit(self, plans: Sequence[tuple[Operation, Operation]]) -> None:
        try:
            self._adapter.submit([op for plan in plans for op in plan])
            self.progress.indexed += len(plans)
        except ConcurrencyConflict:  # one row changed meanwhile: each alone, skip that one
            if len(plans) == 1:
                self.progress.skipped += 1
                return
            for plan in plans:
                self._submit([plan])


class MarkOwed:
    """Owed markers for the feed rows of one outbox's table that owe events (a row left owed
    by a version before the markers has none, so the sweep would never find it). A marker
    names the pair only: the sweep reads the row and publishes what it owes then, so a row
    published or changed meanwhile needs nothing here."""

    def __init__(self, outbox: TableOutbox, progress: Progress) -> None:
        self._outbox = outbox
        self._table: TableClient = outbox._table
        self.progress = progress

    def pages(self) -> Iterator[Progress]:
        while True:
            pages = self._table.query_entities(
                OWED_FILTER, select=["PartitionKey", "RowKey"], results_per_page=PAGE
            ).by_page(continuation_token=self.progress.token)
            rows = list(next(pages, []))
            self.progress.read += len(rows)
            by_partition: dict[str, list[str]] = {}
            for row in rows:
                recipient = row["RowKey"][len(FEED_PREFIX) :]
                by_partition.setdefault(row["PartitionKey"], []).append(recipient)
            for partition, recipients in by_partition.items():
                self._outbox.mark_owed(partition, recipients)
                self.progress.indexed += len(recipients)
            self.progress.token = pages.continuation_token
            yield self.progress
            if not self.progress.token:
                return


Job = Callable[[Progress], Any]  # a progress -> something with `pages()`


def run(
    store: Any,
    *,
    state: Path | None = None,
    resume: bool = False,
    echo: Callable[[str], None] = print,
) -> list[Progress]:
    """Backfill a TableStore: owed markers for the feed rows of OptOuts and GroupOptOuts that
    owe events, then the time index of OptOuts entries and history; returns each job's
    progress (jobs done in an earlier run, with `resume`, are left out)."""
    saved: dict[str, Any] = {}
    if resume and state is not None and state.exists():
        saved = json.loads(state.read_text())
    jobs: list[tuple[TableAdapter, str, str, Job]] = [
        (store.feed, "owed events", "marked", lambda p: MarkOwed(store.feed, p)),
        (store.groups, "owed events", "marked", lambda p: MarkOwed(store.groups, p)),
        (store.optouts, "entries", "indexed", lambda p: Backfill(store.optouts, entry_copy, p)),
        (store.history, "history", "indexed", lambda p: Backfill(store.history, history_copy, p)),
    ]
    done: list[Progress] = []
    for adapter, kind, verb, job in jobs:
        name = f"{adapter._table.table_name} ({kind})"
        previous = saved.get(name, {})
        if previous.get("done"):
            echo(f"{name}: done in an earlier run")
            continue
        progress = Progress(name, token=previous.get("token"), verb=verb)
        adapter.ensure()
        for step in job(progress).pages():
            saved[name] = {"token": step.token, "done": not step.token}
            if state is not None:
                state.write_text(json.dumps(saved))
            echo(step.line())
        done.append(progress)
    return done


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.tables.backfill",
        description="One-off, after upgrading to the version with owed markers and the time"
        " index: mark the change-feed rows that owe events, and index existing entries and"
        " history rows by time. Uses the app's storage settings.",
    )
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE, help="progress file")
    parser.add_argument("--resume", action="store_true", help="go on from the progress file")
    args = parser.parse_args(argv)
    from shared.platform.connections import table_service_client
    from shared.platform.settings import Settings
    from shared.tables import TableStore

    settings = Settings.from_env()
    store = TableStore(
        table_service_client(),
        settings.optout_table,
        settings.history_table,
        settings.programs_table,
        groups_table=settings.groups_table,
    )
    run(store, state=args.state, resume=args.resume)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main())
