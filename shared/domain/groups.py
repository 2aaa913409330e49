"""Sender groups and brand-wide revoke-all (FCC 47 CFR 64.1200(a)(10), effective 2027-01-31).

A sender takes part when its program names a `group` (a brand) and sets `revokeAll: true`.

- **STOP** (any opt-out keyword, any language, or a plain-language revocation) to a taking-part
  sender writes that sender's own entry, as always, and ONE group-wide entry in the group's own
  partition. `check` on any taking-part sender reads its own partition and the group's
  (concurrent point reads), so every sender of the group sees it, present and future, and
  nothing is copied per sender.
- **START** to a taking-part sender lifts the group-wide entry and that sender's own entry.
  Other senders' own entries stay. Why: the group-wide entry is what a keyword made, so a
  keyword undoes it, symmetrically (one STOP to the brand = out of the brand; one START to the
  brand = back into the brand, which is also what every confirmation text tells the person:
  "Reply START to resubscribe"). A sender that was itself told STOP keeps that direct entry until
  it is itself told START, so an explicit STOP to that number is only ever undone by an explicit
  START to that number.
- **Order.** The group partition keeps its own newest-event marker, written in the same
  conditional transaction as the group-wide entry (like a sender's), so whichever of a STOP and
  a START was sent last wins at the group level, whatever order they arrive or run in.
- The ACS-compatible `add` / `remove` act on a sender's own entries only (their wire format is
  ACS's); `check` answers "opted out" for a sender's own entry or its group's.
- A sender that leaves the group (program change) stops seeing the group's entries at once and
  keeps its own; a sender that joins sees the group's existing entries at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Lower case letters, digits, `.`, `_`, `-`; starts and ends with a letter or digit. Safe as a
# Table key (no `/ \ # ?` or control characters) and in a URL path segment.
_GROUP_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")
MAX_GROUP_LENGTH = 64


class InvalidGroup(ValueError):
    """Not a usable group name (the message never echoes the value)."""


def parse_group(raw: object) -> str:
    """A group name, folded to lower case ("Contoso" and "contoso" are one group)."""
    if not isinstance(raw, str):
        raise InvalidGroup("must be a string")
    name = raw.strip().lower()
    if not _GROUP_NAME.fullmatch(name):
        raise InvalidGroup(
            f"must be 1-{MAX_GROUP_LENGTH} characters: letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class GroupMembership:
    """A sender's place in a revoke-all group, from its program."""

    group: str | None
    revoke_all: bool

    @property
    def revoke_all_group(self) -> str | None:
        """The group whose group-wide entries this sender writes and reads, if any."""
        return self.group if self.group and self.revoke_all else None


NO_GROUP = GroupMembership(None, False)
