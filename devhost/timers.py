"""Timer triggers, run as the Functions host runs them.

- The schedule comes from the `@app.timer_trigger(schedule=...)` decorator: an NCRONTAB
  expression with six fields, seconds first (`{second} {minute} {hour} {day} {month}
  {day-of-week}`), or a TimeSpan (`hh:mm:ss`, a fixed interval). `%Setting%` in it is resolved
  from the app settings when the app is indexed, as the host does. Evaluated in UTC (the host's
  default without WEBSITE_TIME_ZONE). As in NCrontab, a day must match both the day-of-month and
  the day-of-week fields (croniter's `day_or=False`; Vixie cron would take either).
- `run_on_startup=True` invokes the function once when the host starts.
- `use_monitor` (schedule status kept in storage across restarts) is ignored locally.
- One invocation at a time: the next occurrence is computed after an invocation ends, so
  occurrences missed while a run overran are skipped, not queued. An invocation that starts
  more than a second after its occurrence (the process was suspended) gets `past_due=True`.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.functions.timer import TimerRequest
from croniter import croniter

from devhost.functions import (
    FunctionInfo,
    IndexedApp,
    IndexingError,
    resolve_binding_expression,
)
from devhost.invocation import Invocation, invoke_sync

log = logging.getLogger("devhost")

TIMER_TRIGGER = "timerTrigger"
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$")
# An invocation counts as past due when it starts this much after its occurrence.
PAST_DUE_TOLERANCE = timedelta(seconds=1)


class Schedule:
    """An NCRONTAB expression (six fields, seconds first) or a TimeSpan interval."""

    def __init__(self, expression: str) -> None:
        self.expression = expression.strip()
        self._interval: timedelta | None = None
        span = _TIMESPAN.match(self.expression)
        if span:
            days, hours, minutes, seconds = (int(g or 0) for g in span.groups())
            self._interval = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
            if self._interval <= timedelta(0):
                raise ValueError(f"schedule {expression!r}: the interval must be positive")
            return
        if len(self.expression.split()) != 6:
            raise ValueError(
                f"schedule {expression!r}: expected an NCRONTAB expression with 6 fields "
                "(seconds first) or a TimeSpan hh:mm:ss"
            )
        if not croniter.is_valid(self.expression, second_at_beginning=True):
            raise ValueError(f"schedule {expression!r} is not a valid NCRONTAB expression")

    def next_after(self, when: datetime) -> datetime:
        """The first occurrence strictly after `when` (UTC)."""
        when = when.astimezone(UTC)
        if self._interval is not None:
            return when + self._interval
        it = croniter(self.expression, when, second_at_beginning=True, day_or=False)
        nxt: datetime = it.get_next(datetime)
        return nxt.astimezone(UTC)


@dataclass
class TimerFunction:
    fn: FunctionInfo
    schedule: Schedule
    run_on_startup: bool


def timer_functions(
    app: IndexedApp, environ: Mapping[str, str] | None = None
) -> list[TimerFunction]:
    """The app's timer-triggered functions, with their schedules resolved and parsed."""
    found: list[TimerFunction] = []
    for info in app.other:
        if info.trigger_type != TIMER_TRIGGER:
            continue
        expression = resolve_binding_expression(info.trigger.schedule or "", environ)
        try:
            schedule = Schedule(expression)
        except ValueError as exc:
            raise IndexingError(f"function {info.name!r}: {exc}") from exc
        found.append(TimerFunction(info, schedule, bool(info.trigger.run_on_startup)))
    return found


class TimerListener:
    """Runs one timer-triggered function on its schedule until `stop()`."""

    def __init__(
        self,
        timer: TimerFunction,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        invoker: Callable[[Invocation, Any], Any] = invoke_sync,
    ) -> None:
        self.timer = timer
        self._invoke = invoker
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last: datetime | None = None
        self.invocations = 0

    def start(self) -> None:
        name = f"timer-{self.timer.fn.name}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop scheduling; an invocation in progress is waited for (bounded)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        now = self._clock()
        if self.timer.run_on_startup:
            self.fire(now, now)
        due = self.timer.schedule.next_after(self._clock())
        log.info(
            "The next occurrence of 'Functions.%s' is %s",
            self.timer.fn.name,
            due.isoformat(),
        )
        while not self._stop.wait(max(0.0, (due - self._clock()).total_seconds())):
            self.fire(due, self._clock())
            due = self.timer.schedule.next_after(max(due, self._clock()))

    def fire(self, due: datetime, started: datetime) -> None:
        """One invocation for the occurrence `due`; failures are logged, never stop the timer."""
        nxt = self.timer.schedule.next_after(max(due, started))
        request = TimerRequest(
            past_due=started - due > PAST_DUE_TOLERANCE,
            schedule_status={
                "Last": (self.last or due).isoformat(),
                "Next": nxt.isoformat(),
                "LastUpdated": started.isoformat(),
            },
            schedule={"AdjustForDST": True},
        )
        invocation = Invocation(
            self.timer.fn,
            reason=f"Timer fired at {started.isoformat()}",
            details=f"Trigger Details: ScheduleStatus: Next={nxt.isoformat()}",
        )
        self.invocations += 1
        self.last = due
        # A failure is logged by the invocation; the next occurrence runs as scheduled.
        with contextlib.suppress(Exception):
            self._invoke(invocation, request)
