"""The service layer for the API's add / remove / check: domain types in, domain types out.

Knows neither HTTP nor Table entities: it talks to an `OptOutRepository`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from shared.phone import PhoneNumber
from shared.store import HistoryRecord, OptOutRepository


def utcnow() -> datetime:
    return datetime.now(UTC)


class OptOutService:
    def __init__(self, repo: OptOutRepository, clock: Callable[[], datetime] = utcnow) -> None:
        self._repo = repo
        self._clock = clock

    def add(self, sender: PhoneNumber, recipients: Sequence[PhoneNumber]) -> None:
        if not recipients:
            return
        at = self._clock()
        self._repo.add(sender, recipients, at)
        self._history(sender, recipients, "optout", at)

    def remove(self, sender: PhoneNumber, recipients: Sequence[PhoneNumber]) -> None:
        if not recipients:
            return
        at = self._clock()
        self._repo.remove(sender, recipients)
        self._history(sender, recipients, "optin", at)

    def check(self, sender: PhoneNumber, recipients: Sequence[PhoneNumber]) -> set[str]:
        if not recipients:
            return set()
        return self._repo.opted_out(sender, recipients)

    def _history(
        self, sender: PhoneNumber, recipients: Sequence[PhoneNumber], action: str, at: datetime
    ) -> None:
        request_id = str(uuid.uuid4())
        unique = {r.e164 for r in recipients}
        self._repo.record_history(
            [
                HistoryRecord(
                    sender=sender.e164,
                    recipient=r,
                    action=action,
                    source="api",
                    event_id=f"{request_id}:{r}",
                    message_id=request_id,
                    event_at=at,
                    outcome="applied",
                )
                for r in sorted(unique)
            ]
        )
