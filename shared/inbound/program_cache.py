"""Sender programs as keyword events read them: remembered briefly per process.

A burst of keyword events for one sender (a campaign's STOPs) needs that sender's program for
every reply; read once per `PROGRAM_CACHE_SECONDS` instead of once per event. A change made
through the API (`PUT`/`DELETE .../program`) reaches keyword replies within that time. The
same holds for a group's revoke-all senders (named in group-wide change events).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from shared.domain.model import SenderProgram
from shared.domain.repositories import SenderPrograms
from shared.domain.sender import SenderId
from shared.platform.ttl_memo import TtlMemo

PROGRAM_CACHE_SECONDS = 30.0


class CachedPrograms:
    """SenderPrograms with `get_program` answered from memory for up to `ttl` seconds."""

    def __init__(
        self,
        programs: SenderPrograms,
        ttl: float = PROGRAM_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._programs = programs
        self._cache: TtlMemo[SenderProgram | None] = TtlMemo(ttl, clock)
        self._members: TtlMemo[list[str]] = TtlMemo(ttl, clock)

    def get_program(self, sender: SenderId) -> SenderProgram | None:
        # "none" is remembered too
        return self._cache.get(sender.key, lambda: self._programs.get_program(sender))

    def revoke_all_senders(self, group: str) -> list[str]:
        """The group's revoke-all senders (for a group-wide change's event), remembered as
        long as a program: a burst of group-wide changes queries the programs once."""
        return self._members.get(group, lambda: self._programs.revoke_all_senders(group))

    def put_program(self, sender: SenderId, program: SenderProgram) -> None:
        self.forget(sender)
        self._programs.put_program(sender, program)
        self.forget(sender)

    def delete_program(self, sender: SenderId) -> None:
        self.forget(sender)
        self._programs.delete_program(sender)
        self.forget(sender)

    def forget(self, sender: SenderId) -> None:
        self._cache.forget(sender.key)
        self._members.clear()  # the sender may have joined or left a group
