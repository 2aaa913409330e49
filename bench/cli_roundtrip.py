"""Benchmark: the `optouts` tool's import then export of a large list, end to end.

    make bench            # or: .venv/bin/python -m bench.cli_roundtrip --rows 20000

The tool runs as a user runs it (a subprocess, `python -m optouts_cli`) against the real local
host (a subprocess) on a private in-memory Azurite: it imports a CSV of N numbers (half without
`+`, some quoted, one bad line every 5,000 rows) in chunks of 500, then exports the list as CSV
and as NDJSON. It prints rows/s for the import and each export, and fails (exit code 1) if an
export's set of numbers is not exactly the imported valid set, if a number is exported twice,
or if the tool's summary or errors file is wrong.

The same round trip at a small size (several chunks and pages, bad lines included) is
tests/test_cli.py::test_import_then_export_the_same_set_across_chunks_and_pages: this is its
scale run. Azurite's writes slow down as a partition grows (it scans it), so the rates are a
relative measure, and this machine's load makes them noisy.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devhost.inprocess import TEST_KEY  # noqa: E402
from devhost.testing import HostProcess, start_azurite, start_host  # noqa: E402

SENDER = "+18005550111"
BAD_EVERY = 5000
CHUNK_SIZE = 500


def write_list(path: Path, count: int, prefix: str = "+1206") -> tuple[set[str], list[int]]:
    """A CSV of `count` numbers with a bad line every BAD_EVERY rows: the valid numbers and
    the file lines (1-based, header included) of the bad ones."""
    lines, valid, bad = ["Name,Mobile,optedOutAt"], set(), []
    for i in range(count):
        number = f"{prefix}{i:07d}"
        valid.add(number)
        shown = number if i % 2 else number.removeprefix("+")
        lines.append(
            f'"Person {i}, Jr",{shown},' if i % 3 else f"P{i},{shown},2025-01-01T00:00:00Z"
        )
        if i % BAD_EVERY == 0:
            lines.append(f"Bad {i},not-a-number,")
            bad.append(len(lines))
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return valid, bad


def optouts(host: HostProcess, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the tool against `host`; (the finished process, its wall-clock seconds)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTOUT_")}
    cmd = [sys.executable, "-m", "optouts_cli", "--endpoint", host.base_url, "--key", TEST_KEY]
    start = time.perf_counter()
    done = subprocess.run(
        [*cmd, *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    return done, time.perf_counter() - start


def import_problems(
    done: subprocess.CompletedProcess[str], rows: int, bad: list[int], errors: Path
) -> list[str]:
    problems = []
    if done.returncode != 0:
        return [f"import failed ({done.returncode}): {done.stderr[-2000:]}"]
    if not re.search(rf"added\s+{rows:,}\b", done.stderr):
        problems.append(f"import summary does not say {rows:,} added: {done.stderr[-1000:]}")
    if not re.search(rf"invalid\s+{len(bad)}\b", done.stderr):
        problems.append(f"import summary does not say {len(bad)} invalid: {done.stderr[-1000:]}")
    lines = errors.read_text(encoding="utf-8").splitlines() if errors.is_file() else []
    if [int(e.split(",")[0]) for e in lines[1:]] != bad:
        problems.append(f"errors file lists lines {lines[1:6]}..., expected {bad[:5]}...")
    return problems


def export_problems(name: str, exported: list[str], valid: set[str]) -> list[str]:
    problems = []
    if len(exported) != len(set(exported)):
        problems.append(f"{name}: {len(exported) - len(set(exported))} numbers exported twice")
    if set(exported) != valid:
        missing, extra = len(valid - set(exported)), len(set(exported) - valid)
        problems.append(f"{name}: {missing} imported numbers missing, {extra} unexpected")
    return problems


def host_env(connection_string: str) -> dict[str, str]:
    """The app's settings: its own tables and events queue on the private Azurite."""
    suffix = uuid.uuid4().hex[:8]
    return {
        "AzureWebJobsStorage": connection_string,
        "OPTOUT_ACCESS_KEYS": TEST_KEY,
        "OPTOUT_TABLE_NAME": f"CliBenchOptOuts{suffix}",
        "OPTOUT_HISTORY_TABLE_NAME": f"CliBenchHistory{suffix}",
        "SENDER_PROGRAMS_TABLE_NAME": f"CliBenchPrograms{suffix}",
        "OPTOUT_EVENTS_QUEUE_NAME": f"clibench-events-{suffix}",
    }


def round_trip(connection_string: str, rows: int, work: Path) -> tuple[list[str], list[str]]:
    """(result lines, problems) of one import + CSV export + NDJSON export."""
    source = work / "list.csv"
    valid, bad = write_list(source, rows)
    host = start_host(ROOT, env=host_env(connection_string), use_local_settings=False)
    try:
        imported, import_s = optouts(
            host, "import", "-s", SENDER, str(source), "--chunk-size", str(CHUNK_SIZE)
        )
        problems = import_problems(imported, rows, bad, work / "list.csv.errors.csv")
        if imported.returncode != 0:
            return [], problems
        out = work / "out.csv"
        exported, csv_s = optouts(host, "export", "-s", SENDER, "-o", str(out))
        with out.open(encoding="utf-8", newline="") as f:
            problems += export_problems("CSV export", [r["to"] for r in csv.DictReader(f)], valid)
        nd, nd_s = optouts(host, "export", "-s", SENDER, "--format", "ndjson")
        numbers = [json.loads(line)["to"] for line in nd.stdout.splitlines()]
        problems += export_problems("NDJSON export", numbers, valid)
        problems += [f"export failed: {p.stderr[-1000:]}" for p in (exported, nd) if p.returncode]
    finally:
        host.stop()
    lines = [
        f"optouts import of {rows:,} rows (+{len(bad)} bad, chunks of {CHUNK_SIZE}, 2 in flight):"
        f" {rows / import_s:,.0f} rows/s ({import_s:.1f} s)",
        f"optouts export of {rows:,} rows, CSV: {rows / csv_s:,.0f} rows/s ({csv_s:.1f} s)",
        f"optouts export of {rows:,} rows, NDJSON: {rows / nd_s:,.0f} rows/s ({nd_s:.1f} s)",
    ]
    return lines, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000, help="valid rows imported")
    args = parser.parse_args()
    az = start_azurite()
    try:
        with tempfile.TemporaryDirectory(prefix="cli-roundtrip-") as work:
            lines, problems = round_trip(az.connection_string, args.rows, Path(work))
    finally:
        az.stop()
    for line in lines:
        print(line)
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    if not problems:
        print(f"exported set == imported valid set ({args.rows:,} numbers), each once")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
