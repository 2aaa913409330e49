"""The service layer for the API's add / remove / check: domain types in, domain types out.

Knows neither HTTP nor Table entities: it talks to the OptOutEntries and History protocols,
and makes changes through the change feed (`shared/feed.py`), so that each applied change
publishes exactly one event and a no-op none.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from shared.feed import ChangeFeed
from shared.membership import OptOutMembership
from shared.model import Action, HistoryRecord, Outcome, Source
from shared.optout_events import OptOutChange
from shared.phone import PhoneNumber
from shared.repositories import History, OptOutEntries
from shared.sender import SenderId


def utcnow() -> datetime:
    return datetime.now(UTC)


class OptOutService:
    def __init__(
        self,
        entries: OptOutEntries,
        history: History,
        feed: ChangeFeed,
        clock: Callable[[], datetime] = utcnow,
        *,
        membership: OptOutMembership | None = None,
    ) -> None:
        self._entries = entries
        self._history_log = history
        self._feed = feed
        self._clock = clock
        self._membership = membership

    def add(self, sender: SenderId, recipients: Sequence[PhoneNumber]) -> None:
        if not recipients:
            return
        at = self._clock()
        self._feed.apply(sender, recipients, opt_out=True, source=Source.API, at=at)
        self._history(sender, recipients, Action.OPT_OUT, at)

    def remove(self, sender: SenderId, recipients: Sequence[PhoneNumber]) -> None:
        if not recipients:
            return
        at = self._clock()
        self._feed.apply(sender, recipients, opt_out=False, source=Source.API, at=at)
        self._history(sender, recipients, Action.OPT_IN, at)

    def import_optouts(
        self,
        sender: SenderId,
        recipients: Sequence[PhoneNumber],
        *,
        times: Mapping[str, datetime] | None = None,
        reference: str = "",
    ) -> list[OptOutChange]:
        """Opt recipients out from an import (source `import`), each at its own time when
        `times` (E.164 -> opted-out-at) has one, else now. Returns the changes actually made
        (one event each; those already opted out are left as they are); `reference` (e.g. the
        import's id) becomes their messageId."""
        if not recipients:
            return []
        at = self._clock()
        changes = self._feed.apply(
            sender,
            recipients,
            opt_out=True,
            source=Source.IMPORT,
            at=at,
            message_id=reference,
            times=times,
        )
        self._history(sender, recipients, Action.OPT_OUT, at, Source.IMPORT)
        return changes

    def check(self, sender: SenderId, recipients: Sequence[PhoneNumber]) -> set[str]:
        """Opted out of `sender`: its own entries, or its revoke-all group's (`membership`)."""
        if not recipients:
            return set()
        if self._membership is not None:
            return self._membership.opted_out(sender, recipients)
        return self._entries.opted_out(sender, recipients)

    def _history(
        self,
        sender: SenderId,
        recipients: Sequence[PhoneNumber],
        action: Action,
        at: datetime,
        source: Source = Source.API,
    ) -> None:
        request_id = str(uuid.uuid4())
        unique = {r.e164 for r in recipients}
        self._history_log.record_history(
            [
                HistoryRecord(
                    sender=sender.key,
                    recipient=r,
                    action=action,
                    source=source,
                    event_id=f"{request_id}:{r}",
                    message_id=request_id,
                    event_at=at,
                    outcome=Outcome.APPLIED,
                )
                for r in sorted(unique)
            ]
        )
