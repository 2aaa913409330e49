"""Business days for the 10-business-day opt-out deadline: Mon-Fri, no holidays, UTC days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.evidence.business_days import (
    add_business_days,
    applied_in_time,
    business_days_between,
    is_business_day,
    optout_deadline,
)

MONDAY = date(2026, 11, 2)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1))


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (MONDAY, 0, MONDAY),
        (MONDAY, 1, date(2026, 11, 3)),
        (MONDAY, 4, date(2026, 11, 6)),  # Friday
        (MONDAY, 5, date(2026, 11, 9)),  # next Monday: the weekend is skipped
        (MONDAY, 10, date(2026, 11, 16)),
        (date(2026, 11, 6), 1, date(2026, 11, 9)),  # Friday + 1 = Monday
        (date(2026, 11, 7), 1, date(2026, 11, 9)),  # Saturday + 1 = Monday
        (date(2026, 11, 7), 5, date(2026, 11, 13)),  # Saturday + 5 = Friday
        (date(2026, 11, 8), 10, date(2026, 11, 20)),  # Sunday + 10 = Friday two weeks on
        # Thanksgiving (Thu 2026-11-26) is a weekday like any other: holidays are not counted.
        (date(2026, 11, 20), 10, date(2026, 12, 4)),
    ],
)
def test_add_business_days(start: date, n: int, expected: date) -> None:
    assert add_business_days(start, n) == expected
    assert business_days_between(start, expected) == n


@given(days, st.integers(min_value=0, max_value=400))
def test_adding_then_counting_gives_the_days_back(start: date, n: int) -> None:
    end = add_business_days(start, n)
    assert business_days_between(start, end) == n
    if n:
        assert is_business_day(end)  # the nth business day is one
        assert business_days_between(start, end - timedelta(days=1)) == n - 1


@given(days, days)
def test_counting_matches_walking_day_by_day(start: date, end: date) -> None:
    walked = sum(
        is_business_day(start + timedelta(days=i)) for i in range(1, (end - start).days + 1)
    )
    assert business_days_between(start, end) == walked


def test_negative_days_are_refused() -> None:
    with pytest.raises(ValueError):
        add_business_days(MONDAY, -1)


def test_the_opt_out_deadline_is_the_end_of_the_tenth_business_day_in_utc() -> None:
    received = datetime(2026, 11, 2, 23, 30, tzinfo=UTC)  # Monday night
    assert optout_deadline(received) == date(2026, 11, 16)
    assert applied_in_time(received, datetime(2026, 11, 16, 23, 59, 59, tzinfo=UTC))
    assert not applied_in_time(received, datetime(2026, 11, 17, 0, 0, tzinfo=UTC))
    # A time given in another offset is placed on its UTC day: Tue 01:00+02:00 is Mon 23:00Z.
    local = datetime(2026, 11, 3, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    assert optout_deadline(local) == date(2026, 11, 16)
