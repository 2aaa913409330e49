"""Opt-out import files: CSV, NDJSON or a JSON array -> valid rows and per-line errors.

Pure logic, no I/O: the HTTP import handler and the `optouts` command-line tool parse with the
same code, so a file the tool accepts is a file the service accepts.

CSV: UTF-8 (a byte-order mark is fine; UTF-16 with a BOM too), RFC 4180 quoting, `,` `;` or tab
separators (the one that splits the header into a known number column wins), blank lines
ignored. The header must name the number column (`to`, `number`, `phone`, `phoneNumber`,
`recipient`, `msisdn` or `mobile`, in any case, spaces/`_`/`-` ignored); an `optedOutAt` column
is optional; other columns are ignored (so an export re-imports as is). Line numbers are the
file's physical lines, header = line 1 (a quoted field spanning lines counts from its first).

JSON: an array whose items are number strings or objects with the same keys. NDJSON: one such
item per line. Their "line" is the array position (1-based), resp. the physical line.

Numbers: E.164 with or without the `+` (as inbound events send them); spaces, `-`, `.` and
parentheses are ignored, and so is a leading `'` (spreadsheets' text marker). A number without
its country code cannot be told from one with it, so it is rejected only when not *possible*.
Duplicates are folded into one row (the first line), keeping the earliest `optedOutAt`.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from shared.domain.phone import InvalidPhoneNumber, PhoneNumber, normalise_inbound

MAX_IMPORT_ROWS = 5000  # data rows per request; more is a 413 (the CLI splits files for you)
FUTURE_TOLERANCE = timedelta(minutes=15)  # clocks differ; beyond this a time is refused
EARLIEST_OPTED_OUT_AT = datetime(1970, 1, 1, tzinfo=UTC)
DELIMITERS = (",", ";", "\t")
_VISUAL = str.maketrans("", "", " -.()\u00a0")


class ImportFormat(StrEnum):
    """The accepted file formats, named by their media types."""

    CSV = "text/csv"
    JSON = "application/json"
    NDJSON = "application/x-ndjson"


class ImportColumn(StrEnum):
    """Header names (lower case, without spaces, `_` or `-`) the parser recognises."""

    TO = "to"
    NUMBER = "number"
    PHONE = "phone"
    PHONE_NUMBER = "phonenumber"
    RECIPIENT = "recipient"
    MSISDN = "msisdn"
    MOBILE = "mobile"
    OPTED_OUT_AT = "optedoutat"


NUMBER_COLUMNS = frozenset(ImportColumn) - {ImportColumn.OPTED_OUT_AT}


class ImportFileError(ValueError):
    """The file as a whole is unusable (400). The message says why, never with a number."""


class ImportTooLarge(ImportFileError):
    """More data rows than one request may carry (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"An import request may carry at most {limit} rows; split the file.")
        self.limit = limit


class InvalidRow(ValueError):
    """One row is unusable; the message is the reason given back for its line."""


@dataclass(frozen=True)
class ImportRow:
    number: PhoneNumber
    opted_out_at: datetime | None  # None: "now", decided by the service when it writes
    line: int


@dataclass(frozen=True)
class LineError:
    line: int
    reason: str


@dataclass(frozen=True)
class ParsedImport:
    rows: tuple[ImportRow, ...]  # one per distinct number, in order of first appearance
    errors: tuple[LineError, ...]  # in line order
    duplicates: int = 0  # rows folded into an earlier row with the same number
    total: int = 0  # data rows seen (valid + invalid + duplicates)


@dataclass
class _Collector:
    max_rows: int | None
    rows: dict[str, ImportRow] = field(default_factory=dict)
    errors: list[LineError] = field(default_factory=list)
    duplicates: int = 0
    total: int = 0

    def count(self) -> None:
        self.total += 1
        if self.max_rows is not None and self.total > self.max_rows:
            raise ImportTooLarge(self.max_rows)

    def add(self, row: ImportRow) -> None:
        key = row.number.e164
        first = self.rows.get(key)
        if first is None:
            self.rows[key] = row
            return
        self.duplicates += 1
        times = [t for t in (first.opted_out_at, row.opted_out_at) if t is not None]
        self.rows[key] = ImportRow(first.number, min(times, default=None), first.line)

    def result(self) -> ParsedImport:
        return ParsedImport(
            rows=tuple(self.rows.values()),
            errors=tuple(sorted(self.errors, key=lambda e: e.line)),
            duplicates=self.duplicates,
            total=self.total,
        )


def parse_number(raw: str) -> PhoneNumber:
    """A number from a file: E.164 with or without `+`, visual separators ignored."""
    text = raw.strip().removeprefix("'").translate(_VISUAL)
    if not text:
        raise InvalidRow("The number is missing.")
    try:
        return normalise_inbound(text)
    except InvalidPhoneNumber as exc:
        raise InvalidRow(str(exc)) from exc


