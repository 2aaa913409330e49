"""devhost timer triggers: NCRONTAB schedules (six fields, seconds first) and the listener."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import azure.functions as func
import pytest

from devhost.functions import IndexingError, function_info, index_app
from devhost.timers import Schedule, TimerFunction, TimerListener, timer_functions

TOY_APP = Path(__file__).resolve().parent / "devhost_app"
T0 = datetime(2026, 11, 26, 10, 7, 13, tzinfo=UTC)  # a Thursday


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # The examples of the Functions timer-trigger documentation.
        ("0 */5 * * * *", [at(2026, 11, 26, 10, 10), at(2026, 11, 26, 10, 15)]),
        ("0 0 * * * *", [at(2026, 11, 26, 11), at(2026, 11, 26, 12)]),
        ("0 0 */2 * * *", [at(2026, 11, 26, 12), at(2026, 11, 26, 14)]),
        ("0 0 9-10 * * *", [at(2026, 11, 27, 9), at(2026, 11, 27, 10)]),
        ("0 30 9 * * *", [at(2026, 11, 27, 9, 30), at(2026, 11, 28, 9, 30)]),
        ("0 30 9 * * 1-5", [at(2026, 11, 27, 9, 30), at(2026, 11, 30, 9, 30)]),
        ("0 30 9 * Jan Mon", [at(2027, 1, 4, 9, 30), at(2027, 1, 11, 9, 30)]),
        ("5-7 * * * * *", [at(2026, 11, 26, 10, 8, 5), at(2026, 11, 26, 10, 8, 6)]),
        ("*/20 * * * * *", [at(2026, 11, 26, 10, 7, 20), at(2026, 11, 26, 10, 7, 40)]),
        # NCrontab: a day must match day-of-month AND day-of-week (Friday the 13th).
        ("0 0 0 13 * 5", [at(2027, 8, 13), at(2028, 10, 13)]),
        # TimeSpan: a fixed interval.
        ("00:00:10", [T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)]),
        ("1.00:00:00", [T0 + timedelta(days=1), T0 + timedelta(days=2)]),
    ],
)
def test_schedule_mapping(expression: str, expected: list[datetime]) -> None:
    schedule = Schedule(expression)
    first = schedule.next_after(T0)
    assert [first, schedule.next_after(first)] == expected


@pytest.mark.parametrize(
    "bad", ["*/5 * * * *", "0 */5 * * * * *", "60 * * * * *", "every minute", "00:00:00", ""]
)
def test_invalid_schedules_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        Schedule(bad)


def test_schedule_setting_is_resolved_at_indexing(tmp_path: Path) -> None:
    (tmp_path / "devhost_toy_timers.py").write_text((TOY_APP / "function_app.py").read_text())
    env = {"DEVHOST_OK_QUEUE": "a", "DEVHOST_FAIL_QUEUE": "b"}
    app = index_app(tmp_path, "devhost_toy_timers", "", env)
    [timer] = timer_functions(app, {**env, "DEVHOST_TIMER_SCHEDULE": "0 */5 * * * *"})
    assert (timer.fn.name, timer.run_on_startup) == ("tick", True)
    assert timer.schedule.next_after(T0) == at(2026, 11, 26, 10, 10)
    with pytest.raises(IndexingError, match="DEVHOST_TIMER_SCHEDULE"):
        timer_functions(app, env)
    with pytest.raises(IndexingError, match="tick"):
        timer_functions(app, {**env, "DEVHOST_TIMER_SCHEDULE": "*/5 * * * *"})


def _timer(handler: object, schedule: str, run_on_startup: bool) -> TimerFunction:
    app = func.FunctionApp()
    app.timer_trigger(arg_name="timer", schedule=schedule, run_on_startup=run_on_startup)(handler)
    info = function_info(app.get_functions()[0], str(TOY_APP))
    from devhost.functions import FunctionInfo

    return TimerFunction(FunctionInfo(**info), Schedule(schedule), run_on_startup)


def test_listener_waits_for_the_schedule_without_run_on_startup() -> None:
    fired: list[float] = []
    started = time.monotonic()

    def handler(timer: func.TimerRequest) -> None:
        fired.append(time.monotonic() - started)

    listener = TimerListener(_timer(handler, "*/2 * * * * *", run_on_startup=False))
    listener.start()
    try:
        deadline = time.monotonic() + 10
        while len(fired) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        listener.stop()
    assert len(fired) >= 2
    assert fired[0] > 0.01  # not at start-up
    assert 1.5 < fired[1] - fired[0] < 2.5  # every two seconds


def test_a_failing_run_does_not_stop_the_timer_and_stop_waits_for_a_run() -> None:
    calls: list[bool] = []
    running = threading.Event()

    def handler(timer: func.TimerRequest) -> None:
        calls.append(timer.past_due)
        running.set()
        time.sleep(0.3)
        raise RuntimeError("boom")

    listener = TimerListener(_timer(handler, "*/1 * * * * *", run_on_startup=True))
    listener.start()
    try:
        assert running.wait(5)
        deadline = time.monotonic() + 5
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        listener.stop()
    count = len(calls)
    assert count >= 2 and calls[0] is False  # the start-up run is not past due
    time.sleep(1.2)
    assert len(calls) == count  # stopped: no more runs
