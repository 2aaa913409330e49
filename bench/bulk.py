"""Benchmark of the bulk endpoints: import rows/s and storage requests per 1,000 rows, export
rows/s, and the app's memory during a large export.

    make bench            # or: .venv/bin/python -m bench.bulk --rows 100000

Storage requests are counted in-process (the registered functions, with a request hook on the
Table client); throughput and memory are measured on the real local host (a subprocess serving
HTTP) driven by the `optouts` tool's own code, on a private in-memory Azurite. Azurite's speed is
only a relative measure; the request counts are what the real Table service would bill.
"""

from __future__ import annotations

import argparse
import io
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
from shared.importfile import ImportFormat, parse_import  # noqa: E402


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
    }


def request_counts(connection_string: str) -> list[tuple[str, float]]:
    """Storage requests per 1,000 rows: a fresh import, a re-import, a listing."""
    os.environ.update(tables_env(connection_string, "Count"))
    recorder = StorageRecorder()
    runtime.STORAGE_CLIENT_OPTIONS["raw_request_hook"] = recorder
    runtime.reset()
    runtime.store().ensure_tables()
    body = csv_body(numbers(5000))
    results = []
    for name in ("import, new numbers", "import, all already opted out"):
        recorder.clear()
        status, _ = call(
            "POST",
            "sms/senders/+18005550100/optouts:import",
            raw=body,
            query="",
            headers={"content-type": "text/csv"},
        )
        assert status == 200
        results.append((name, recorder.count / 5))
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


def throughput(connection_string: str, rows: int) -> list[str]:
    env = tables_env(connection_string, "Speed")
    host = start_host(ROOT, env=env, use_local_settings=False)
    lines = []
    try:
        client = Client(Target(host.base_url, TEST_KEY))
        sender = "+18005550100"
        body = csv_body(numbers(rows))
        parsed = parse_import(body, ImportFormat.CSV, max_rows=None)
        state = importer.ImportState(Path(os.devnull), "", sender, 1000, uuid.uuid4().hex)
        state.save = lambda: None  # type: ignore[method-assign]
        start = time.perf_counter()
        importer.run_chunks(client, state, importer.chunks(parsed.rows, 1000), 4, lambda n: None)
        seconds = time.perf_counter() - start
        lines.append(f"import {rows:,} rows (4 requests in flight): {rows / seconds:,.0f} rows/s")
        for size in (rows // 10, rows):
            sampler = RssSampler(host.proc.pid)
            before = sampler.rss_mib()
            sampler.start()
            start = time.perf_counter()
            out = io.BytesIO() if size < rows else open(os.devnull, "wb")  # noqa: SIM115
            count = exporter.export(client, sender, ExportFormat.CSV, out, lambda n: None)
            seconds = time.perf_counter() - start
            peak = sampler.stop()
            assert count == rows, count  # the whole list each time
            lines.append(
                f"export {count:,} rows: {count / seconds:,.0f} rows/s; app memory "
                f"{before:.0f} MiB before, peak {peak:.0f} MiB (+{peak - before:.0f} MiB)"
            )
    finally:
        host.stop()
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    az = start_azurite()
    try:
        counts = request_counts(az.connection_string)
        lines = throughput(az.connection_string, args.rows)
    finally:
        az.stop()
    print("storage requests per 1,000 rows")
    for name, per_thousand in counts:
        print(f"  {name:<34}{per_thousand:>8.1f}")
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
