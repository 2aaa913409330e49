"""Benchmark: storage requests (what users pay for) and latency per call, against Azurite.

    make bench            # or: .venv/bin/python -m bench.bench --rounds 30

Calls go through the registered functions (as the host invokes them) with signed requests, on
a private in-memory Azurite. Latency on Azurite is only a relative measure; the request counts
are exactly what the real Table service would bill.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import measure  # noqa: E402
from bench.mirror import mirror_rows  # noqa: E402
from bench.send import send_rows  # noqa: E402
from devhost.inprocess import TEST_KEY, StorageRecorder, call  # noqa: E402
from devhost.testing import start_azurite  # noqa: E402
from shared import runtime  # noqa: E402
from shared.inbound.bursts import Bursts  # noqa: E402
from shared.inbound.events import InboundSms  # noqa: E402
from shared.inbound.processor import InboundProcessor  # noqa: E402
from shared.inbound.program_cache import CachedPrograms  # noqa: E402
from shared.inbound.reply_sender import LoggingReplySender  # noqa: E402

SENDER = "+18005550100"


Row = tuple[str, float, float, float, int, float]


def api_rows(rounds: int, recorder: StorageRecorder) -> list[Row]:
    rows = []
    for n in (1, 14, 100):
        people = [f"+1425555{i:04d}" for i in range(n)]
        body = {"from": SENDER, "recipients": [{"to": p} for p in people]}
        for action in ("add", "check", "remove", "remove (absent)"):
            route = f"sms/optouts:{action.split()[0]}"
            # "remove" measures opting people back in: re-add them first (not counted).
            setup = (
                (lambda b=body: call("POST", "sms/optouts:add", b)) if action == "remove" else None
            )
            timed = measure(lambda r=route, b=body: call("POST", r, b), rounds, recorder, setup)
            rows.append((f"{action} x{n}", *timed))
    return rows


def keyword_rows(rounds: int, recorder: StorageRecorder) -> list[Row]:
    tables = runtime.store()
    proc = InboundProcessor(
        tables.optouts,
        tables.history,
        tables.programs,
        LoggingReplySender(),
        runtime.settings(),
        feed=runtime.change_feed(),
    )
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    counter = iter(range(10**9))

    def keyword() -> None:
        i = next(counter)
        text = "STOP" if i % 2 == 0 else "START"
        at = t0 + timedelta(seconds=i)
        proc.handle(InboundSms(f"m{i}", f"e{i}", SENDER, "+14255550123", text, at))

    def chatter() -> None:
        proc.handle(InboundSms("x", "x", SENDER, "+14255550123", "see you at 5", t0))

    return [
        ("keyword STOP/START", *measure(keyword, rounds, recorder)),
        ("non-keyword text", *measure(chatter, rounds, recorder)),
        # The change feed's timer: one `PartitionKey eq` query per owed-marker shard of OptOuts
        # and GroupOptOuts (32), + a point read per pair changed in the last minutes.
        ("events sweep (none owed)", *measure(runtime.sweep_events, rounds, recorder)),
    ]


# --- revoke-all groups (issue 12) ---------------------------------------------------------------

GROUP_SENDER = "+18005550111"


def group_rows(rounds: int, recorder: StorageRecorder) -> list[Row]:
    """check on a revoke-all sender (its own and its group's partition, read concurrently), and
    a STOP/START to it (its own partition, then the group's)."""
    program = {"group": "bench", "revokeAll": True}
    call("PUT", f"sms/senders/{GROUP_SENDER}/program", program, query="")
    rows = []
    for n in (1, 14, 100):
        people = [f"+1425555{i:04d}" for i in range(n)]
        body = {"from": GROUP_SENDER, "recipients": [{"to": p} for p in people]}
        timed = measure(lambda b=body: call("POST", "sms/optouts:check", b), rounds, recorder)
        rows.append((f"check x{n} (revoke-all)", *timed))
    tables = runtime.store()
    proc = InboundProcessor(
        tables.optouts,
        tables.history,
        tables.programs,
        LoggingReplySender(),
        runtime.settings(),
        feed=runtime.change_feed(),
        groups=tables.groups,
    )
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    counter = iter(range(10**9))

    def keyword() -> None:
        i = next(counter)
        at = t0 + timedelta(seconds=i)
        text = "STOP" if i % 2 == 0 else "START"
        proc.handle(InboundSms(f"g{i}", f"g{i}", GROUP_SENDER, "+14255550123", text, at))

    rows.append(("keyword (revoke-all)", *measure(keyword, rounds, recorder)))
    return rows + group_change_rows(rounds, recorder)


def group_change_rows(rounds: int, recorder: StorageRecorder) -> list[Row]:
    """A STOP / START to a revoke-all sender that changes its own entry and the group-wide one
    (two change-feed events), each on its own (not in a burst of keyword events)."""
    tables = runtime.store()
    quiet = InboundProcessor(
        tables.optouts,
        tables.history,
        CachedPrograms(tables.programs),
        LoggingReplySender(),
        runtime.settings(),
        feed=runtime.change_feed(),
        groups=tables.groups,
        bursts=Bursts(window=0),
    )
    t0 = datetime(2026, 2, 1, tzinfo=UTC)
    counter = iter(range(10**9))

    def text(word: str) -> Callable[[], object]:
        def send() -> object:
            i = next(counter)
            at = t0 + timedelta(seconds=i)
            return quiet.handle(
                InboundSms(f"q{i}", f"q{i}", GROUP_SENDER, "+14255550124", word, at)
            )

        return send

    stop, start = text("STOP"), text("START")
    return [
        ("STOP (revoke-all, quiet)", *measure(stop, rounds, recorder, setup=start)),
        ("START (revoke-all, quiet)", *measure(start, rounds, recorder, setup=stop)),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    az = start_azurite()
    recorder = StorageRecorder()
    suffix = uuid.uuid4().hex[:8]
    os.environ.update(
        {
            "AzureWebJobsStorage": az.connection_string,
            "OPTOUT_ACCESS_KEYS": TEST_KEY,
            "OPTOUT_TABLE_NAME": f"BenchOptOuts{suffix}",
            "OPTOUT_HISTORY_TABLE_NAME": f"BenchHistory{suffix}",
            "SENDER_PROGRAMS_TABLE_NAME": f"BenchPrograms{suffix}",
            "GROUP_OPTOUTS_TABLE_NAME": f"BenchGroups{suffix}",
            "OPTOUT_MIRROR_TABLE_NAME": f"BenchMirror{suffix}",
        }
    )
    runtime.STORAGE_CLIENT_OPTIONS["raw_request_hook"] = recorder
    runtime.reset()
    try:
        runtime.store().ensure_tables()
        rows = api_rows(args.rounds, recorder) + keyword_rows(args.rounds, recorder)
        rows += group_rows(args.rounds, recorder)
        rows += send_rows(args.rounds, recorder)
        rows += mirror_rows(args.rounds, recorder)
    finally:
        runtime.reset()
        az.stop()

    head = f"{'call':<26}{'median ms':>10}{'p95 ms':>10}{'requests':>10}{'max req':>9}"
    print(head + f"{'of which events':>17}")
    for name, median, p95, mean_count, max_count, events in rows:
        line = f"{name:<26}{median:>10.1f}{p95:>10.1f}{mean_count:>10.1f}{max_count:>9}"
        print(line + f"{events:>17.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
