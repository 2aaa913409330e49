"""What several benches do alike: seed a table with batch transactions, time a call while
counting its storage requests, read a compliance report to its last page."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any
from urllib.parse import quote

from azure.core.exceptions import ServiceResponseError
from azure.data.tables import TableClient

from devhost.inprocess import StorageRecorder, call, call_link


def submit_batches(
    connection: str,
    table_name: str,
    batches: list[list[tuple]],
    attempts: int = 5,
    retry_on: tuple[type[Exception], ...] = (ServiceResponseError,),
    **client_options: Any,
) -> None:
    """Each batch as a transaction, 4 at a time, each thread with its own client (Azurite
    resets connections shared under concurrent batches, and may reset one mid-seed). After
    `retry_on`, a new client sends the batch again (up to `attempts` times): the benches seed
    with upserts, so a batch sent again is the same batch."""

    def client() -> TableClient:
        return TableClient.from_connection_string(connection, table_name, **client_options)

    def load(part: list[list[tuple]]) -> None:
        table = client()
        try:
            for batch in part:
                for attempt in range(attempts):
                    try:
                        table.submit_transaction(batch)
                        break
                    except retry_on:
                        if attempt == attempts - 1:
                            raise
                        table.close()
                        table = client()
                        time.sleep(1.0)
        finally:
            table.close()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(load, [batches[i::4] for i in range(4)]))


def measure(
    fn: Callable[[], object],
    rounds: int,
    recorder: StorageRecorder,
    setup: Callable[[], object] | None = None,
) -> tuple[float, float, float, int, float]:
    """`fn` run `rounds` times (after `setup` each time, not counted): median ms, p95 ms, mean
    and max storage requests, and the mean of those that put a queue message (the change
    feed's events, the mirror's nudges)."""
    times, counts, queued = [], [], []
    for _ in range(rounds):
        if setup is not None:
            setup()
        recorder.clear()
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
        counts.append(recorder.count)
        queued.append(sum(1 for _, path, _ in recorder.requests if path.endswith("/messages")))
    times.sort()
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    return (
        statistics.median(times),
        p95,
        statistics.mean(counts),
        max(counts),
        statistics.mean(queued),
    )


def report_rows(sender: str, start: datetime, end: datetime) -> int:
    """`GET .../report` for the window, every page; returns the number of rows."""
    window = f"from={quote(start.isoformat())}&to={quote(end.isoformat())}"
    status, body = call("GET", f"sms/senders/{sender}/report", query=window)
    rows = 0
    while True:
        assert status == 200, body
        rows += len(body["value"])
        if "nextLink" not in body:  # the last page
            return rows
        status, body = call_link(body["nextLink"])
