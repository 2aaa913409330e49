"""The mirror into ACS's own opt-out database (docs/acs-mirror.md): its domain records.

A mirrored sender's changes are noted as *pending* items (one per change: the pair, when it
changed, its version) in the sender's mirror journal; a drainer pushes each pending pair's
current state to ACS (`POST /sms/optouts:add|remove`) and then forgets the items it pushed.
Items ACS will never take (a per-recipient 4xx), or that failed too often, are *poisoned*: kept
apart, visible in the status, fixed by `optouts reconcile --fix`. Knows no Azure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class MirrorItem:
    """One change of a mirrored sender's pair still to be pushed (or poisoned)."""

    recipient: str  # E.164
    changed_at: datetime  # when the change took effect: items are kept oldest first
    version: int  # the pair's change count (its feed sequence); 0 when not known
    reason: str = ""  # why it was poisoned
    key: str = field(default="", compare=False)  # the store's key for it


@dataclass(frozen=True)
class MirrorState:
    """The drain's bookkeeping for one sender: who drains it (a lease), and how it went."""

    lease_until: datetime | None = None
    holder: str = ""
    tries: int = 0  # failed ACS calls in a row
    last_error: str = ""
    last_error_at: datetime | None = None
    last_mirrored_at: datetime | None = None
    etag: str | None = field(default=None, compare=False)
