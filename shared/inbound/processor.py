"""Inbound keywords: turn one SMSReceived event into an opt-out, an opt-in or a HELP reply.

Delivery from the queue is at least once and in any order; the effect must be exactly once:

- Each keyword event has a history row whose key is derived from the event, so a redelivered
  event finds its row (creating it fails) and changes nothing. The row's ReplyStatus says
  whether the reply went (`sent`), is being sent (`sending`, with the time the attempt claimed
  it) or still has to go (`pending`, after a failed attempt). A delivery sends only after
  winning the claim (the row's creation, or an ETag-conditional update), so concurrent copies
  of one event send one reply; a copy that finds a live claim raises so the host retries it
  later, and a claim older than REPLY_LEASE (its sender crashed) is taken over, so the reply is
  not lost either.
- STOP/START apply in ReceivedTimestamp order: the store keeps the newest applied event per
  sender/recipient, and an older event that arrives later is recorded as `superseded`. The state
  row and the opt-out row change in one transaction, conditional on their ETags, so concurrent
  instances cannot both win; the loser reads again and decides again.
- An opt-in never undoes a newer opt-out made through the API (the conservative direction).
- Keywords are matched in the sender's languages and answered in the matched word's language;
  a revoke-all sender's STOP/START also changes its group's entry, in order (`groups.py`).
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
from functools import partial

from shared.domain.changes import FeedRow
from shared.domain.model import (
    Action,
    AlreadyRecorded,
    ConcurrencyConflict,
    HistoryRecord,
    Language,
    Outcome,
    ReplyStatus,
    SenderProgram,
)
from shared.domain.phone import PhoneNumber, mask
from shared.domain.repositories import GroupOptOuts, History, KeywordStates, SenderPrograms
from shared.domain.sender import SenderId
from shared.feed.change_feed import ChangeFeed
from shared.inbound.bursts import Bursts
from shared.inbound.events import IgnoredEvent, InboundSms, MalformedEvent, parse_queue_message
from shared.inbound.ordering import NO_HISTORY, apply_to_group, superseded
from shared.inbound.reply_sender import ReplySender
from shared.inbound.sender_keywords import keyword_record, sender_keyword
from shared.keywords.classify import LocalizedClassification
from shared.keywords.replies import reply_text
from shared.optouts.membership import membership_of
from shared.optouts.service import utcnow
from shared.platform.settings import Settings

log = logging.getLogger(__name__)

MAX_CONFLICT_RETRIES = 5
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
        bursts: Bursts | None = None,
        groups: GroupOptOuts | None = None,
    ) -> None:
        """`feed` publishes a change's event right after it is applied; without it the event
        stays owed in the store and the feed's sweep publishes it later."""
        self._feed = feed
        self._bursts = bursts or Bursts()
        self._states = states
        self._groups = groups
        self._history = history
        self._programs = programs
        self._replies = replies
        self._settings = settings
        self._clock = clock

    def handle(self, sms: InboundSms) -> InboundResult:
        plain = self._settings.plain_language_optout
        keyword = sender_keyword(sms, self._programs, plain_language_default=plain)
        if keyword is None:
            return InboundResult(Action.NONE, Outcome.NO_KEYWORD)
        found, sender, recipient, program = keyword
        record = keyword_record(sms, found, sender, recipient)
        return self._deliver(sms, found, program, (sender, recipient), record)

    def _deliver(
        self,
        sms: InboundSms,
        found: LocalizedClassification,
        program: SenderProgram | None,
        parties: tuple[PhoneNumber, PhoneNumber],
        record: HistoryRecord,
    ) -> InboundResult:
        """Apply (idempotent: a redelivery finds its own event in the state row, or a newer
        one), then create the history row, which claims the reply; a redelivery meets the row
        there and finishes what the first delivery left (`_redelivered`)."""
        sender, recipient = parties
        effective_at = None
        if found.action is Action.HELP:
            outcome = Outcome.HELP
        else:
            outcome, effective_at = self._change(sms, found, program, parties)
        reply_due = outcome in (Outcome.APPLIED, Outcome.UNCHANGED, Outcome.HELP)
        record = replace(
            record,
            outcome=outcome,
            effective_at=effective_at,
            reply_status=ReplyStatus.SENDING if reply_due else ReplyStatus.NONE,
            reply_claimed_at=self._clock() if reply_due else None,
        )
        try:
            self._history.create_history(record)  # creating the row claims the reply
        except AlreadyRecorded:
            return self._redelivered(record, found, program)
        status = self._send(record, found, program) if reply_due else ReplyStatus.NONE
        log.info(
            "%s from %s to %s: %s (reply %s)",
            found.action,
            mask(recipient),
            sender.masked,
            outcome,
            status,
        )
        return InboundResult(found.action, outcome, status)

    def _change(
        self,
        sms: InboundSms,
        found: LocalizedClassification,
        program: SenderProgram | None,
        parties: tuple[PhoneNumber, PhoneNumber],
    ) -> tuple[Outcome, datetime | None]:
        """STOP/START: the sender's pair, then its revoke-all group's; each change's event is
        published right after its commit. The outcome for the sender's pair (UNCHANGED when
        only the group's entry changed), and its change's effect time if it changed."""
        opt_out, keyword = found.action is Action.OPT_OUT, found.keyword or ""
        outcome, effective_at = self._apply(*parties, sms, keyword, opt_out=opt_out)
        group = membership_of(program).revoke_all_group
        if group is None or self._groups is None:
            return outcome, effective_at
        members = partial(self._programs.revoke_all_senders, group)
        either, row = apply_to_group(
            self._groups, group, parties, sms, opt_out, outcome, keyword=keyword, members=members
        )
        self._publish(row)
        if outcome is Outcome.SUPERSEDED and either is Outcome.APPLIED:
            outcome = Outcome.UNCHANGED  # applied to the group only: confirmed, no own change
        return outcome, effective_at

    def _redelivered(
        self, record: HistoryRecord, found: LocalizedClassification, program: SenderProgram | None
    ) -> InboundResult:
        existing = self._history.get_history(record)
        if existing is None:  # cannot be (rows are never deleted): let the host retry
            raise ConcurrencyConflict("history row exists but cannot be read")
        status = ReplyStatus(existing.reply_status)
        if status.in_progress:
            status = self._take_over_reply(existing, found, program)
        log.info("Duplicate delivery of a %s event from %s", found.action, mask(existing.recipient))
        return InboundResult(found.action, Outcome.DUPLICATE, status)

    def _apply(
        self,
        sender: SenderId,
        recipient: PhoneNumber,
        sms: InboundSms,
        keyword: str,
        *,
        opt_out: bool,
    ) -> tuple[Outcome, datetime | None]:
        """APPLIED with the change's effect time, UNCHANGED (the state was as asked: no
        change), or SUPERSEDED."""
        if opt_out and self._bursts.arrived(sender.key):
            row = self._first_keyword(sender, recipient, sms, keyword)
            if row is not None:
                self._publish(row)
                return Outcome.APPLIED, row.last_change_at
        for _ in range(MAX_CONFLICT_RETRIES):
            state = self._states.keyword_state(sender, recipient)
            if state.last_message_id == sms.message_id:
                # Applied by an earlier try whose history write failed: its event may be owed,
                # and names the change's time; once published, the pair's last change is the
                # best time known for it.
                self._publish(state.feed)
                return Outcome.APPLIED, _redelivered_time(state.feed, sms.message_id)
            if superseded(state, sms, opt_out=opt_out):
                return Outcome.SUPERSEDED, None
            try:
                row = self._states.apply_keyword(
                    sender,
                    recipient,
                    state,
                    opt_out=opt_out,
                    event_at=sms.received_at,
                    message_id=sms.message_id,
                    keyword=keyword,
                )
            except ConcurrencyConflict:
                log.info("Concurrent change for %s; reading again", mask(recipient))
                continue
            self._publish(row)
            if state.opted_out == opt_out:
                return Outcome.UNCHANGED, None
            return Outcome.APPLIED, row.last_change_at
        raise ConcurrencyConflict("too many concurrent changes; the host will retry")

    def _first_keyword(
        self, sender: SenderId, recipient: PhoneNumber, sms: InboundSms, keyword: str
    ) -> FeedRow | None:
        """In a burst (a campaign's STOPs) most people have no history with the sender: write
        the STOP as if so, without reading first. It is the very transaction the reads would
        lead to for such a person (state row, entry and feed row all created, the change's
        event owed), and it fails if any of them exists; that person is then read and decided
        as usual. Saves the reads for each new person; costs one write for anyone else."""
        try:
            return self._states.apply_keyword(
                sender,
                recipient,
                NO_HISTORY,
                opt_out=True,
                event_at=sms.received_at,
                message_id=sms.message_id,
                keyword=keyword,
            )
        except ConcurrencyConflict:
            return None

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
            reply = self._replies.send(record.sender, record.recipient, text)
        except Exception:
            # Give the claim back so the host's retry can send at once (best effort: if this
            # write fails too, the claim simply expires).
            with contextlib.suppress(Exception):
                self._history.set_reply_status(record, ReplyStatus.PENDING)
            raise
        # With its message id: the reply's delivery report finds this row by it.
        self._history.set_reply_status(record, reply.status, reply.message_id)
        return reply.status


def _redelivered_time(feed: FeedRow | None, message_id: str) -> datetime | None:
    if feed is None:
        return None
    mine = [c.effective_at for c in feed.owed if c.message_id == message_id]
    return mine[-1] if mine else feed.last_change_at


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
