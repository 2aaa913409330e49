"""Inbound keywords: turn one SMSReceived event into an opt-out, an opt-in or a HELP reply.

Delivery from the queue is at least once and in any order; the effect must be exactly once:

- Each keyword event has a history row whose key is derived from the event, so a redelivered
  event finds its row and changes nothing. The row's ReplyStatus says whether the reply went
  (`sent`), is being sent (`sending`, with the time the attempt claimed it) or still has to go
  (`pending`, after a failed attempt). A delivery sends only after winning the claim (the row's
  creation, or an ETag-conditional update), so concurrent copies of one event send one reply; a
  copy that finds a live claim raises so the host retries it later, and a claim older than
  REPLY_LEASE (its sender crashed) is taken over, so the reply is not lost either.
- STOP/START apply in ReceivedTimestamp order (`shared/ordering.py`): the store keeps the newest
  applied event per sender/recipient, and an older event that arrives later is recorded as
  `superseded`. The state row and the opt-out row change in one transaction, conditional on
  their ETags, so concurrent instances cannot both win; the loser reads again and decides again.
- Keywords are matched in the sender's languages (`shared/multilingual.py`) and answered in the
  language of the matched word; for a revoke-all sender, STOP/START also change the group-wide
  entry, with the same ordering rule in the group's partition (`shared/groups.py`).
- An opt-in never undoes a newer opt-out made through the API (the conservative direction).
- Transient failures raise (the host retries the message); nothing is left half-written
  because the state change is one transaction and the history row is written after it, keyed so
  that a retry recognises the applied event.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.events import IgnoredEvent, InboundSms, MalformedEvent, parse_queue_message
from shared.feed import ChangeFeed
from shared.membership import membership_of
from shared.model import (
    Action,
    AlreadyRecorded,
    ConcurrencyConflict,
    HistoryRecord,
    Language,
    Outcome,
    ReplyStatus,
    SenderProgram,
    Source,
)
from shared.multilingual import LocalizedClassification, classify_in
from shared.optout_events import FeedRow
from shared.ordering import apply_in_order
from shared.phone import PhoneNumber, mask, normalise_inbound
from shared.replies import ReplySender, reply_text
from shared.repositories import GroupOptOuts, History, KeywordStates, SenderPrograms
from shared.sender_languages import languages_for
from shared.service import utcnow
from shared.settings import Settings

log = logging.getLogger(__name__)
ALL_LANGUAGES = tuple(Language)

# Longer than one send can take (SmsClient: 2 tries of at most 5 s connect + 15 s read).
REPLY_LEASE = timedelta(seconds=90)


class ReplyInProgress(Exception):
    """Another delivery of this event is sending its reply: retry later (the host will)."""


@dataclass(frozen=True)
class InboundResult:
    action: Action
    outcome: Outcome
    reply_status: ReplyStatus = ReplyStatus.NONE


class InboundProcessor:
    def __init__(
        self,
        states: KeywordStates,
        history: History,
        programs: SenderPrograms,
        replies: ReplySender,
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
        *,
        feed: ChangeFeed | None = None,
        groups: GroupOptOuts | None = None,
    ) -> None:
        """`feed` publishes a change's event right after it is applied; without it the event
        stays owed in the store and the feed's sweep publishes it later."""
        self._feed = feed
        self._states = states
        self._groups = groups
        self._history = history
        self._programs = programs
        self._replies = replies
        self._settings = settings
        self._clock = clock

    def handle(self, sms: InboundSms) -> InboundResult:
        classified = self._classify(sms)
        if classified is None:
            return InboundResult(Action.NONE, Outcome.NO_KEYWORD)
        found, sender, recipient, program = classified
        record = _keyword_record(sms, found, sender, recipient)
        existing = self._history.get_history(record)
        if existing is not None:
            status = ReplyStatus(existing.reply_status)
            if status.in_progress:
                status = self._take_over_reply(existing, found, program)
            log.info("Duplicate delivery of a %s event from %s", found.action, mask(recipient))
            return InboundResult(found.action, Outcome.DUPLICATE, status)
        return self._first_delivery(sms, found, program, record)

    def _first_delivery(
        self,
        sms: InboundSms,
        found: LocalizedClassification,
        program: SenderProgram | None,
        record: HistoryRecord,
    ) -> InboundResult:
        sender, recipient = normalise_inbound(sms.sender), normalise_inbound(sms.recipient)
        if found.action is Action.HELP:
            outcome = Outcome.HELP
        else:
            outcome = self._change(sender, recipient, sms, found, program)
        reply_due = outcome in (Outcome.APPLIED, Outcome.HELP)
        record = replace(
            record,
            outcome=outcome,
            reply_status=ReplyStatus.SENDING if reply_due else ReplyStatus.NONE,
            reply_claimed_at=self._clock() if reply_due else None,
        )
        try:
            self._history.create_history(record)  # creating the row claims the reply
        except AlreadyRecorded:
            # A concurrent delivery of the same event got there first; it sends the reply.
            return InboundResult(found.action, Outcome.DUPLICATE)
        status = self._send(record, found, program) if reply_due else ReplyStatus.NONE
        log.info(
            "%s from %s to %s: %s (reply %s)",
            found.action,
            mask(recipient),
            mask(sender),
            outcome,
            status,
        )
        return InboundResult(found.action, outcome, status)

    def _classify(
        self, sms: InboundSms
    ) -> tuple[LocalizedClassification, PhoneNumber, PhoneNumber, SenderProgram | None] | None:
        """The keyword in the sender's languages, or None. A text that is no keyword in any
        language costs no storage request; otherwise the program (languages, options) is read."""
        if not classify_in(sms.text, ALL_LANGUAGES).is_keyword:
            log.info("Inbound message from %s: no keyword", mask(sms.recipient))
            return None
        sender, recipient = normalise_inbound(sms.sender), normalise_inbound(sms.recipient)
        program = self._programs.get_program(sender)
        languages = languages_for(sender, program.languages if program else None)
        found = classify_in(sms.text, languages)
        if not found.is_keyword:
            log.info("Inbound message from %s: no keyword in its languages", mask(recipient))
            return None
        if found.plain_language and not self._plain_language_enabled(program):
            log.info("Plain-language request ignored: turned off for sender %s", mask(sender))
            return None
        return found, sender, recipient, program

    def _change(
        self,
        sender: PhoneNumber,
        recipient: PhoneNumber,
        sms: InboundSms,
        found: LocalizedClassification,
        program: SenderProgram | None,
    ) -> Outcome:
        """Opt in or out at the sender and, for a revoke-all sender, at its group (in that
        order: a retry after a failure in between finds the sender's change already made)."""
        opt_out = found.action is Action.OPT_OUT
        outcome = apply_in_order(
            lambda: self._states.keyword_state(sender, recipient),
            lambda state: self._states.apply_keyword(
                sender,
                recipient,
                state,
                opt_out=opt_out,
                event_at=sms.received_at,
                message_id=sms.message_id,
                keyword=found.keyword or "",
            ),
            sms,
            opt_out=opt_out,
            # publish the change's event; after an earlier try, the one it may still owe
            done=lambda row, state: self._publish(row if row is not None else state.feed),
        )
        group = membership_of(program).revoke_all_group
        if group is None or self._groups is None:
            return outcome
        group_outcome = self._apply_group(self._groups, group, sender, recipient, sms, opt_out)
        log.info("Group-wide %s for %s: %s", found.action, mask(recipient), group_outcome)
        applied = Outcome.APPLIED in (outcome, group_outcome)
        return Outcome.APPLIED if applied else Outcome.SUPERSEDED

    def _apply_group(
        self,
        groups: GroupOptOuts,
        group: str,
        sender: PhoneNumber,
        recipient: PhoneNumber,
        sms: InboundSms,
        opt_out: bool,
    ) -> Outcome:
        return apply_in_order(
            lambda: groups.group_state(group, recipient),
            lambda state: groups.apply_group_keyword(
                group,
                recipient,
                state,
                opt_out=opt_out,
                sender=sender,
                event_at=sms.received_at,
                message_id=sms.message_id,
            ),
            sms,
            opt_out=opt_out,
        )

    def _plain_language_enabled(self, program: SenderProgram | None) -> bool:
        if program is not None and program.plain_language_optout is not None:
            return program.plain_language_optout
        return self._settings.plain_language_optout

    def _publish(self, row: FeedRow | None) -> None:
        if self._feed is not None and row is not None and row.owed:
            self._feed.publish([row])

    def _take_over_reply(
        self, existing: HistoryRecord, found: LocalizedClassification, program: SenderProgram | None
    ) -> ReplyStatus:
        claimed = existing.reply_claimed_at
        if (
            existing.reply_status == ReplyStatus.SENDING
            and claimed
            and self._clock() - claimed < REPLY_LEASE
        ):
            raise ReplyInProgress("another delivery of this event is sending its reply")
        try:
            self._history.claim_reply(existing, self._clock())
        except ConcurrencyConflict as exc:
            raise ReplyInProgress("another delivery claimed the reply first") from exc
        return self._send(existing, found, program)

    def _send(
        self, record: HistoryRecord, found: LocalizedClassification, program: SenderProgram | None
    ) -> ReplyStatus:
        language = found.language or Language.EN
        text = reply_text(found.action, self._settings, program, language)
        try:
            status = self._replies.send(record.sender, record.recipient, text)
        except Exception:
            # Give the claim back so the host's retry can send at once (best effort: if this
            # write fails too, the claim simply expires).
            with contextlib.suppress(Exception):
                self._history.set_reply_status(record, ReplyStatus.PENDING)
            raise
        self._history.set_reply_status(record, status)
        return status


def _keyword_record(
    sms: InboundSms, found: LocalizedClassification, sender: PhoneNumber, recipient: PhoneNumber
) -> HistoryRecord:
    """The event's history record, before its outcome is known (its key finds a redelivery)."""
    return HistoryRecord(
        sender=sender.e164,
        recipient=recipient.e164,
        action=found.action,
        source=Source.KEYWORD,
        event_id=sms.message_id,
        message_id=sms.message_id,
        event_at=sms.received_at,
        outcome=Outcome.PENDING,
        keyword=found.keyword or "",
        language=found.language,
    )


def handle_queue_message(body: bytes | str, processor: InboundProcessor) -> InboundResult:
    """The queue trigger's work. Malformed messages raise MalformedEvent, so the host retries
    them up to maxDequeueCount and then parks them in `<queue>-poison` (kept, not lost, never
    blocking the queue); the log line carries no message text or full number."""
    try:
        sms = parse_queue_message(body)
    except IgnoredEvent as exc:
        log.info("Queue message ignored: %s", exc)
        return InboundResult(Action.NONE, Outcome.IGNORED)
    except MalformedEvent as exc:
        log.warning("Malformed inbound message (it will end in the poison queue): %s", exc)
        raise
    return processor.handle(sms)
