"""Time windows by key (issue 19): storage requests and latency of a one-day compliance report
and of a `since` list page, for one sender with 100 and with 20,000 entries and history rows.

    .venv/bin/python -m bench.time_windows [--sizes 100,20000] [--rounds 5]

Both read a RowKey range of time-first copies (docs/storage.md#time-windows), so the requests
are the same at both sizes; the run fails (exit code 1) if they are not. Seeding writes the
rows as the app does (each row with its copy, `shared/tables/time_index.py`) in batch
transactions of 50 rows, several at once.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from azure.core.exceptions import ServiceRequestError, ServiceResponseError  # noqa: E402

from bench.common import report_rows, submit_batches  # noqa: E402
from devhost.inprocess import TEST_KEY, StorageRecorder, call  # noqa: E402
from devhost.testing import start_azurite  # noqa: E402
from shared import runtime  # noqa: E402
from shared.domain.model import (  # noqa: E402
    Action,
    HistoryRecord,
    Outcome,
    Source,
)
from shared.domain.phone import parse_e164  # noqa: E402
from shared.domain.sender import parse_sender  # noqa: E402
from shared.tables.base import chunks, upsert  # noqa: E402
from shared.tables.history import to_entity as history_entity  # noqa: E402
from shared.tables.history import with_time_copies  # noqa: E402
from shared.tables.optouts import entry_to_entity  # noqa: E402
from shared.tables.time_index import entry_with_index  # noqa: E402

YEAR = datetime(2026, 1, 1, tzinfo=UTC)
DAY = YEAR + timedelta(days=180)  # the report's day and the list's `since`


def seed(sender: str, rows: int, connection: str) -> float:
    """`rows` entries and `rows` history rows spread over a year, each with its time copy."""
    start = time.perf_counter()
    step = timedelta(days=365) / rows
    who = parse_sender(sender)
    store = runtime.store()
    entry_ops, history_ops = [], []
    for i in range(rows):
        when = YEAR + step * i
        person = parse_e164(f"+1425{i:07d}")
        pair = entry_with_index(entry_to_entity(who, person, when, Source.API))
        entry_ops += [upsert(e) for e in pair]
        record = HistoryRecord(
            sender=sender,
            recipient=person.e164,
            action=(Action.OPT_OUT, Action.OPT_IN, Action.HELP)[i % 3],
            source=Source.KEYWORD,
            event_id=f"bench-{i}",
            message_id=f"bench-{i}",
            event_at=when,
            outcome=Outcome.HELP if i % 3 == 2 else Outcome.APPLIED,
            keyword=("STOP", "START", "HELP")[i % 3],
            effective_at=when,
        )
        history_ops += with_time_copies([upsert(history_entity(record, when))])

    # A long read timeout: Azurite's batches slow down as a partition grows.
    names = (store.optouts._table.table_name, store.history._table.table_name)
    for name, ops in zip(names, (entry_ops, history_ops), strict=True):
        submit_batches(
            connection,
            name,
            chunks(ops, 100),
            attempts=8,
            retry_on=(ServiceRequestError, ServiceResponseError),
            connection_timeout=30,
            read_timeout=600,
        )
    return time.perf_counter() - start


def report(sender: str) -> Callable[[], int]:
    """The one-day report, every page; returns its rows."""

    def run() -> int:
        return report_rows(sender, DAY, DAY + timedelta(days=1))

    return run


def since_page(sender: str) -> Callable[[], int]:
    """The first page (100) of the entries opted out since the day; returns its rows."""

    def run() -> int:
        query = f"api-version=2026-01-23&since={quote(DAY.isoformat())}&maxpagesize=100"
        status, body = call("GET", f"sms/senders/{sender}/optouts", query=query)
        assert status == 200, body
        return len(body["value"])

    return run


def measure(
    fn: Callable[[], int], rounds: int, recorder: StorageRecorder
) -> tuple[float, int, int]:
    times, rows, requests = [], 0, 0
    fn()  # warm: the tables' clients, the program cache
    for _ in range(rounds):
        recorder.clear()
        t0 = time.perf_counter()
        rows = fn()
        times.append((time.perf_counter() - t0) * 1000)
        requests = recorder.count
        assert recorder.scans() == [], recorder.scans()
    return median(times), requests, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100,20000")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    az = start_azurite()
    suffix = uuid.uuid4().hex[:8]
    os.environ.update(
        {
            "AzureWebJobsStorage": az.connection_string,
            "OPTOUT_ACCESS_KEYS": TEST_KEY,
            "OPTOUT_TABLE_NAME": f"TwOptOuts{suffix}",
            "OPTOUT_HISTORY_TABLE_NAME": f"TwHistory{suffix}",
            "SENDER_PROGRAMS_TABLE_NAME": f"TwPrograms{suffix}",
        }
    )
    recorder = StorageRecorder()
    runtime.STORAGE_CLIENT_OPTIONS["raw_request_hook"] = recorder
    runtime.reset()
    results: dict[str, list[tuple[int, float, int, int]]] = {"report": [], "since": []}
    try:
        runtime.store().ensure_tables()
        for n, size in enumerate(sizes):
            sender = f"+1800555{n:04d}"
            took = seed(sender, size, az.connection_string)
            print(f"seeded {size} entries + {size} history rows in {took:.1f}s")
            for name, fn in (("report", report(sender)), ("since", since_page(sender))):
                results[name].append((size, *measure(fn, args.rounds, recorder)))
    finally:
        runtime.reset()
        az.stop()
    print(f"{'call':<34}{'size':>8}{'ms':>9}{'requests':>10}{'rows':>7}")
    labels = {"report": "report, one day (all pages)", "since": "list since a day, one page"}
    flat = True
    for name, rows in results.items():
        for size, ms, requests, found in rows:
            print(f"{labels[name]:<34}{size:>8}{ms:>9.1f}{requests:>10}{found:>7}")
        flat &= len({requests for _, _, requests, _ in rows}) == 1
    print("requests equal at every size:", "yes" if flat else "NO")
    return 0 if flat else 1


if __name__ == "__main__":
    raise SystemExit(main())
