"""The service layer for the API's add / remove / check: domain types in, domain types out.

Knows neither HTTP nor Table entities: it talks to the OptOutEntries and History protocols,
and makes changes through the change feed (`shared/feed/change_feed.py`), so that each applied
change
publishes exactly one event and a no-op none.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from shared.domain.changes import ChangesPartlyApplied, OptOutChange
from shared.domain.model import Action, HistoryRecord, Outcome, Source
from shared.domain.phone import PhoneNumber
from shared.domain.repositories import History, OptOutEntries
from shared.domain.sender import SenderId
from shared.feed.change_feed import ChangeFeed
from shared.optouts.membership import OptOutMembership


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

    def add(self, sender: SenderId, recipients: Sequence[PhoneNumber], *, actor: str = "") -> None:
        """`actor`: who asked (the API key's name), in the history rows and the events."""
        if not recipients:
            return
        self._change(sender, recipients, Action.OPT_OUT, Source.API, actor=actor)

    def remove(
        self, sender: SenderId, recipients: Sequence[PhoneNumber], *, actor: str = ""
    ) -> None:
        if not recipients:
            return
        self._change(sender, recipients, Action.OPT_IN, Source.API, actor=actor)

    def import_optouts(
        self,
        sender: SenderId,
        recipients: Sequence[PhoneNumber],
        *,
        times: Mapping[str, datetime] | None = None,
        reference: str = "",
        actor: str = "",
    ) -> list[OptOutChange]:
        """Opt recipients out from an import (source `import`), each at its own time when
        `times` (E.164 -> opted-out-at) has one, else now. Returns the changes actually made
        (one event each; those already opted out are left as they are); `reference` (e.g. the
        import's id) becomes their messageId."""
        if not recipients:
            return []
        return self._change(
            sender,
            recipients,
            Action.OPT_OUT,
            Source.IMPORT,
            message_id=reference,
            times=times,
            actor=actor,
        )

    def check(self, sender: SenderId, recipients: Sequence[PhoneNumber]) -> set[str]:
        """Opted out of `sender`: its own entries, or its revoke-all group's (`membership`)."""
        if not recipients:
            return set()
        if self._membership is not None:
            return self._membership.opted_out(sender, recipients)
        return self._entries.opted_out(sender, recipients)

    def _change(
        self,
        sender: SenderId,
        recipients: Sequence[PhoneNumber],
        action: Action,
        source: Source,
        *,
        message_id: str = "",
        times: Mapping[str, datetime] | None = None,
        actor: str = "",
    ) -> list[OptOutChange]:
        """Apply through the change feed, then record the history: one row per change made, at
        the change's own time (its event's `time`); a recipient already as asked is no change
        and gets no row. If the request gives up on conflicts half-way (the caller answers
        503), the changes already committed still get their rows: the audit trail never lacks
        a change that was made."""
        try:
            changes = self._feed.apply(
                sender,
                recipients,
                opt_out=action is Action.OPT_OUT,
                source=source,
                at=self._clock(),
                message_id=message_id,
                times=times,
                actor=actor,
            )
        except ChangesPartlyApplied as exc:
            self._history(sender, [a.change for a in exc.applied], action, source, actor)
            raise
        self._history(sender, changes, action, source, actor)
        return changes

    def _history(
        self,
        sender: SenderId,
        changes: Sequence[OptOutChange],
        action: Action,
        source: Source = Source.API,
        actor: str = "",
    ) -> None:
        if not changes:
            return
        request_id = str(uuid.uuid4())
        self._history_log.record_history(
            [
                HistoryRecord(
                    sender=sender.key,
                    recipient=change.recipient,
                    action=action,
                    source=source,
                    event_id=change.event_id,
                    message_id=request_id,
                    event_at=change.effective_at,
                    outcome=Outcome.APPLIED,
                    effective_at=change.effective_at,
                    actor=actor,
                )
                for change in sorted(changes, key=lambda c: c.recipient)
            ]
        )
