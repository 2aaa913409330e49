"""Sender programs as keyword events read them: remembered briefly per process.

A burst of keyword events for one sender (a campaign's STOPs) needs that sender's program for
every reply; read once per `PROGRAM_CACHE_SECONDS` instead of once per event. A change made
through the API (`PUT`/`DELETE .../program`) reaches keyword replies within that time. The
same holds for a group's revoke-all senders (named in group-wide change events).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from shared.domain.model import SenderProgram
from shared.domain.repositories import SenderPrograms
from shared.domain.sender import SenderId

PROGRAM_CACHE_SECONDS = 30.0
T = TypeVar("T")


class CachedPrograms:
    """SenderPrograms with `get_program` answered from memory for up to `ttl` seconds."""

    def __init__(
        self,
        programs: SenderPrograms,
        ttl: float = PROGRAM_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._programs = programs
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, SenderProgram | None]] = {}
        self._members: dict[str, tuple[float, list[str]]] = {}

    def get_program(self, sender: SenderId) -> SenderProgram | None:
        # "none" is remembered too
        return self._remembered(self._cache, sender.key, lambda: self._programs.get_program(sender))

    def revoke_all_senders(self, group: str) -> list[str]:
        """The group's revoke-all senders (for a group-wide change's event), remembered as
        long as a program: a burst of group-wide changes queries the programs once."""
        return self._remembered(
            self._members, group, lambda: self._programs.revoke_all_senders(group)
        )

    def _remembered(self, cache: dict[str, tuple[float, T]], key: str, load: Callable[[], T]) -> T:
        """`cache[key]` if read less than `ttl` ago, else `load()` (and remember it)."""
        now = self._clock()
        with self._lock:
            hit = cache.get(key)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        value = load()
        with self._lock:
            cache[key] = (now, value)
        return value

    def put_program(self, sender: SenderId, program: SenderProgram) -> None:
        self.forget(sender)
        self._programs.put_program(sender, program)
        self.forget(sender)

    def delete_program(self, sender: SenderId) -> None:
        self.forget(sender)
        self._programs.delete_program(sender)
        self.forget(sender)

    def forget(self, sender: SenderId) -> None:
        with self._lock:
            self._cache.pop(sender.key, None)
            self._members.clear()  # the sender may have joined or left a group
