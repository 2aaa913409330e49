"""Test support (tests and `make bench`; not deployed): the Table query rules of the real
service, held against every query the app sends (docs/storage.md#query-rules).

The Table service answers a query without `PartitionKey eq` with a scan of the whole table, and a
query that filters a partition by a property (not by RowKey) with a scan of the partition; both
cost what is stored, not what is asked for. So every query must:

1. pin one partition: its filter starts with `PartitionKey eq '...'` and has no top-level `or`;
2. never `or` RowKeys (use concurrent point reads);
3. when it compares a time (a `datetime'...'` literal), bound RowKey on both sides, so that the
   time window is a key range (a time-first index row). Internal partitions, whose keys start
   with `~`, may filter by time: they hold only work owed.

`ALLOWED` is the short list of exceptions, each with its reason. `install` checks every request
of every Azure SDK client in the process (a wrapper around azure-core's CustomHookPolicy, which
every pipeline has); tests/conftest.py installs it for the test process, and local hosts started
with DEVHOST_QUERY_LOG_DIR set (the tests set it) write what breaks the rules to a file there,
which the tests read after each test.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

QUERY_LOG_SETTING = "DEVHOST_QUERY_LOG_DIR"

# (filter pattern, reason): queries that may break the rules.
ALLOWED: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"RowKey eq 'program' and Group eq '[^']*' and RevokeAll eq true"),
        "SenderPrograms: a revoke-all group's senders. One row per sender (hundreds, not"
        " millions), asked once per 30 s per instance and group, only when a group entry changes",
    ),
    (
        re.compile(r"RowKey eq 'program' and MirrorToAcs eq true"),
        "SenderPrograms: the senders that mirror to ACS. One row per sender (hundreds, not"
        " millions), asked by the mirror's timer",
    ),
    (
        re.compile(
            r"RowKey lt '~'( and RowKey gt '[^']*')?"
            r"|RowKey ge '~feed\|' and RowKey lt '~feed}' and OwedCount gt 0"
        ),
        "the one-off backfill (shared/tables/backfill.py): run once after the upgrade that added"
        " the time index and the owed markers, it reads every entry and history row once, and"
        " finds the change-feed rows left owed by the version before (which have no marker)"
        " once, by design",
    ),
)

_PARTITION = re.compile(r"\(?\s*PartitionKey eq '((?:[^']|'')*)'\s*\)?\s*(?:and\s|$)")
_TIME = re.compile(r"\bdatetime'")
_ROWKEY_LOW = re.compile(r"\bRowKey (?:ge|gt|eq) '")
_ROWKEY_HIGH = re.compile(r"\bRowKey (?:lt|le|eq) '")


def _or_groups(flt: str) -> dict[int, str]:
    """Each group that holds an `or` directly, by where it starts: the whole filter (at -1)
    for a top-level `or`, else the parenthesised group's text (quoted values are skipped)."""
    starts, found, quoted = [-1], [], False
    ends: dict[int, int] = {}
    for i, ch in enumerate(flt):
        if ch == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif ch == "(":
            starts.append(i)
        elif ch == ")" and len(starts) > 1:
            ends[starts.pop()] = i
        elif flt[i : i + 4].lower() == " or ":
            found.append(starts[-1])
    return {s: flt[max(s, 0) : ends.get(s, len(flt))] for s in dict.fromkeys(found)}


def rowkey_or(flt: str) -> bool:
    """An `or` over RowKey comparisons: a partition scan on the real service."""
    return any("RowKey" in group for group in _or_groups(flt).values())


def allowed(flt: str) -> str | None:
    """The reason a filter may break the rules, if it is on the allow-list."""
    return next((reason for pattern, reason in ALLOWED if pattern.fullmatch(flt)), None)


def filter_violation(flt: str) -> str | None:
    """Why a query's $filter breaks the rules (None: it keeps them)."""
    if allowed(flt):
        return None
    groups = _or_groups(flt)
    if rowkey_or(flt):
        return "an `or` over RowKeys (a partition scan): use point reads"
    pinned = _PARTITION.match(flt)
    if pinned is None or -1 in groups:
        return "no `PartitionKey eq` (a table scan)"
    internal = pinned.group(1).startswith("~")
    bounded = _ROWKEY_LOW.search(flt) and _ROWKEY_HIGH.search(flt)
    if _TIME.search(flt) and not internal and not bounded:
        return "a time compared without RowKey bounded on both sides (a partition scan)"
    return None


def request_violation(method: str, url: str) -> str | None:
    """Why a Table request breaks the rules: only entity queries (`GET .../Table()`) can."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    if method.upper() != "GET" or not path.endswith("()"):
        return None  # point reads (`Table(PartitionKey='..',RowKey='..')`), writes, table lists
    flt = parse_qs(parts.query).get("$filter", [""])[0]
    problem = filter_violation(flt)
    if problem is None:
        return None
    table = path.rsplit("/", 1)[-1][:-2]
    return f"{table}: {problem}: $filter={flt!r}"


Sink = Callable[[str], None]
_sinks: list[Sink] = []
_local = threading.local()


@contextmanager
def unchecked() -> Iterator[None]:
    """A test's own look at a whole table (what did the app write, across senders?): not the
    app's query, so not held to the rules. Only for tests' assertions."""
    _local.unchecked = True
    try:
        yield
    finally:
        _local.unchecked = False


_installed = threading.Lock()
_original: list[Any] = []


def install(sink: Sink) -> None:
    """Report every rule-breaking query of any SDK client in this process to `sink`."""
    from azure.core.pipeline.policies import CustomHookPolicy

    with _installed:
        _sinks.append(sink)
        if _original:
            return
        _original.append(CustomHookPolicy.on_request)

        def on_request(self: Any, request: Any) -> None:
            http = request.http_request
            problem = request_violation(http.method, http.url)
            if problem is not None and not getattr(_local, "unchecked", False):
                for report in list(_sinks):
                    report(problem)
            _original[0](self, request)

        CustomHookPolicy.on_request = on_request  # type: ignore[method-assign]


def install_from_environment() -> None:
    """In a local host started with DEVHOST_QUERY_LOG_DIR: rule-breaking queries go to a file
    there, one line each (the tests read them after each test)."""
    directory = os.environ.get(QUERY_LOG_SETTING)
    if not directory or _sinks:  # the test process checks its own queries itself
        return
    path = Path(directory) / f"queries-{os.getpid()}.log"
    lock = threading.Lock()

    def write(problem: str) -> None:
        with lock, path.open("a", encoding="utf-8") as log:
            log.write(problem.replace("\n", " ") + "\n")

    install(write)
