"""Unit tests for shared.optouts.importfile: CSV / JSON / NDJSON import files -> rows and line
errors."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.optouts.importfile import (
    MAX_IMPORT_ROWS,
    ImportFileError,
    ImportFormat,
    ImportTooLarge,
    ParsedImport,
    parse_import,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CSV = ImportFormat.CSV


def parse_csv(text: str, **kwargs: object) -> ParsedImport:
    return parse_import(text.encode("utf-8"), CSV, now=NOW, **kwargs)  # type: ignore[arg-type]


def numbers(parsed: ParsedImport) -> list[str]:
    return [r.number.e164 for r in parsed.rows]


def error_lines(parsed: ParsedImport) -> list[int]:
    return [e.line for e in parsed.errors]


# --- CSV variants ---------------------------------------------------------------------------


def test_simple_csv_with_and_without_plus() -> None:
    parsed = parse_csv("to\n+14255550123\n14255550124\n")
    assert numbers(parsed) == ["+14255550123", "+14255550124"]
    assert [r.line for r in parsed.rows] == [2, 3]
    assert parsed.errors == ()
    assert parsed.rows[0].number.country == "US"
    assert parsed.rows[0].opted_out_at is None


def test_bom_semicolons_quotes_crlf_and_blank_lines() -> None:
    text = (
        '\ufeffName;"Phone Number";optedOutAt\r\n'
        "\r\n"
        '"Doe; Jane";"+1 (425) 555-0123";2024-05-01T10:00:00Z\r\n'
        "   \r\n"
        '"Smith";\'14255550124;\r\n'
    )
    parsed = parse_import(text.encode("utf-8"), CSV, now=NOW)
    assert numbers(parsed) == ["+14255550123", "+14255550124"]
    assert [r.line for r in parsed.rows] == [3, 5]
    assert parsed.rows[0].opted_out_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert parsed.rows[1].opted_out_at is None
    assert parsed.total == 2


def test_comma_header_wins_when_it_names_the_column() -> None:
    # A `;` inside a comma file's name field must not make `;` the separator.
    parsed = parse_csv('name,mobile\n"a;b",+447700900123\n')
    assert numbers(parsed) == ["+447700900123"]


def test_tab_separated() -> None:
    parsed = parse_csv("id\tMSISDN\n1\t33612345678\n")
    assert numbers(parsed) == ["+33612345678"]


def test_quoted_field_spanning_lines_counts_from_its_first_line() -> None:
    parsed = parse_csv('note,to\n"two\nlines",+1\nok,+14255550123\n')
    assert error_lines(parsed) == [2]
    assert [r.line for r in parsed.rows] == [4]


def test_utf16_with_bom() -> None:
    body = codecs.BOM_UTF16_LE + "to\r\n+14255550123\r\n".encode("utf-16-le")
    assert numbers(parse_import(body, CSV, now=NOW)) == ["+14255550123"]


def test_export_format_reimports() -> None:
    text = "to,country,optedOutAt,source\r\n+14255550123,US,2025-01-02T03:04:05+00:00,api\r\n"
    parsed = parse_csv(text)
    assert numbers(parsed) == ["+14255550123"]
    assert parsed.rows[0].opted_out_at == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


# --- line errors --------------------------------------------------------------------------


def test_invalid_lines_are_reported_with_line_numbers_and_valid_ones_kept() -> None:
    text = "to,optedOutAt\n+14255550123,\nhello,\n\n+1,\n,2024-01-01\n+14255550124,yesterday\n"
    parsed = parse_csv(text + "+14255550125,2099-01-01\n+14255550126,1969-12-31\n")
    assert numbers(parsed) == ["+14255550123"]
    assert error_lines(parsed) == [3, 5, 6, 7, 8, 9]
    reasons = [e.reason for e in parsed.errors]
    assert "missing" in reasons[2]
    assert "ISO 8601" in reasons[3]
    assert "future" in reasons[4]
    assert "1970" in reasons[5]
    assert parsed.total == 7


def test_reasons_never_echo_the_number() -> None:
    parsed = parse_csv("to\n+999123456\n+4412\n")
    assert len(parsed.errors) == 2
    for error in parsed.errors:
        assert not re.search(r"\d{4}", error.reason)


def test_short_row_is_a_missing_number() -> None:
    parsed = parse_csv("name,to\nalice\n")
    assert error_lines(parsed) == [2]


def test_scientific_notation_from_spreadsheets_is_refused() -> None:
    assert error_lines(parse_csv("to\n1.4255550123E+10\n")) == [2]


# --- whole-file errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "\n\n  \n", "name,email\nx,y\n", "+14255550123\n+14255550124\n", "phone,mobile\n1,2\n"],
)
def test_header_must_name_exactly_one_number_column(text: str) -> None:
    with pytest.raises(ImportFileError):
        parse_csv(text)


def test_not_utf8_is_refused() -> None:
    with pytest.raises(ImportFileError, match="UTF-8"):
        parse_import(b"to\n\xff\xfe\xfa\n", CSV)


# --- duplicates and limits -----------------------------------------------------------------


def test_duplicates_fold_into_the_first_line_with_the_earliest_time() -> None:
    text = (
        "to,optedOutAt\n"
        "+14255550123,2024-06-01T00:00:00Z\n"
        "14255550123,2024-03-01T00:00:00+02:00\n"
        "+1 425 555 0123,\n"
    )
    parsed = parse_csv(text)
    assert len(parsed.rows) == 1
    assert parsed.rows[0].line == 2
    assert parsed.rows[0].opted_out_at == datetime(2024, 2, 29, 22, tzinfo=UTC)
    assert parsed.duplicates == 2
    assert parsed.total == 3


def test_max_rows_counts_data_rows_only() -> None:
    rows = "".join(f"+1425555{i:04d}\n\n" for i in range(10))
    assert len(parse_csv("to\n" + rows, max_rows=10).rows) == 10
    with pytest.raises(ImportTooLarge) as info:
        parse_csv("to\n" + rows + "+14255559999\n", max_rows=10)
    assert info.value.limit == 10


def test_default_limit_is_documented_constant() -> None:
    body = "to\n" + "".join(f"+1425{i:07d}\n" for i in range(MAX_IMPORT_ROWS + 1))
    with pytest.raises(ImportTooLarge):
        parse_csv(body)
    assert len(parse_csv(body, max_rows=None).rows) == MAX_IMPORT_ROWS + 1


# --- JSON and NDJSON -----------------------------------------------------------------------


def test_json_array_of_strings_and_objects() -> None:
    body = json.dumps(
        [
            "+14255550123",
            {"To": "14255550124", "OptedOutAt": "2024-01-01"},
            {"phoneNumber": "+44 7700 900123"},
            42,
            {"name": "no number"},
            {"to": "+14255550125", "optedOutAt": 5},
            "+14255550123",
        ]
    ).encode()
    parsed = parse_import(body, ImportFormat.JSON, now=NOW)
    assert numbers(parsed) == ["+14255550123", "+14255550124", "+447700900123"]
    assert parsed.rows[1].opted_out_at == datetime(2024, 1, 1, tzinfo=UTC)
    assert error_lines(parsed) == [4, 5, 6]
    assert parsed.duplicates == 1


@pytest.mark.parametrize("body", [b"{", b'{"to": "+14255550123"}', b'"x"'])
def test_json_must_be_an_array(body: bytes) -> None:
    with pytest.raises(ImportFileError):
        parse_import(body, ImportFormat.JSON)


def test_ndjson_lines() -> None:
    body = b'{"to":"+14255550123","source":"api"}\r\n\n{not json\n"+14255550124"\n'
    parsed = parse_import(body, ImportFormat.NDJSON, now=NOW)
    assert numbers(parsed) == ["+14255550123", "+14255550124"]
    assert error_lines(parsed) == [3]


# --- properties ----------------------------------------------------------------------------

VALID = st.integers(0, 9999).map(lambda i: f"+1425555{i:04d}")
JUNK = st.sampled_from(["hello", "+1", "+999123", "not-a-number", "1.4E+10", "+0123456"])
HEADERS = st.sampled_from(["to", "TO", "Phone Number", "phone_number", "msisdn", "Recipient"])


def _variant(number: str, style: int) -> str:
    plain = number.removeprefix("+")
    return [number, plain, f"+1 ({plain[1:4]}) {plain[4:7]}-{plain[7:]}", f"'{number}"][style]


ENTRY = st.tuples(st.one_of(VALID, JUNK), st.integers(0, 3), st.booleans(), st.integers(0, 2))


@settings(max_examples=150, deadline=None)
@given(
    entries=st.lists(ENTRY, max_size=30),
    delimiter=st.sampled_from([",", ";", "\t"]),
    terminator=st.sampled_from(["\n", "\r\n"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
    bom=st.booleans(),
    header=HEADERS,
)
def test_any_rendering_gives_every_valid_number_once_and_every_bad_line(
    entries: list[tuple[str, int, bool, int]],
    delimiter: str,
    terminator: str,
    quoting: int,
    bom: bool,
    header: str,
) -> None:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=terminator, quoting=quoting)
    writer.writerow(["name", header])
    line, expected_rows, expected_errors = 2, {}, []
    for raw, style, multiline_name, blanks in entries:
        name = f"x{delimiter}\ny" if multiline_name else "x"
        writer.writerow([name, _variant(raw, style) if raw.startswith("+1425") else raw])
        if raw.startswith("+1425"):
            expected_rows.setdefault(raw, line)
        else:
            expected_errors.append(line)
        line += 1 + name.count("\n")
        out.write(terminator * blanks)
        line += blanks
    body = ("\ufeff" if bom else "") + out.getvalue()
    parsed = parse_import(body.encode("utf-8"), CSV, now=NOW, max_rows=None)
    assert {r.number.e164: r.line for r in parsed.rows} == expected_rows
    assert numbers(parsed) == list(expected_rows)
    assert error_lines(parsed) == expected_errors
    assert parsed.total == len(entries)
    assert parsed.duplicates == len(entries) - len(expected_rows) - len(expected_errors)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=300), fmt=st.sampled_from(list(ImportFormat)))
def test_arbitrary_bytes_parse_or_raise_import_file_error(body: bytes, fmt: ImportFormat) -> None:
    try:
        parsed = parse_import(body, fmt, now=NOW)
    except ImportFileError:
        return
    assert parsed.total >= len(parsed.rows) + len(parsed.errors)


@settings(max_examples=100, deadline=None)
@given(
    offset=st.timedeltas(min_value=timedelta(days=-20000), max_value=timedelta(days=1)),
    tz_hours=st.integers(-12, 14),
)
def test_opted_out_at_is_utc_and_never_in_the_future(offset: timedelta, tz_hours: int) -> None:
    from datetime import timezone

    moment = (NOW + offset).astimezone(timezone(timedelta(hours=tz_hours)))
    parsed = parse_csv(f"to,optedOutAt\n+14255550123,{moment.isoformat()}\n")
    if parsed.rows:
        at = parsed.rows[0].opted_out_at
        assert at is not None and at.tzinfo is not None
        assert at == moment
        assert at.utcoffset() == timedelta(0)
        assert at <= NOW + timedelta(minutes=15)
    else:
        assert moment > NOW + timedelta(minutes=15) or moment.year < 1970
