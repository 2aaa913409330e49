"""Business days, for "an opt-out is honoured within 10 business days of receipt" (FCC 47 CFR
64.1200(a)(10)).

How they are counted (docs/evidence.md):
- A business day is Monday to Friday. Saturdays and Sundays are not counted.
- Public holidays are NOT taken out: a weekday holiday counts as a business day. Which holidays
  apply depends on the jurisdiction, and counting them as working days can only bring the
  deadline earlier, so a report never calls a late opt-out "in time".
- Days are calendar days in UTC (the service does not know the sender's time zone).
- The day of receipt is day 0; the deadline is the end of the 10th business day after it. An
  opt-out received on a Saturday has Monday as its 1st business day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

OPTOUT_BUSINESS_DAYS = 10
_WEEK = 7
_WORKDAYS_PER_WEEK = 5


def is_business_day(day: date) -> bool:
    return day.weekday() < _WORKDAYS_PER_WEEK


def add_business_days(start: date, days: int) -> date:
    """The date `days` (>= 0) business days after `start` (0: `start` itself)."""
    if days < 0:
        raise ValueError("days must be >= 0")
    weeks, rest = divmod(days, _WORKDAYS_PER_WEEK)
    day = start + timedelta(weeks=weeks)
    while rest:
        day += timedelta(days=1)
        if is_business_day(day):
            rest -= 1
    # Whole weeks from a weekend day land on a weekend day: move to the last business day
    # before it, which is still `days` business days after `start`.
    while days and not is_business_day(day):
        day -= timedelta(days=1)
    return day


def business_days_between(start: date, end: date) -> int:
    """Business days after `start` up to and including `end` (0 when end <= start)."""
    if end <= start:
        return 0
    total = (end - start).days
    weeks, rest = divmod(total, _WEEK)
    count = weeks * _WORKDAYS_PER_WEEK
    day = start + timedelta(weeks=weeks)
    for _ in range(rest):
        day += timedelta(days=1)
        count += is_business_day(day)
    return count


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def optout_deadline(received_at: datetime) -> date:
    """The last UTC day on which an opt-out received at `received_at` is still in time."""
    return add_business_days(utc_day(received_at), OPTOUT_BUSINESS_DAYS)


def applied_in_time(received_at: datetime, effective_at: datetime) -> bool:
    return utc_day(effective_at) <= optout_deadline(received_at)
