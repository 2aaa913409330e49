"""The change feed's sweep when nothing is owed (issue 19), for one sender with 100 and with
20,000 opted-out pairs: storage requests and time of `runtime.sweep_events` (the timer's
work), against a private Azurite.

    .venv/bin/python -m bench.sweep [--large 20000] [--rounds 10]

The sweep reads the owed markers by key (one query per `~owed|` shard of OptOuts and of
GroupOptOuts) and point-reads only the pairs they name, so with nothing owed its requests are
the same at any size. The query it replaced read every `~feed|` row of both tables (one per pair
that ever changed: the "rows the old scan read" column), in pages of 1000 rows on the real
service. Seeding writes the entries and their settled feed rows directly, 50 pairs per
transaction, 4 transactions at a time; Azurite's writes slow down as a partition grows (each
one walks the partition), so the 20,000 pairs take a few minutes there.

Then one row with markers present: the sweep right after 100 changes made through the API (all
published inline), whose markers it reads and whose feed rows it point-reads.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

from azure.data.tables import TransactionOperation

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import submit_batches  # noqa: E402
from devhost.inprocess import TEST_KEY, StorageRecorder, call  # noqa: E402
from devhost.testing import start_azurite  # noqa: E402
from shared import runtime  # noqa: E402
from shared.domain.changes import FeedRow  # noqa: E402
from shared.domain.model import Source  # noqa: E402
from shared.domain.phone import parse_e164  # noqa: E402
from shared.domain.sender import parse_sender  # noqa: E402
from shared.tables.feed_rows import feed_to_entity  # noqa: E402
from shared.tables.optouts import entry_to_entity  # noqa: E402

SENDER = parse_sender("+18005550100")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SEED_ATTEMPTS = 5


def seed(connection_string: str, table_name: str, first: int, n: int) -> float:
    """Pairs first..first+n-1 of SENDER: entry + feed row owing nothing; seconds taken."""
    start = time.perf_counter()
    ops = []
    for i in range(first, first + n):
        person = parse_e164(f"+1425{i:07d}")
        ops.append(entry_to_entity(SENDER, person, T0, Source.IMPORT))
        ops.append(feed_to_entity(FeedRow(SENDER.key, person.e164, 1, opted_out=True)))
    batches = [
        [(TransactionOperation.UPSERT, e) for e in ops[i : i + 100]]
        for i in range(0, len(ops), 100)
    ]

    submit_batches(connection_string, table_name, batches, attempts=SEED_ATTEMPTS)
    return time.perf_counter() - start


def measure(recorder: StorageRecorder, rounds: int) -> tuple[float, int, int]:
    """Median ms of a sweep, its requests, and how many of them were not `PartitionKey eq`
    queries or point reads (must be 0)."""
    runtime.sweep_events()  # warm up
    samples, counts, scans = [], set(), 0
    for _ in range(rounds):
        recorder.clear()
        start = time.perf_counter()
        runtime.sweep_events()
        samples.append((time.perf_counter() - start) * 1000)
        counts.add(recorder.count)
        scans += sum(
            1
            for method, _, flt in recorder.requests
            if method == "GET" and flt and not flt.startswith("PartitionKey eq ")
        )
    if len(counts) != 1:
        raise SystemExit(f"the sweep's requests varied between rounds: {sorted(counts)}")
    return median(samples), counts.pop(), scans


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--large", type=int, default=20_000, help="pairs of the large size")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    az = start_azurite()
    suffix = uuid.uuid4().hex[:8]
    env = {
        "AzureWebJobsStorage": az.connection_string,
        "OPTOUT_ACCESS_KEYS": TEST_KEY,
        "OPTOUT_TABLE_NAME": f"SweepOptOuts{suffix}",
        "OPTOUT_HISTORY_TABLE_NAME": f"SweepHistory{suffix}",
        "SENDER_PROGRAMS_TABLE_NAME": f"SweepPrograms{suffix}",
        "GROUP_OPTOUTS_TABLE_NAME": f"SweepGroups{suffix}",
    }
    os.environ.update(env)
    recorder = StorageRecorder()
    runtime.STORAGE_CLIENT_OPTIONS["raw_request_hook"] = recorder
    runtime.reset()
    rows: list[tuple[str, int, float, int, int]] = []
    try:
        runtime.store().ensure_tables()
        seeded = 0
        for size in (100, args.large):
            took = seed(az.connection_string, env["OPTOUT_TABLE_NAME"], seeded, size - seeded)
            print(f"seeded {size - seeded} pairs in {took:.1f}s")
            seeded = size
            ms, count, scans = measure(recorder, args.rounds)
            rows.append((f"sweep, nothing owed, {size} pairs", size, ms, count, scans))
        people = [{"to": f"+1206{i:07d}"} for i in range(100)]
        status, _ = call("POST", "sms/optouts:add", {"from": SENDER.key, "recipients": people})
        assert status == 200, status
        recorder.clear()
        start = time.perf_counter()
        runtime.sweep_events()
        ms = (time.perf_counter() - start) * 1000
        rows.append(("sweep after 100 API changes", seeded + 100, ms, recorder.count, 0))
    finally:
        runtime.reset()
        az.stop()

    print(f"{'case':<34}{'ms':>9}{'requests':>10}{'scans':>7}{'rows the old scan read':>24}")
    for name, size, ms, count, scans in rows:
        print(f"{name:<34}{ms:>9.1f}{count:>10}{scans:>7}{size:>24}")
    flat = rows[0][3] == rows[1][3]
    print(f"requests at 100 and {args.large} pairs: {rows[0][3]} / {rows[1][3]} (goal: equal)")
    return 0 if flat and not any(r[4] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
