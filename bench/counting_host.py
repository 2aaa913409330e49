"""The local host (`python -m devhost serve ...`) with the app's storage requests counted.

    BENCH_COUNT_FILE=/tmp/counts.json python -m bench.counting_host serve --port 7072 ...

Every Table and queue request the app sends (retries included: each is billed; queue: the
change feed's event messages) is counted by kind, and
the counts are written as JSON to `BENCH_COUNT_FILE` every 100 ms, so a benchmark in another
process can read them while the host runs. Queue requests made by the host itself (polling,
deleting processed messages) are not the app's and are not counted, as in `bench/bench.py`.

With FUNCTIONS_WORKER_PROCESS_COUNT > 1 the app runs in worker processes: each one counts its
own requests through the workers' bootstrap hook (`DEVHOST_WORKER_BOOTSTRAP`, set here to
`install_in_worker`) and writes them to `<BENCH_COUNT_FILE stem>-worker-<pid>.json` beside it;
`counts_in()` adds up every file (the host's own stays empty then).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devhost.worker import BOOTSTRAP_SETTING  # noqa: E402
from shared import runtime  # noqa: E402

WRITE_INTERVAL = 0.1
# In a transaction's multipart body: each operation's request line names its table.
BATCH_OPERATION = re.compile(rb"^(?:POST|PUT|PATCH|MERGE|DELETE) \S+ HTTP/1\.1", re.MULTILINE)
BATCH_TABLE = re.compile(
    rb"^(?:POST|PUT|PATCH|MERGE|DELETE) https?://[^ ]*?/([A-Za-z0-9]+)[(\s]", re.MULTILINE
)


def batch_kind(method: str, body: Any) -> str:
    """`POST $batch <table> xN`: the table a transaction writes to and how many operations."""
    data = body if isinstance(body, bytes) else str(body or "").encode()
    tables = sorted({t.decode() for t in BATCH_TABLE.findall(data)})
    count = len(BATCH_OPERATION.findall(data))
    return f"{method} $batch {','.join(tables) or '?'} x{count}"


def request_kind(method: str, url: str, body: Any = None) -> str:
    """A short label: `GET OptOuts query`, `POST $batch OptOuts x4`, `PATCH OptOutHistory
    entity`, ..."""
    parts = urlsplit(url)
    path = unquote(parts.path).rsplit("/", 1)[-1]
    if path == "$batch":
        return batch_kind(method, body)
    table, _, rest = path.partition("(")
    if rest and rest != ")":
        return f"{method} {table} entity"
    if "$filter" in parse_qs(parts.query):
        return f"{method} {table} query"
    return f"{method} {table}"


class RequestCounter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def __call__(self, request: Any) -> None:
        http = request.http_request
        kind = request_kind(http.method, http.url, http.body)
        with self._lock:
            self._counts[kind] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


def _write_forever(counter: RequestCounter, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    while True:
        tmp.write_text(json.dumps(counter.snapshot()), encoding="utf-8")
        os.replace(tmp, path)
        threading.Event().wait(WRITE_INTERVAL)


def install(path: Path) -> None:
    """Count this process's app storage requests into `path`."""
    counter = RequestCounter()
    runtime.STORAGE_CLIENT_OPTIONS["raw_request_hook"] = counter
    threading.Thread(target=_write_forever, args=(counter, path), daemon=True).start()


def install_in_worker() -> None:
    """The worker processes' bootstrap hook: a counts file per worker."""
    path = Path(os.environ["BENCH_COUNT_FILE"])
    install(path.with_name(f"{path.stem}-worker-{os.getpid()}.json"))


def counts_in(path: Path) -> Counter[str]:
    """The host's and every worker's counts, added up (files being replaced are skipped)."""
    total: Counter[str] = Counter()
    for file in [path, *path.parent.glob(f"{path.stem}-worker-*.json")]:
        with contextlib.suppress(OSError, ValueError):
            total.update(json.loads(file.read_text(encoding="utf-8")))
    return total


def main() -> None:
    install(Path(os.environ["BENCH_COUNT_FILE"]))
    os.environ[BOOTSTRAP_SETTING] = "bench.counting_host:install_in_worker"
    from devhost.__main__ import _exit
    from devhost.__main__ import main as devhost_main

    _exit(devhost_main(sys.argv[1:]))


if __name__ == "__main__":
    main()
