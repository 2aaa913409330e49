"""Bursts: a sender whose keyword events arrive close together (a campaign's STOPs)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

BURST_SECONDS = 1.0


class Bursts:
    """Tells, for each keyword event, whether another one for the same sender arrived within
    `window` seconds before it (per process: enough to choose a cheaper path, never for
    correctness)."""

    def __init__(
        self, window: float = BURST_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}

    def arrived(self, sender: str) -> bool:
        now = self._clock()
        with self._lock:
            last = self._last.get(sender)
            self._last[sender] = now
        return last is not None and now - last < self._window
