"""As-of status from a history (pure): around a sequence of STOP/START events, on both
timelines, at the exact instants."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from shared.domain.model import Action, HistoryRecord, Outcome, Source, TimeBasis
from shared.evidence.asof import group_status_at, status_at

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
US = timedelta(microseconds=1)
LAG = timedelta(seconds=2)  # received -> took effect


def event(n: int, action: Action, **changes: Any) -> HistoryRecord:
    """Received at T0 + n minutes, took effect LAG later."""
    at = T0 + timedelta(minutes=n)
    rec = HistoryRecord(
        sender="+18005550100",
        recipient="+14255550123",
        action=action,
        source=Source.KEYWORD,
        event_id=f"m{n}",
        message_id=f"m{n}",
        event_at=at,
        outcome=Outcome.APPLIED,
        keyword="STOP" if action == Action.OPT_OUT else "START",
        recorded_at=at + LAG,
    )
    return replace(rec, **changes)


STOP1 = event(10, Action.OPT_OUT)
START = event(20, Action.OPT_IN)
STOP2 = event(30, Action.OPT_OUT)
HELP = event(25, Action.HELP, outcome=Outcome.HELP)
HISTORY = [STOP2, HELP, START, STOP1]  # any order


def test_before_between_and_after_the_events() -> None:
    assert not status_at(HISTORY, T0).opted_out  # before anything
    first = status_at(HISTORY, T0 + timedelta(minutes=15))
    assert first.opted_out and first.deciding == STOP1 and first.next_change == START
    between = status_at(HISTORY, T0 + timedelta(minutes=25))
    assert not between.opted_out and between.deciding == START
    assert between.events == (STOP1, START)  # HELP changes nothing: not an event here
    last = status_at(HISTORY, T0 + timedelta(days=1))
    assert last.opted_out and last.deciding == STOP2 and last.next_change is None


def test_an_event_exactly_at_the_instant_counts() -> None:
    took_effect = STOP1.recorded_at
    assert took_effect is not None
    assert not status_at(HISTORY, took_effect - US).opted_out
    at = status_at(HISTORY, took_effect)
    assert at.opted_out and at.deciding == STOP1
    assert status_at(HISTORY, START.recorded_at).opted_out is False  # type: ignore[arg-type]


def test_effective_time_is_when_the_service_applied_it_not_the_sms_timestamp() -> None:
    received = STOP1.event_at
    # Between receipt and effect the service had not applied it yet...
    assert not status_at(HISTORY, received, TimeBasis.EFFECTIVE).opted_out
    # ... but the person had asked from their SMS's own timestamp.
    asked = status_at(HISTORY, received, TimeBasis.RECEIVED)
    assert asked.opted_out and asked.deciding == STOP1
    assert not status_at(HISTORY, received - US, TimeBasis.RECEIVED).opted_out


def test_a_superseded_stop_took_no_effect_but_was_asked_for() -> None:
    # The STOP sent at 40 arrived after the START sent at 50 had been applied.
    late_stop = event(40, Action.OPT_OUT, outcome=Outcome.SUPERSEDED)
    late_stop = replace(late_stop, recorded_at=T0 + timedelta(minutes=60))
    start = event(50, Action.OPT_IN)
    history = [late_stop, start]
    at = T0 + timedelta(minutes=45)
    assert not status_at(history, at, TimeBasis.EFFECTIVE).opted_out
    assert status_at(history, at, TimeBasis.RECEIVED).opted_out
    later = T0 + timedelta(minutes=70)
    assert not status_at(history, later, TimeBasis.EFFECTIVE).opted_out
    assert not status_at(history, later, TimeBasis.RECEIVED).opted_out


def test_api_changes_count_too() -> None:
    api_out = event(5, Action.OPT_OUT, source=Source.API, keyword="", message_id="")
    answer = status_at([api_out, START], T0 + timedelta(minutes=6))
    assert answer.opted_out and answer.deciding == api_out


@given(
    st.lists(st.tuples(st.integers(0, 100), st.booleans()), max_size=12, unique_by=lambda x: x[0]),
    st.integers(-5, 105),
)
def test_the_status_is_the_last_change_at_or_before_the_instant(
    changes: list[tuple[int, bool]], minute: int
) -> None:
    history = [event(n, Action.OPT_OUT if out else Action.OPT_IN) for n, out in changes]
    for basis in TimeBasis:
        at = (
            T0 + timedelta(minutes=minute) + (LAG if basis == TimeBasis.EFFECTIVE else timedelta(0))
        )
        earlier = sorted((n, out) for n, out in changes if n <= minute)
        answer = status_at(history, at, basis)
        assert answer.opted_out == (bool(earlier) and earlier[-1][1])
        assert len(answer.events) == len(earlier)


# --- through a revoke-all group ---------------------------------------------------------------


def to_sender(record: HistoryRecord, sender: str) -> HistoryRecord:
    return replace(record, sender=sender)


def test_group_status_follows_the_newest_keyword_event_of_any_sender() -> None:
    stop_a = to_sender(event(10, Action.OPT_OUT), "+18005550100")
    start_b = to_sender(event(20, Action.OPT_IN), "+18005550111")
    api_out = event(25, Action.OPT_OUT, source=Source.API, keyword="")  # never group-wide
    history = [start_b, api_out, stop_a]
    assert not group_status_at(history, T0).opted_out
    between = group_status_at(history, T0 + timedelta(minutes=15))
    assert between.opted_out and between.deciding == stop_a and between.next_change == start_b
    after = group_status_at(history, T0 + timedelta(minutes=30))
    assert not after.opted_out and after.deciding == start_b and after.next_change is None


def test_a_late_older_stop_does_not_win_at_the_group() -> None:
    start = event(20, Action.OPT_IN)
    late_stop = to_sender(event(15, Action.OPT_OUT, outcome=Outcome.SUPERSEDED), "+18005550111")
    late_stop = replace(late_stop, recorded_at=T0 + timedelta(minutes=30))
    history = [start, late_stop]
    at = T0 + timedelta(minutes=40)
    assert not group_status_at(history, at).opted_out  # START (sent later) still decides
    asked = group_status_at(history, T0 + timedelta(minutes=17), TimeBasis.RECEIVED)
    assert asked.opted_out and asked.deciding == late_stop


@given(
    st.lists(
        st.tuples(st.integers(0, 50), st.booleans()),
        min_size=1,
        max_size=10,
        unique_by=lambda x: x[0],
    ),
    st.randoms(use_true_random=False),
)
def test_group_status_is_what_newest_wins_made_of_the_arrivals(
    sent: list[tuple[int, bool]], rnd: Any
) -> None:
    """Events sent at `n` minutes arrive in a random order, one per hour; the group applies
    newest-wins. After each arrival, the effective status must be the simulated state."""
    arrivals = list(sent)
    rnd.shuffle(arrivals)
    arrived = [T0 + timedelta(hours=hour) for hour in range(1, len(arrivals) + 1)]
    records = [
        event(n, Action.OPT_OUT if out else Action.OPT_IN, recorded_at=when)
        for (n, out), when in zip(arrivals, arrived, strict=True)
    ]
    state: tuple[int, bool] | None = None
    for (n, out), when in zip(arrivals, arrived, strict=True):
        if state is None or n > state[0]:
            state = (n, out)
        assert group_status_at(records, when).opted_out == state[1]
    assert group_status_at(records, arrived[0] - US).deciding is None  # nothing arrived yet
