"""Values remembered per key for a while, per process (thread-safe)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class TtlMemo(Generic[T]):
    """`get(key, load)`: the value loaded less than `ttl` seconds ago (by `clock`), else
    `load()`, remembered. `load` runs outside the lock; an exception from it is not
    remembered."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._values: dict[str, tuple[float, T]] = {}

    def get(self, key: str, load: Callable[[], T]) -> T:
        now = self._clock()
        with self._lock:
            hit = self._values.get(key)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        value = load()
        with self._lock:
            self._values[key] = (now, value)
        return value

    def forget(self, key: str) -> None:
        with self._lock:
            self._values.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
