"""Who is opted out of a sender: its own entries, or its revoke-all group's group-wide entries.

`OptOutMembership.opted_out(sender, recipients)` is the one question `check` asks, and the one
the send gateway should ask before sending (it answers for groups too).

Cost and latency: the sender's program (which group, if any) is read *concurrently* with the
sender's point reads and with the group's point reads for the group this process last saw for
the sender, so a check is one round trip of latency. Only when the program names another group
than the one guessed (the first check in a process, or right after a program change) are the
right group's reads made after the program is known: never a stale answer, at worst a second
round trip. Requests per check of n recipients: 1 + n, plus n for a revoke-all sender.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from shared.domain.groups import NO_GROUP, GroupMembership
from shared.domain.model import SenderProgram
from shared.domain.phone import PhoneNumber
from shared.domain.repositories import GroupOptOuts, OptOutEntries, SenderPrograms
from shared.domain.sender import SenderId


def membership_of(program: SenderProgram | None) -> GroupMembership:
    if program is None:
        return NO_GROUP
    return GroupMembership(program.group, bool(program.revoke_all))


class OptOutMembership:
    def __init__(
        self,
        entries: OptOutEntries,
        groups: GroupOptOuts,
        programs: SenderPrograms,
        *,
        max_parallel_checks: int = 16,
    ) -> None:
        self._entries = entries
        self._groups = groups
        self._programs = programs
        # Its own pool: the reads it starts use the Table adapters' pool, so waiting here can
        # never starve them.
        self._pool = ThreadPoolExecutor(max_parallel_checks, thread_name_prefix="membership")
        self._last_group: dict[str, str | None] = {}  # sender -> its revoke-all group, as seen

    def group_of(self, sender: SenderId) -> str | None:
        """The sender's revoke-all group, from its program (one read)."""
        return membership_of(self._programs.get_program(sender)).revoke_all_group

    def opted_out(self, sender: SenderId, recipients: Sequence[PhoneNumber]) -> set[str]:
        """The E.164 numbers of `recipients` opted out of `sender`, directly or via its group."""
        if not recipients:
            return set()
        guess = self._last_group.get(sender.key)
        program: Future[str | None] = self._pool.submit(self.group_of, sender)
        own = self._pool.submit(self._entries.opted_out, sender, recipients)
        guessed = None
        if guess is not None:
            guessed = self._pool.submit(self._groups.group_opted_out, guess, recipients)
        group = program.result()
        self._last_group[sender.key] = group
        if group is None:
            return own.result()
        if group == guess and guessed is not None:
            return own.result() | guessed.result()
        return own.result() | self._groups.group_opted_out(group, recipients)
