"""Compliance report rows (pure): delays from known times, the 5-minute and 10-business-day
flags, totals, and the page cursor that carries them."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.model import (
    Action,
    DeliveryStatus,
    HistoryRecord,
    InvalidPageToken,
    Outcome,
    ReplyStatus,
    ReportFlag,
    Source,
)
from shared.evidence.compliance import ReportTotals, report_row
from shared.evidence.report_paging import ReportCursor, decode_cursor, encode_cursor

RECEIVED = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)  # a Monday
NOW = RECEIVED + timedelta(days=30)
SENDER = "+18005550100"


def stop(**changes: Any) -> HistoryRecord:
    rec = HistoryRecord(
        sender=SENDER,
        recipient="+14255550123",
        action=Action.OPT_OUT,
        source=Source.KEYWORD,
        event_id="m1",
        message_id="m1",
        event_at=RECEIVED,
        outcome=Outcome.APPLIED,
        keyword="STOP",
        reply_status=ReplyStatus.SENT,
        recorded_at=RECEIVED + timedelta(seconds=3),
        reply_sent_at=RECEIVED + timedelta(seconds=4, milliseconds=500),
    )
    return replace(rec, **changes)


def test_delays_come_from_the_recorded_times() -> None:
    row = report_row(stop(), NOW)
    assert row.received_at == RECEIVED
    assert row.effective_at == RECEIVED + timedelta(seconds=3)
    assert row.effect_delay == timedelta(seconds=3)
    assert row.confirmation_delay == timedelta(seconds=4.5)
    assert row.optout_deadline == date(2026, 11, 16)
    assert row.flags == ()


@pytest.mark.parametrize(
    ("sent_after", "late"),
    [
        (timedelta(minutes=5), False),  # exactly 5 minutes is in time
        (timedelta(minutes=5, microseconds=1), True),
        (timedelta(hours=2), True),
    ],
)
def test_a_confirmation_later_than_five_minutes_is_flagged(
    sent_after: timedelta, late: bool
) -> None:
    row = report_row(stop(reply_sent_at=RECEIVED + sent_after), NOW)
    assert (ReportFlag.CONFIRMATION_LATE in row.flags) is late
    assert row.confirmation_delay == sent_after


def test_a_confirmation_not_sent_is_late_once_five_minutes_have_passed() -> None:
    failed = stop(reply_status=ReplyStatus.FAILED, reply_sent_at=None)
    assert report_row(failed, NOW).flags == (ReportFlag.CONFIRMATION_LATE,)
    pending = stop(reply_status=ReplyStatus.SENDING, reply_sent_at=None)
    assert report_row(pending, RECEIVED + timedelta(minutes=4)).flags == ()
    assert report_row(pending, RECEIVED + timedelta(minutes=6)).flags == (
        ReportFlag.CONFIRMATION_LATE,
    )


def test_rows_from_before_reply_sent_at_say_the_time_is_unknown() -> None:
    row = report_row(stop(reply_sent_at=None), NOW)
    assert row.flags == (ReportFlag.CONFIRMATION_TIME_UNKNOWN,)
    assert row.confirmation_delay is None


def test_no_confirmation_is_due_for_api_changes_or_superseded_events() -> None:
    api = stop(source=Source.API, keyword="", reply_status=ReplyStatus.NONE, reply_sent_at=None)
    assert report_row(api, NOW).flags == ()
    assert report_row(api, NOW).confirmation_sent_at is None
    superseded = stop(outcome=Outcome.SUPERSEDED, reply_status=ReplyStatus.NONE)
    row = report_row(superseded, NOW)
    assert (row.effective_at, row.effect_delay, row.flags) == (None, None, ())


def test_a_row_shows_whether_its_confirmation_was_delivered() -> None:
    delivered_at = RECEIVED + timedelta(seconds=7)
    row = report_row(stop(delivery_status=DeliveryStatus.DELIVERED, delivered_at=delivered_at), NOW)
    assert (row.confirmation_delivery, row.confirmation_delivered_at) == (
        DeliveryStatus.DELIVERED,
        delivered_at,
    )
    failed = report_row(stop(delivery_status=DeliveryStatus.FAILED), NOW)
    assert (failed.confirmation_delivery, failed.confirmation_delivered_at) == (
        DeliveryStatus.FAILED,
        None,
    )
    assert report_row(stop(), NOW).confirmation_delivery is DeliveryStatus.NONE  # no report yet
    # A row with no confirmation due shows none, whatever it holds.
    api = stop(source=Source.API, delivery_status=DeliveryStatus.DELIVERED)
    assert report_row(api, NOW).confirmation_delivery is DeliveryStatus.NONE


def test_totals_from_a_token_issued_before_confirmations_were_counted() -> None:
    old = ReportTotals(2).to_dict()
    del old["confirmations"]
    assert ReportTotals.from_dict(old).confirmations == Counter()


def test_an_opt_out_applied_after_ten_business_days_is_flagged() -> None:
    in_time = stop(recorded_at=datetime(2026, 11, 16, 23, 59, tzinfo=UTC))
    assert ReportFlag.OPTOUT_LATE not in report_row(in_time, NOW).flags
    late = stop(recorded_at=datetime(2026, 11, 17, 0, 1, tzinfo=UTC))
    assert ReportFlag.OPTOUT_LATE in report_row(late, NOW).flags
    # Opt-ins have no such deadline.
    optin = replace(late, action=Action.OPT_IN, keyword="START")
    assert report_row(optin, NOW).optout_deadline is None
    assert ReportFlag.OPTOUT_LATE not in report_row(optin, NOW).flags


def test_totals_per_source_keyword_outcome_and_flag() -> None:
    totals = ReportTotals()
    rows = [
        stop(
            delivery_status=DeliveryStatus.DELIVERED, delivered_at=RECEIVED + timedelta(seconds=7)
        ),
        stop(keyword="ARRET", reply_sent_at=RECEIVED + timedelta(minutes=9)),
        stop(action=Action.OPT_IN, keyword="START", delivery_status=DeliveryStatus.FAILED),
        stop(source=Source.API, keyword="", reply_status=ReplyStatus.NONE, reply_sent_at=None),
        stop(outcome=Outcome.SUPERSEDED),
    ]
    for r in rows:
        totals.add(report_row(r, NOW))
    assert totals.to_dict() == {
        "rows": 5,
        "bySource": {"api": {"optout": 1}, "keyword": {"optin": 1, "optout": 3}},
        "byKeyword": {"ARRET": 1, "START": 1, "STOP": 2},
        "byOutcome": {"applied": 4, "superseded": 1},
        "flags": {"confirmation-late": 1},
        # Three confirmations were due and sent; the reports said one arrived, one did not.
        "confirmations": {"due": 3, "sent": 3, "delivered": 1, "failed": 1},
    }


counts = st.dictionaries(st.text(min_size=1, max_size=8), st.integers(0, 10**9), max_size=4)


@given(st.integers(0, 10**9), counts, counts, counts)
def test_totals_survive_the_page_token(rows: int, kw: dict, out: dict, flags: dict) -> None:
    totals = ReportTotals(
        rows, by_keyword=Counter(kw), by_outcome=Counter(out), flags=Counter(flags)
    )
    totals.by_source["keyword/optout"] = 3
    start, end = RECEIVED, NOW
    token = encode_cursor(ReportCursor(SENDER, start, end, "abc", totals))
    back = decode_cursor(token, SENDER)
    assert (back.start, back.end, back.store_token) == (start, end, "abc")
    assert back.totals.to_dict() == totals.to_dict()


@pytest.mark.parametrize(
    "token",
    [
        "not a token!",
        encode_cursor(ReportCursor("+18005550199", RECEIVED, NOW, "abc")),  # another sender's
        encode_cursor(ReportCursor(SENDER, RECEIVED, NOW)),  # no scan position: never issued
        '{"s": 1}',
        "[]",
    ],
)
def test_a_foreign_or_altered_token_is_refused(token: str) -> None:
    with pytest.raises(InvalidPageToken):
        decode_cursor(token, SENDER)


def test_altered_totals_are_refused() -> None:
    token = encode_cursor(ReportCursor(SENDER, RECEIVED, NOW, "abc"))
    data = json.loads(token)
    data["totals"]["rows"] = -4
    bad = json.dumps(data)
    with pytest.raises(InvalidPageToken):
        decode_cursor(bad, SENDER)
