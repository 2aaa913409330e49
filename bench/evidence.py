"""Evidence endpoints (issue 12): storage requests and latency of the as-of status and of the
compliance report, for a sender whose history has `--rows` rows spread over a year.

    .venv/bin/python -m bench.evidence [--rows 10000] [--rounds 5]

What it shows:
- as-of = the sender's program (its group?, from the 30 s cache) + one RowKey-range query (the
  pair's history), whatever the partition's size;
- the report is one query per page over the RowKey range of the window's time-first copies
  (docs/storage.md#time-windows): a one-day window reads that day, not the year
  (`bench/time_windows.py` compares 100 and 20,000 rows), and memory stays at one page.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import report_rows  # noqa: E402
from devhost.inprocess import TEST_KEY, StorageRecorder, call  # noqa: E402
from devhost.testing import start_azurite  # noqa: E402
from shared import runtime  # noqa: E402
from shared.domain.model import Action, HistoryRecord, Outcome, Source  # noqa: E402

SENDER, PERSON = "+18005550100", "+14255550000"
YEAR = datetime(2026, 1, 1, tzinfo=UTC)


def seed(rows: int) -> None:
    start = time.perf_counter()
    step = timedelta(days=365) / rows
    records = [
        HistoryRecord(
            sender=SENDER,
            recipient=f"+1425555{i % 1000:04d}",
            action=(Action.OPT_OUT, Action.OPT_IN, Action.HELP)[i % 3],
            source=Source.KEYWORD,
            event_id=f"bench-{i}",
            message_id=f"bench-{i}",
            event_at=YEAR + step * i,
            outcome=Outcome.HELP if i % 3 == 2 else Outcome.APPLIED,
            keyword=("STOP", "START", "HELP")[i % 3],
        )
        for i in range(rows)
    ]
    history = runtime.store().history
    for first in range(0, rows, 1000):
        history.record_history(records[first : first + 1000])
    print(f"seeded {rows} history rows over a year in {time.perf_counter() - start:.1f}s")


def report(start: datetime, end: datetime) -> Callable[[], int]:
    """Read the whole window page by page; returns the number of rows."""

    def run() -> int:
        return report_rows(SENDER, start, end)

    return run


def as_of() -> int:
    status, body = call("GET", f"sms/senders/{SENDER}/recipients/{PERSON}", query="")
    assert status == 200, body
    return len(body["events"])


def measure(name: str, fn: Callable[[], int], rounds: int, recorder: StorageRecorder) -> None:
    times, result = [], 0
    for _ in range(rounds):
        recorder.clear()
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    print(f"{name:<28}{median(times):>10.1f}{recorder.count:>10}{result:>8}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    az = start_azurite()
    suffix = uuid.uuid4().hex[:8]
    os.environ.update(
        {
            "AzureWebJobsStorage": az.connection_string,
            "OPTOUT_ACCESS_KEYS": TEST_KEY,
            "OPTOUT_HISTORY_TABLE_NAME": f"EvHistory{suffix}",
        }
    )
    recorder = StorageRecorder()
    runtime.STORAGE_CLIENT_OPTIONS["raw_request_hook"] = recorder
    runtime.reset()
    try:
        seed(args.rows)
        print(f"{'call':<28}{'ms':>10}{'requests':>10}{'rows':>8}")
        measure("as-of (one pair)", as_of, args.rounds, recorder)
        day = YEAR + timedelta(days=180)
        measure("report, one day", report(day, day + timedelta(days=1)), args.rounds, recorder)
        measure("report, the year", report(YEAR, YEAR + timedelta(days=366)), 1, recorder)
    finally:
        runtime.reset()
        az.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
