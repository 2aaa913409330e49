"""The hot path at any list size (issue 14): `check` against a small and a large sender, next to
raw SDK point reads at the same concurrency, and keep-alive vs new-connection HTTP latency.

    .venv/bin/python -m bench.hotpath [--rounds 30] [--large 100000]

Goals (ratios, one run, so the machine's noise cancels out):
- app `check` large/small <= 1.3x, or no worse than raw point reads' own ratio on the emulator;
- app `check`x1 <= 2.5x of one raw point read (the program comes from the 30 s cache);
- app `check`x100 <= 1.5x of 100 raw concurrent point reads;
- keep-alive `check`x1 no slower than a new connection per call;
- `check`xn = n point reads, 0 queries that `or` RowKeys (a scan on the real service).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from statistics import median

import requests
from azure.data.tables import TableClient, TableServiceClient, TransactionOperation

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import submit_batches  # noqa: E402
from devhost.inprocess import TEST_KEY, StorageRecorder, call  # noqa: E402
from devhost.testing import Azurite, start_azurite, start_host  # noqa: E402
from shared import runtime  # noqa: E402
from shared.platform.hmac_auth import sign_request  # noqa: E402
from shared.tables.base import MAX_PARALLEL_READS  # noqa: E402

SMALL, LARGE = "+18005550100", "+18005550199"
SEED_ATTEMPTS = 5
CHECK = "sms/optouts:check"


def people(n: int) -> list[str]:
    return [f"+1425{i:07d}" for i in range(n)]


def seed(connection_string: str, table_name: str, sender: str, n: int) -> None:
    """n opt-out entries for `sender`, 100 per transaction, 4 transactions at a time (each
    thread with its own client: Azurite resets connections shared under concurrent batches)."""
    start = time.perf_counter()
    ops = [
        (
            TransactionOperation.UPSERT,
            {"PartitionKey": sender, "RowKey": p, "Sender": sender, "Recipient": p},
        )
        for p in people(n)
    ]
    batches = [ops[i : i + 100] for i in range(0, len(ops), 100)]
    submit_batches(connection_string, table_name, batches, attempts=SEED_ATTEMPTS)
    print(f"seeded {n} entries for a sender in {time.perf_counter() - start:.1f}s")


def timed(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median milliseconds of each of `fns`, measured in turn within each round so that the
    machine's drift affects them alike (after one warm-up call each)."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - start) * 1000)
    return {name: median(values) for name, values in samples.items()}


def app_check(sender: str, n: int) -> Callable[[], object]:
    # Recipients spread over the sender's list (present in both the small and the large one).
    body = {"from": sender, "recipients": [{"to": p} for p in people(n)]}

    def run() -> None:
        status, _ = call("POST", CHECK, body)
        assert status == 200, status

    return run


def raw_reads(table: TableClient, sender: str, n: int, pool: ThreadPoolExecutor) -> Callable:
    keys = people(n)

    def run() -> None:
        list(pool.map(lambda k: table.get_entity(sender, k), keys))

    return run


def storage_rows(rounds: int, recorder: StorageRecorder, table: TableClient) -> list[str]:
    lines = []
    senders = {"small": SMALL, "large": LARGE}
    with ThreadPoolExecutor(MAX_PARALLEL_READS) as pool:
        for n in (1, 100):
            fns: dict[str, Callable[[], object]] = {}
            for label, sender in senders.items():
                fns[f"app {label}"] = app_check(sender, n)
                fns[f"raw {label}"] = raw_reads(table, sender, n, pool)
            ms = timed(fns, rounds)
            for label, sender in senders.items():
                recorder.clear()
                app_check(sender, n)()
                reads, scans = recorder.count, len(recorder.rowkey_or_filters())
                app, raw = ms[f"app {label}"], ms[f"raw {label}"]
                lines.append(
                    f"check x{n:<4} {label:<6}{app:>10.1f}{raw:>10.1f}{reads:>10}{scans:>7}"
                )
            app_ratio, raw_ratio = (
                ms["app large"] / ms["app small"],
                ms["raw large"] / ms["raw small"],
            )
            lines.append(
                f"  x{n}: large/small app {app_ratio:.2f}x, raw {raw_ratio:.2f}x "
                "(goal <= 1.3x, or <= raw's own ratio)"
            )
            if n == 1:
                over = ms["app small"] / ms["raw small"]
                lines.append(f"  x1 small: app / one raw point read {over:.2f}x (goal <= 2.5x)")
            if n == 100:
                over = ms["app large"] / ms["raw large"]
                lines.append(f"  x100 large: app / raw point reads {over:.2f}x (goal <= 1.5x)")
    return lines


def keepalive_rows(az: Azurite, env: dict[str, str], rounds: int) -> list[str]:
    host = start_host(
        env={**env, "AzureWebJobsStorage": az.connection_string}, use_local_settings=False
    )
    try:
        url = f"{host.base_url}/{CHECK}?api-version=2026-01-23"
        body = json.dumps({"from": SMALL, "recipients": [{"to": people(1)[0]}]}).encode()

        def post(session: requests.Session | None) -> None:
            headers = {
                "content-type": "application/json",
                **sign_request("POST", url, body, TEST_KEY),
            }
            if session is None:  # a new TCP connection per call
                r = requests.post(url, data=body, headers={**headers, "Connection": "close"})
            else:
                r = session.post(url, data=body, headers=headers)
            assert r.status_code == 200, r.text

        with requests.Session() as session:
            ms = timed({"kept": lambda: post(session), "fresh": lambda: post(None)}, rounds)
        kept, fresh = ms["kept"], ms["fresh"]
    finally:
        host.stop()
    return [
        f"check x1 over HTTP: keep-alive {kept:.1f} ms, new connection {fresh:.1f} ms "
        "(goal: keep-alive no slower)",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--large", type=int, default=100_000, help="entries of the large sender")
    args = parser.parse_args()

    az = start_azurite()
    suffix = uuid.uuid4().hex[:8]
    env = {
        "OPTOUT_ACCESS_KEYS": TEST_KEY,
        "OPTOUT_TABLE_NAME": f"HotOptOuts{suffix}",
        "OPTOUT_HISTORY_TABLE_NAME": f"HotHistory{suffix}",
        "SENDER_PROGRAMS_TABLE_NAME": f"HotPrograms{suffix}",
    }
    os.environ.update({**env, "AzureWebJobsStorage": az.connection_string})
    recorder = StorageRecorder()
    runtime.STORAGE_CLIENT_OPTIONS["raw_request_hook"] = recorder
    runtime.reset()
    try:
        runtime.store().ensure_tables()
        seed(az.connection_string, env["OPTOUT_TABLE_NAME"], SMALL, 100)
        seed(az.connection_string, env["OPTOUT_TABLE_NAME"], LARGE, args.large)
        service = TableServiceClient.from_connection_string(
            az.connection_string, transport=runtime.pooled_transport(MAX_PARALLEL_READS)
        )
        table = service.get_table_client(env["OPTOUT_TABLE_NAME"])
        print(f"{'call':<19}{'app ms':>10}{'raw ms':>10}{'requests':>10}{'scans':>7}")
        for line in storage_rows(args.rounds, recorder, table):
            print(line)
        for line in keepalive_rows(az, env, max(args.rounds, 50)):
            print(line)
    finally:
        runtime.reset()
        az.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
