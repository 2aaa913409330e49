"""Parameters of the evidence endpoints: instants (with the `+` a query string turns into a
space), CSV negotiation, CSV rows."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.api.params import TIME_FORMAT, time_param
from shared.api.report import CSV_COLUMNS, row_to_wire, to_csv, wants_csv
from shared.domain.model import Action, HistoryRecord, Language, Outcome, ReplyStatus, Source
from shared.evidence.compliance import report_row


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-26T10:00:00Z", datetime(2026, 11, 26, 10, tzinfo=UTC)),
        ("2026-11-26T10:00:00.250Z", datetime(2026, 11, 26, 10, 0, 0, 250000, tzinfo=UTC)),
        ("2026-11-26T10:00:00+00:00", datetime(2026, 11, 26, 10, tzinfo=UTC)),
        ("2026-11-26T10:00:00 00:00", datetime(2026, 11, 26, 10, tzinfo=UTC)),  # `+` as space
        (
            "2026-11-26T12:00:00 02:00",
            datetime(2026, 11, 26, 12, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("2026-11-26T05:00:00-05:00", datetime(2026, 11, 26, 10, tzinfo=UTC)),
    ],
)
def test_instants_need_an_offset(raw: str, expected: datetime) -> None:
    errors: dict[str, list[str]] = {}
    assert time_param(raw, "at", errors) == expected
    assert errors == {}


@pytest.mark.parametrize("raw", ["2026-11-26T10:00:00", "2026-11-26", "yesterday", "1e9"])
def test_instants_without_an_offset_are_refused(raw: str) -> None:
    errors: dict[str, list[str]] = {}
    assert time_param(raw, "at", errors) is None
    assert errors == {"at": [f"Must be {TIME_FORMAT}."]}  # the value is never echoed


@pytest.mark.parametrize(
    ("accept", "csv_wanted"),
    [
        ("text/csv", True),
        ("application/json, text/csv;q=0.5", True),
        ("TEXT/CSV; charset=utf-8", True),
        ("text/csv;q=0", False),
        ("application/json", False),
        (None, False),
        ("*/*", False),
    ],
)
def test_csv_is_given_when_asked_for(accept: str | None, csv_wanted: bool) -> None:
    assert wants_csv(accept) is csv_wanted


def test_csv_rows_parse_back_with_every_column() -> None:
    received = datetime(2026, 11, 2, 12, tzinfo=UTC)
    rec = HistoryRecord(
        sender="+18005550100",
        recipient="+14255550123",
        action=Action.OPT_OUT,
        source=Source.KEYWORD,
        event_id="m,1",
        message_id='m,"1"',  # commas and quotes survive
        event_at=received,
        outcome=Outcome.APPLIED,
        keyword="ARRÊT",
        language=Language.FR,
        reply_status=ReplyStatus.SENT,
        recorded_at=received + timedelta(seconds=1),
        reply_sent_at=received + timedelta(minutes=6),
    )
    wire = row_to_wire(report_row(rec, received + timedelta(days=1)))
    [row] = list(csv.DictReader(io.StringIO(to_csv([wire]).decode("utf-8"))))
    assert tuple(row) == CSV_COLUMNS
    assert row["messageId"] == 'm,"1"' and row["keyword"] == "ARRÊT"
    assert row["language"] == "fr"
    assert float(row["confirmationDelaySeconds"]) == 360.0
    assert row["flags"] == "confirmation-late"
    assert row["optOutDeadline"] == "2026-11-16"