def parse_opted_out_at(raw: object, now: datetime) -> datetime | None:
    """An ISO 8601 date-time (a date alone is midnight UTC; no offset means UTC), or None."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str):
        raise InvalidRow("optedOutAt must be a string (ISO 8601 date-time).")
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError as exc:
        raise InvalidRow(
            "optedOutAt is not an ISO 8601 date-time, e.g. 2024-05-01T12:00:00Z."
        ) from exc
    value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    if value > now + FUTURE_TOLERANCE:
        raise InvalidRow("optedOutAt is in the future.")
    if value < EARLIEST_OPTED_OUT_AT:
        raise InvalidRow("optedOutAt is before 1970.")
    return value


def _column_key(name: str) -> str:
    return "".join(c for c in name.strip().lower() if c not in " _-\ufeff")


def decode_text(body: bytes) -> str:
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return body.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ImportFileError("The file is not valid UTF-16 text.") from exc
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError("The file is not UTF-8 text.") from exc


def parse_import(
    body: bytes,
    fmt: ImportFormat,
    *,
    max_rows: int | None = MAX_IMPORT_ROWS,
    now: datetime | None = None,
) -> ParsedImport:
    """Parse an import file. Raises ImportFileError (ImportTooLarge beyond `max_rows`)."""
    text = decode_text(body)
    collector = _Collector(max_rows)
    when = now or datetime.now(UTC)
    if fmt is ImportFormat.CSV:
        _parse_csv(text, collector, when)
    elif fmt is ImportFormat.JSON:
        _parse_items(_json_array(text), collector, when)
    else:
        _parse_items(_ndjson_items(text), collector, when)
    return collector.result()


def _records(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, cells) of each non-blank record."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    end = 0
    try:
        for cells in reader:
            start, end = end + 1, reader.line_num
            if any(c.strip() for c in cells):
                yield start, cells
    except csv.Error as exc:
        raise ImportFileError(f"Line {reader.line_num}: not valid CSV ({exc}).") from exc


@dataclass(frozen=True)
class _Header:
    delimiter: str
    number: int
    opted_out_at: int | None


def _header(text: str) -> _Header:
    best: _Header | None = None
    best_width = 0
    for delimiter in DELIMITERS:
        first = next(_records(text, delimiter), None)
        if first is None:
            raise ImportFileError("The file is empty: expected a header naming the number column.")
        keys = [_column_key(c) for c in first[1]]
        numbers = [i for i, k in enumerate(keys) if k in NUMBER_COLUMNS]
        if len(numbers) > 1:
            raise ImportFileError("The header names more than one number column.")
        if numbers and len(keys) > best_width:
            at = (
                keys.index(ImportColumn.OPTED_OUT_AT) if ImportColumn.OPTED_OUT_AT in keys else None
            )
            best, best_width = _Header(delimiter, numbers[0], at), len(keys)
    if best is None:
        names = ", ".join(sorted(NUMBER_COLUMNS))
        raise ImportFileError(f"The header must name the number column (one of: {names}).")
    return best


def _cell(cells: list[str], index: int | None) -> str:
    return cells[index] if index is not None and index < len(cells) else ""


def _parse_csv(text: str, collector: _Collector, now: datetime) -> None:
    header = _header(text)
    records = _records(text, header.delimiter)
    next(records)  # the header itself
    for line, cells in records:
        collector.count()
        try:
            number = parse_number(_cell(cells, header.number))
            at = parse_opted_out_at(_cell(cells, header.opted_out_at), now)
        except InvalidRow as exc:
            collector.errors.append(LineError(line, str(exc)))
            continue
        collector.add(ImportRow(number, at, line))


def _json_array(text: str) -> list[tuple[int, object]]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ImportFileError("The body is not valid JSON.") from exc
    if not isinstance(data, list):
        raise ImportFileError("A JSON import must be an array of numbers or objects.")
    return list(enumerate(data, start=1))


def _ndjson_items(text: str) -> Iterator[tuple[int, object]]:
    for line, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            yield line, json.loads(raw)
        except ValueError:
            yield line, _NOT_JSON


_NOT_JSON = object()


def _item_fields(item: object) -> tuple[str, object]:
    if isinstance(item, str):
        return item, None
    if item is _NOT_JSON:
        raise InvalidRow("The line is not valid JSON.")
    if not isinstance(item, Mapping):
        raise InvalidRow("Each item must be a number string or an object with 'to'.")
    keys = {_column_key(str(k)): v for k, v in item.items()}
    numbers = [v for k, v in keys.items() if k in NUMBER_COLUMNS]
    if len(numbers) != 1 or not isinstance(numbers[0], str):
        raise InvalidRow("Each object must have exactly one number, a string, under 'to'.")
    return numbers[0], keys.get(ImportColumn.OPTED_OUT_AT)


def _parse_items(items: Iterable[tuple[int, object]], collector: _Collector, now: datetime) -> None:
    for line, item in items:
        collector.count()
        try:
            raw_number, raw_at = _item_fields(item)
            number = parse_number(raw_number)
            at = parse_opted_out_at(raw_at, now)
        except InvalidRow as exc:
            collector.errors.append(LineError(line, str(exc)))
            continue
        collector.add(ImportRow(number, at, line))
