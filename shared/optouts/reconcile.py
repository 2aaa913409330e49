"""Reconcile a sender's list with ACS's own opt-out database (docs/acs-mirror.md#reconcile).

One call handles one page of the recipients the service knows of the sender (its entries,
keyword markers and change rows, then its history: `KnownRecipients`; then, for a revoke-all
sender, its group's group-wide entries), so that each call is
bounded (a Functions HTTP timeout); the CLI follows the token. For each page: what this service
says (the membership `check` answers: own entries or the revoke-all group's) against what ACS
says (`POST /sms/optouts:check`, 100 at a time). The drift both ways, and with `fix`:

- opted out here, not in ACS: added to ACS;
- opted out in ACS, not here: a STOP the service missed, imported here with source `carrier`
  (one change, its event, a history row) -- unless this service's history shows an opt-in after
  the pair's last opt-out; only then is it removed from ACS. When in doubt: opted out.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from shared.domain.model import Action, HistoryRecord, Outcome, Source
from shared.domain.phone import InvalidPhoneNumber, PhoneNumber, mask, parse_e164
from shared.domain.repositories import (
    GroupOptOuts,
    History,
    HistoryReader,
    KnownRecipients,
    MirrorJournal,
)
from shared.domain.sender import SenderId
from shared.feed.change_feed import ChangeFeed
from shared.feed.mirror import ACS_BATCH, AcsOptOuts
from shared.optouts.membership import OptOutMembership

log = logging.getLogger(__name__)

DEFAULT_PAGE = 100
MAX_PAGE = 1000
RECONCILE_MESSAGE_PREFIX = "reconcile-"
CARRIER_ACTOR = "carrier"  # who made a carrier change (contracts: actor "carrier")


class Fix(StrEnum):
    ADDED_TO_ACS = "addedToAcs"
    IMPORTED_HERE = "importedHere"  # source carrier
    REMOVED_FROM_ACS = "removedFromAcs"  # history shows an opt-in after the last opt-out
    FAILED = "failed"  # ACS refused this recipient


@dataclass(frozen=True)
class ReconcilePage:
    checked: int = 0
    missing_in_acs: list[str] = field(default_factory=list)  # E.164, opted out here only
    missing_here: list[str] = field(default_factory=list)  # opted out in ACS only
    fixes: list[tuple[str, Fix]] = field(default_factory=list)
    next_token: str | None = None


def utcnow() -> datetime:
    return datetime.now(UTC)


class Reconciler:
    def __init__(
        self,
        known: KnownRecipients,
        membership: OptOutMembership,
        acs: AcsOptOuts,
        history: HistoryReader,
        history_log: History,
        feed: ChangeFeed,
        journal: MirrorJournal | None = None,
        clock: Callable[[], datetime] = utcnow,
        *,
        groups: GroupOptOuts | None = None,
    ) -> None:
        self._known = known
        self._membership = membership
        self._acs = acs
        self._history = history
        self._history_log = history_log
        self._feed = feed
        self._journal = journal
        self._clock = clock
        self._groups = groups

    def _recipients(
        self, sender: SenderId, token: str | None, size: int
    ) -> tuple[list[str], str | None]:
        """A page of recipients and the next token: `k:<token>` pages what the sender's own
        tables know, `g:<token>` then pages its revoke-all group's entries."""
        phase, _, inner = (token or "k:").partition(":")
        if phase == "k":
            raw, after = self._known.known_recipients(sender, token=inner or None, size=size)
            if after:
                return raw, "k:" + after
            group = self._membership.group_of(sender) if self._groups is not None else None
            return raw, ("g:" if group else None)
        group = self._membership.group_of(sender)
        if group is None or self._groups is None:
            return [], None
        entries, after = self._groups.group_entries(group, page_size=size, token=inner or None)
        return [e.recipient for e in entries], ("g:" + after if after else None)

    def run(
        self, sender: SenderId, *, fix: bool, token: str | None, size: int = DEFAULT_PAGE
    ) -> ReconcilePage:
        raw, next_token = self._recipients(sender, token, size)
        numbers: list[PhoneNumber] = []
        for value in dict.fromkeys(raw):
            try:
                numbers.append(parse_e164(value))
            except InvalidPhoneNumber:
                continue
        if not numbers:
            return ReconcilePage(next_token=next_token)
        here = self._membership.opted_out(sender, numbers)
        in_acs = self._acs_opted_out(sender, [n.e164 for n in numbers])
        missing_in_acs = [n.e164 for n in numbers if n.e164 in here and n.e164 not in in_acs]
        missing_here = [n.e164 for n in numbers if n.e164 in in_acs and n.e164 not in here]
        fixes: list[tuple[str, Fix]] = []
        if fix:
            fixes += self._add_to_acs(sender, missing_in_acs)
            fixes += self._settle_missing_here(sender, missing_here)
            self._clear_poisoned(sender, [n.e164 for n in numbers])
        if missing_in_acs or missing_here:
            log.info(
                "Reconcile %s: %d checked, %d missing in ACS, %d missing here, %d fixed",
                sender.masked, len(numbers), len(missing_in_acs), len(missing_here), len(fixes),
            )  # fmt: skip
        return ReconcilePage(len(numbers), missing_in_acs, missing_here, fixes, next_token)

    def _acs_opted_out(self, sender: SenderId, recipients: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(recipients), ACS_BATCH):
            answers = self._acs.call("check", sender.key, recipients[start : start + ACS_BATCH])
            found |= {a.to for a in answers if a.status < 400 and a.opted_out}
        return found

    def _acs_change(self, action: str, sender: SenderId, recipients: Sequence[str], done: Fix):
        fixes: list[tuple[str, Fix]] = []
        for start in range(0, len(recipients), ACS_BATCH):
            chunk = recipients[start : start + ACS_BATCH]
            answers = {a.to: a for a in self._acs.call(action, sender.key, chunk)}
            for r in chunk:
                answer = answers.get(r)
                fixes.append((r, done if answer and answer.status < 400 else Fix.FAILED))
        return fixes

    def _add_to_acs(self, sender: SenderId, recipients: Sequence[str]) -> list[tuple[str, Fix]]:
        return self._acs_change("add", sender, recipients, Fix.ADDED_TO_ACS)

    def _settle_missing_here(
        self, sender: SenderId, recipients: Sequence[str]
    ) -> list[tuple[str, Fix]]:
        opted_in_since = [r for r in recipients if self._opted_in_after_last_opt_out(sender, r)]
        to_import = [parse_e164(r) for r in recipients if r not in opted_in_since]
        fixes = self._acs_change("remove", sender, opted_in_since, Fix.REMOVED_FROM_ACS)
        if to_import:
            self._import_carrier(sender, to_import)
            fixes += [(n.e164, Fix.IMPORTED_HERE) for n in to_import]
        return fixes

    def _opted_in_after_last_opt_out(self, sender: SenderId, recipient: str) -> bool:
        """Only a clear opt-in after the pair's last opt-out in this service's history says
        ACS is wrong to hold it; anything else (no history, an opt-out last) keeps it."""
        last_out: datetime | None = None
        last_in: datetime | None = None
        token: str | None = None
        number = parse_e164(recipient)
        while True:
            rows, token = self._history.history_page(sender, number, page_size=1000, token=token)
            for row in rows:
                if row.outcome is not Outcome.APPLIED:
                    continue
                if row.action is Action.OPT_OUT and (last_out is None or row.event_at > last_out):
                    last_out = row.event_at
                if row.action is Action.OPT_IN and (last_in is None or row.event_at > last_in):
                    last_in = row.event_at
            if token is None:
                break
        return last_in is not None and (last_out is None or last_in > last_out)

    def _import_carrier(self, sender: SenderId, numbers: Sequence[PhoneNumber]) -> None:
        at = self._clock()
        reference = RECONCILE_MESSAGE_PREFIX + uuid.uuid4().hex
        changes = self._feed.apply(
            sender,
            numbers,
            opt_out=True,
            source=Source.CARRIER,
            at=at,
            message_id=reference,
            actor=CARRIER_ACTOR,
        )
        made = {c.recipient for c in changes}
        self._history_log.record_history(
            [
                HistoryRecord(
                    sender=sender.key,
                    recipient=n.e164,
                    action=Action.OPT_OUT,
                    source=Source.CARRIER,
                    event_id=f"{reference}:{n.e164}",
                    message_id=reference,
                    event_at=at,
                    outcome=Outcome.APPLIED,
                    actor=CARRIER_ACTOR,
                )
                for n in numbers
                if n.e164 in made
            ]
        )
        for n in numbers:
            log.info("Reconcile %s: %s imported (carrier)", sender.masked, mask(n.e164))

    def _clear_poisoned(self, sender: SenderId, recipients: Sequence[str]) -> None:
        if self._journal is None:
            return
        mine = set(recipients)
        poisoned = self._journal.poisoned(sender.key, 1000)
        stuck = [i.recipient for i in poisoned if i.recipient in mine]
        if stuck:
            self._journal.clear_poisoned(sender.key, stuck)
