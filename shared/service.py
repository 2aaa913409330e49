"""The service layer for the API's add / remove / check: domain types in, domain types out.

Knows neither HTTP nor Table entities: it talks to the OptOutEntries and History protocols.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from shared.model import Action, HistoryRecord, Outcome, Source
from shared.phone import PhoneNumber
from shared.repositories import History, OptOutEntries
from shared.sender import SenderId


def utcnow() -> datetime:
    return datetime.now(UTC)


class OptOutService:
    def __init__(
        self, entries: OptOutEntries, history: History, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._entries = entries
        self._history_log = history
        self._clock = clock

    def add(self, sender: SenderId, recipients: Sequence[PhoneNumber]) -> None:
        if not recipients:
            return
        at = self._clock()
        self._entries.add(sender, recipients, at)
        self._history(sender, recipients, Action.OPT_OUT, at)

    def remove(self, sender: SenderId, recipients: Sequence[PhoneNumber]) -> None:
        if not recipients:
            return
        at = self._clock()
        self._entries.remove(sender, recipients)
        self._history(sender, recipients, Action.OPT_IN, at)

    def check(self, sender: SenderId, recipients: Sequence[PhoneNumber]) -> set[str]:
        if not recipients:
            return set()
        return self._entries.opted_out(sender, recipients)

    def _history(
        self, sender: SenderId, recipients: Sequence[PhoneNumber], action: Action, at: datetime
    ) -> None:
        request_id = str(uuid.uuid4())
        unique = {r.e164 for r in recipients}
        self._history_log.record_history(
            [
                HistoryRecord(
                    sender=sender.key,
                    recipient=r,
                    action=action,
                    source=Source.API,
                    event_id=f"{request_id}:{r}",
                    message_id=request_id,
                    event_at=at,
                    outcome=Outcome.APPLIED,
                )
                for r in sorted(unique)
            ]
        )
