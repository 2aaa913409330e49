"""Benchmark of the bulk endpoints: storage requests per 1,000 imported rows, import and export
rows/s, and the app's memory during a 100,000-row export.

    make bench            # or: .venv/bin/python -m bench.bulk --rows 10000 --export-rows 100000

Storage requests are counted in-process (the registered functions, with a request hook on the
Table client). Throughput is measured on the real local host (a subprocess serving HTTP) on a
private in-memory Azurite, driven by the `optouts` tool's own code; Azurite's speed is only a
relative measure (its inserts scan the partition, so it slows down as a list grows), the request
counts are what the real Table service would bill. Memory: the host's resident set, sampled
every 20 ms, while exporting 10,000 and 100,000 rows of a synthetic list (synthetic_app.py: the
real host, pipeline and handlers; only the storage is generated, since Azurite cannot be seeded
with 100,000 entries in reasonable time). Flat means the peak does not grow with the rows.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devhost.inprocess import TEST_KEY, StorageRecorder, call  # noqa: E402
from devhost.testing import start_azurite, start_host  # noqa: E402
from optouts_cli import exporter, importer  # noqa: E402
from optouts_cli.client import Client, ExportFormat  # noqa: E402
from optouts_cli.config import Target  # noqa: E402
from shared import runtime  # noqa: E402
from shared.optouts.importfile import ImportFormat, parse_import  # noqa: E402

SENDER = "+18005550100"


def numbers(count: int, prefix: str = "+1425") -> list[str]:
    return [f"{prefix}{i:07d}" for i in range(count)]


def csv_body(people: list[str]) -> bytes:
    return ("to\n" + "".join(f"{n}\n" for n in people)).encode()


def tables_env(connection_string: str, prefix: str) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {
        "AzureWebJobsStorage": connection_string,
        "OPTOUT_ACCESS_KEYS": TEST_KEY,
        "OPTOUT_TABLE_NAME": f"{prefix}OptOuts{suffix}",
        "OPTOUT_HISTORY_TABLE_NAME": f"{prefix}History{suffix}",
        "SENDER_PROGRAMS_TABLE_NAME": f"{prefix}Programs{suffix}",
        "OPTOUT_EVENTS_QUEUE_NAME": f"{prefix.lower()}-events-{suffix}",
    }


def request_counts(connection_string: str, rows: int = 2000) -> list[tuple[str, float, float]]:
    """(case, Table requests, event messages) per 1,000 rows: a fresh import, a re-import."""
    env = tables_env(connection_string, "Count")
    os.environ.update(env)
    recorder = StorageRecorder()
    runtime.STORAGE_CLIENT_OPTIONS["raw_request_hook"] = recorder
    runtime.reset()
    runtime.store().ensure_tables()
    body = csv_body(numbers(rows))
    events_path = f"/{env['OPTOUT_EVENTS_QUEUE_NAME']}/messages"
    results = []
    for name in ("import, new numbers", "import, all already opted out"):
        recorder.clear()
        status, _ = call(
            "POST",
            f"sms/senders/{SENDER}/optouts:import",
            raw=body,
            query="",
            headers={"content-type": "text/csv"},
        )
        assert status == 200
        events = sum(1 for r in recorder.requests if r[1].endswith(events_path))
        per = 1000 / rows
        results.append((name, (recorder.count - events) * per, events * per))
    runtime.STORAGE_CLIENT_OPTIONS.pop("raw_request_hook")
    runtime.reset()
    return results


class RssSampler(threading.Thread):
    """Samples a process's resident memory (Linux /proc) until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.samples, self.running = pid, [], True

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def run(self) -> None:
        while self.running:
            self.samples.append(self.rss_mib())
            time.sleep(0.02)

    def stop(self) -> float:
        self.running = False
        self.join()
        return max(self.samples, default=0.0)


def timed_export(client: Client, sender: str, pid: int) -> tuple[int, float, float, float]:
    """(rows, seconds, app RSS before in MiB, app peak RSS in MiB) of one whole export."""
    sampler = RssSampler(pid)
    before = sampler.rss_mib()
    sampler.start()
    start = time.perf_counter()
    with open(os.devnull, "wb") as out:
        rows = exporter.export(client, sender, ExportFormat.CSV, out, lambda n: None)
    return rows, time.perf_counter() - start, before, sampler.stop()


def throughput(connection_string: str, rows: int) -> list[str]:
    """Import then export `rows` numbers through the local host on Azurite."""
    host = start_host(ROOT, env=tables_env(connection_string, "Speed"), use_local_settings=False)
    try:
        client = Client(Target(host.base_url, TEST_KEY))
        parsed = parse_import(csv_body(numbers(rows)), ImportFormat.CSV, max_rows=None)
        state = importer.ImportState(Path(os.devnull), "", SENDER, 1000, uuid.uuid4().hex)
        state.save = lambda: None  # type: ignore[method-assign]
        start = time.perf_counter()
        importer.run_chunks(client, state, importer.chunks(parsed.rows, 1000), 2, lambda n: None)
        seconds = time.perf_counter() - start
        count, export_seconds, _, _ = timed_export(client, SENDER, host.proc.pid)
        assert count == rows, count
    finally:
        host.stop()
    return [
        f"import {rows:,} rows on Azurite (2 requests in flight): {rows / seconds:,.0f} rows/s",
        f"export {rows:,} rows on Azurite: {rows / export_seconds:,.0f} rows/s",
    ]


def export_memory(sizes: list[int]) -> list[str]:
    """The app's memory while exporting `sizes` rows from a synthetic list (real host, pipeline
    and handlers; see synthetic_app.py)."""
    lines = []
    for size in sizes:
        env = {"OPTOUT_ACCESS_KEYS": TEST_KEY, "BENCH_SYNTHETIC_ROWS": str(size)}
        env["AzureWebJobsStorage"] = "UseDevelopmentStorage=true"  # never used for the list
        host = start_host(ROOT, env=env, use_local_settings=False, app_module="bench.synthetic_app")
        try:
            client = Client(Target(host.base_url, TEST_KEY))
            rows, seconds, before, peak = timed_export(client, SENDER, host.proc.pid)
        finally:
            host.stop()
        assert rows == size, rows
        lines.append(
            f"export {rows:>7,} rows (synthetic list): {rows / seconds:>7,.0f} rows/s; app "
            f"memory {before:.0f} MiB before, peak {peak:.0f} MiB (+{peak - before:.1f} MiB)"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000, help="imported and exported")
    parser.add_argument("--export-rows", type=int, default=100_000, help="synthetic export")
    args = parser.parse_args()
    az = start_azurite()
    try:
        counts = request_counts(az.connection_string)
        lines = throughput(az.connection_string, args.rows)
    finally:
        az.stop()
    lines += export_memory([args.export_rows // 10, args.export_rows])
    print(f"per 1,000 rows {'Table requests':>42}{'event messages':>16}")
    for name, table_requests, events in counts:
        print(f"  {name:<40}{table_requests:>14.1f}{events:>16.1f}")
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
