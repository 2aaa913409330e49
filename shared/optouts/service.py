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
        """Apply through the change feed, then record the history. If the request gives up on
        conflicts half-way (the caller answers 503), the changes already committed still get
        their history rows: the audit trail never lacks a change that was made."""
        at = self._clock()
        opt_out = action is Action.OPT_OUT
        try:
            changes = self._feed.apply(
                sender,
                recipients,
                opt_out=opt_out,
                source=source,
                at=at,
                message_id=message_id,
                times=times,
                actor=actor,
            )
        except ChangesPartlyApplied as exc:
            made = {a.change.recipient for a in exc.applied}
            if made:
                done = [r for r in recipients if r.e164 in made]
                self._history(sender, done, action, at, source, actor)
            raise
        self._history(sender, recipients, action, at, source, actor)
        return changes

    def _history(
        self,
        sender: SenderId,
        recipients: Sequence[PhoneNumber],
        action: Action,
        at: datetime,
        source: Source = Source.API,
        actor: str = "",
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
                    actor=actor,
                )
                for r in sorted(unique)
            ]
        )
