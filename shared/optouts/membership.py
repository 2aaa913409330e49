"""Who is opted out of a sender: its own entries, or its revoke-all group's group-wide entries.

`OptOutMembership.opted_out(sender, recipients)` is the one question `check` asks, and the one
the send gateway should ask before sending (it answers for groups too).

Cost and latency: the sender's program (which group, if any) comes from the programs the
runtime gives it: `shared/inbound/program_cache.CachedPrograms`, at most 30 s old, so a steady
`check` of n recipients is n point reads (2n for a revoke-all sender: the sender's and the
group's, concurrently), one round trip. Once per 30 s per sender and instance the program is
read first (one more request and round trip).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

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

    def group_of(self, sender: SenderId) -> str | None:
        """The sender's revoke-all group, from its program (cached by the runtime)."""
        return membership_of(self._programs.get_program(sender)).revoke_all_group

    def opted_out(self, sender: SenderId, recipients: Sequence[PhoneNumber]) -> set[str]:
        """The E.164 numbers of `recipients` opted out of `sender`, directly or via its group."""
        if not recipients:
            return set()
        group = self.group_of(sender)
        if group is None:
            return self._entries.opted_out(sender, recipients)
        theirs = self._pool.submit(self._groups.group_opted_out, group, recipients)
        return self._entries.opted_out(sender, recipients) | theirs.result()
