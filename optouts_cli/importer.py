"""Import a file in chunks: parse locally (shared.optouts.importfile, the service's own parser),
send the valid rows as JSON requests concurrently, and keep a state file of finished chunks so that
an interrupted run resumes where it stopped.

Resuming never duplicates anything: finished chunks are skipped, and a chunk that was in flight
when the run stopped is sent again, which the service treats as a no-op for the rows it already
stored (import is idempotent; with the same import id those rows still count as `added`).
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import os
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optouts_cli.client import Client
from shared.optouts.importfile import ImportFormat, ImportRow, ParsedImport, parse_import

STATE_VERSION = 1
SUFFIX_FORMATS = {".json": ImportFormat.JSON, ".ndjson": ImportFormat.NDJSON}
SUFFIX_FORMATS[".jsonl"] = ImportFormat.NDJSON


class StateMismatch(ValueError):
    """The state file belongs to another file or sender."""


@dataclass
class ChunkResult:
    added: int = 0
    already_opted_out: int = 0
    invalid: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (file line, reason)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChunkResult:
        errors = [(int(line), str(reason)) for line, reason in data["errors"]]
        return cls(data["added"], data["alreadyOptedOut"], data["invalid"], errors)

    def to_json(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "alreadyOptedOut": self.already_opted_out,
            "invalid": self.invalid,
            "errors": self.errors,
        }


@dataclass
class ImportState:
    path: Path
    file_sha256: str
    sender: str
    chunk_size: int
    import_id: str
    done: dict[int, ChunkResult] = field(default_factory=dict)

    @classmethod
    def open(cls, path: Path, file_sha256: str, sender: str, chunk_size: int) -> ImportState:
        """The saved state of an interrupted run of this file, else a fresh one."""
        if not path.is_file():
            return cls(path, file_sha256, sender, chunk_size, uuid.uuid4().hex)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            same = data["fileSha256"] == file_sha256 and data["sender"] == sender
            done = {int(i): ChunkResult.from_json(r) for i, r in data["done"].items()}
            state = cls(path, file_sha256, sender, int(data["chunkSize"]), data["importId"], done)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StateMismatch(f"{path} is not a usable state file: pass --restart.") from exc
        if not same:
            raise StateMismatch(
                f"{path} is the state of an import of another file or sender: "
                "delete it, or pass --restart."
            )
        return state

    def record(self, index: int, result: ChunkResult) -> None:
        self.done[index] = result
        self.save()

    def save(self) -> None:
        data = {
            "version": STATE_VERSION,
            "fileSha256": self.file_sha256,
            "sender": self.sender,
            "chunkSize": self.chunk_size,
            "importId": self.import_id,
            "done": {str(i): r.to_json() for i, r in sorted(self.done.items())},
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, self.path)  # atomic: a crash leaves the old state or the new one

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Totals:
    rows: int  # data rows in the file
    duplicates: int
    added: int
    already_opted_out: int
    invalid: int  # found locally + refused by the service
    errors: tuple[tuple[int, str], ...]  # (line, reason), in line order


def file_format(path: Path, explicit: str | None) -> ImportFormat:
    if explicit:
        return ImportFormat[explicit.upper()]
    return SUFFIX_FORMATS.get(path.suffix.lower(), ImportFormat.CSV)


def read_file(path: Path, fmt: ImportFormat) -> tuple[ParsedImport, str]:
    """The whole file parsed (no row limit: the tool splits it) and its SHA-256."""
    body = path.read_bytes()
    return parse_import(body, fmt, max_rows=None), hashlib.sha256(body).hexdigest()


def chunks(rows: Sequence[ImportRow], size: int) -> list[Sequence[ImportRow]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def wire_rows(rows: Sequence[ImportRow]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for row in rows:
        item = {"to": row.number.e164}
        if row.opted_out_at is not None:
            item["optedOutAt"] = row.opted_out_at.isoformat()
        out.append(item)
    return out


def send_chunk(client: Client, state: ImportState, rows: Sequence[ImportRow]) -> ChunkResult:
    body: dict[str, Any] = client.import_rows(state.sender, wire_rows(rows), state.import_id)
    errors = [(rows[int(e["line"]) - 1].line, str(e["reason"])) for e in body.get("errors", [])]
    return ChunkResult(
        int(body["added"]), int(body["alreadyOptedOut"]), int(body["invalid"]), errors
    )


def run_chunks(
    client: Client,
    state: ImportState,
    parts: Sequence[Sequence[ImportRow]],
    concurrency: int,
    advance: Callable[[int], None],
) -> None:
    """Send every unfinished chunk, at most `concurrency` in flight, recording each as it
    finishes. On an error or Ctrl-C no new chunk starts, the ones in flight finish (and are
    recorded), the state is saved, and the exception goes on."""
    todo = iter([i for i in range(len(parts)) if i not in state.done])
    in_flight: dict[Future[ChunkResult], int] = {}
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        try:
            while True:
                for index in itertools.islice(todo, concurrency - len(in_flight)):
                    in_flight[pool.submit(send_chunk, client, state, parts[index])] = index
                if not in_flight:
                    return
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in sorted(finished, key=lambda f: f.exception() is not None):
                    index = in_flight.pop(future)
                    state.record(index, future.result())  # the failed ones come last
                    advance(len(parts[index]))
        finally:
            _record_in_flight(state, in_flight)


def _record_in_flight(state: ImportState, in_flight: dict[Future[ChunkResult], int]) -> None:
    for future, index in in_flight.items():
        try:
            state.done[index] = future.result()
        except Exception:  # this chunk is sent again by the next run
            continue
    state.save()


def totals(parsed: ParsedImport, state: ImportState) -> Totals:
    results = list(state.done.values())
    errors = [(e.line, e.reason) for e in parsed.errors]
    errors += [e for r in results for e in r.errors]
    return Totals(
        rows=parsed.total,
        duplicates=parsed.duplicates,
        added=sum(r.added for r in results),
        already_opted_out=sum(r.already_opted_out for r in results),
        invalid=len(parsed.errors) + sum(r.invalid for r in results),
        errors=tuple(sorted(errors)),
    )


def write_errors(path: Path, errors: Sequence[tuple[int, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["line", "reason"])
        writer.writerows(errors)
