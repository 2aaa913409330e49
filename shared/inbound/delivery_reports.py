"""Delivery reports in: record each `SMSDeliveryReportReceived` against what the service sent.

For one report (from the `sms-delivery-reports` queue, at least once and in any order):

1. **Kept** by message id (the newest per message wins), so `GET /deliveryReports/{id}` answers
   it without asking ACS: sends through `POST /sms`, keyword confirmations, anything the ACS
   resource reports.
2. **A keyword confirmation** (tagged `CONFIRMATION_TAG` when sent): the STOP/START/HELP's
   history row, found by the reply's message id among the pair's rows, gets `delivered` and the
   time, or `failed` and the details. A report that arrives before the row knows its message id
   (the reply's send has not been recorded yet) raises, so the host tries it again; one that
   still finds no row after `CONFIRMATION_GRACE` is only kept.
3. **Opted out at ACS or the carrier** (a failed report with code 4007; done before 2, so a
   confirmation's report waiting for its row never holds it back): the recipient is added
   to the sender's list with source `carrier`, one change event and one history row whose
   messageId is the report's. Exactly once under redelivery: the history row's key comes from
   the report, and a redelivery that finds the entry already made by this report (source
   `carrier`, this message id) writes that row again rather than a second one. The change's
   time is the service clock raised past the pair's last change, like any change's
   (`FeedRow.effect_time`), and the history row carries it (`EffectiveAt`). A recipient
   already opted out is left as is: no change, no row. Nothing is ever removed because of a
   report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain.access import CARRIER_ACTOR
from shared.domain.delivery import DeliveryReport, ReportStatus
from shared.domain.model import Action, DeliveryStatus, HistoryRecord, Outcome, Source
from shared.domain.phone import PhoneNumber, mask, parse_e164
from shared.domain.repositories import DeliveryReports, History, OptOutImports
from shared.domain.sender import InvalidSender, SenderId, parse_sender
from shared.feed.change_feed import ChangeFeed
from shared.inbound.delivery_events import parse_report_message
from shared.inbound.events import IgnoredEvent, MalformedEvent
from shared.optouts.service import utcnow

log = logging.getLogger(__name__)

# How long a confirmation's report may wait for the reply's message id to be recorded.
CONFIRMATION_GRACE = timedelta(minutes=10)


class ConfirmationNotRecordedYet(Exception):
    """A confirmation's report came before its reply's message id was recorded: retry later."""


@dataclass(frozen=True)
class ReportResult:
    kept: bool  # False: a newer report for the message was kept already
    confirmation: DeliveryStatus = DeliveryStatus.NONE  # what the keyword's row got
    opted_out: bool = False  # the recipient was added to the sender's list (source carrier)


class DeliveryReportProcessor:
    def __init__(
        self,
        reports: DeliveryReports,
        history: History,
        entries: OptOutImports,
        feed: ChangeFeed,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._reports = reports
        self._history = history
        self._entries = entries
        self._feed = feed
        self._clock = clock

    def handle(self, report: DeliveryReport) -> ReportResult:
        kept = self._reports.keep_report(report)
        if not kept:
            log.info("Delivery report for an older state of %s ignored", report.message_id)
            return ReportResult(kept=False)
        parties = _parties(report)
        # The opt-out first: a confirmation's report that must wait for its row (and so is
        # tried again) never holds it back.
        opted_out = False
        if report.opted_out and parties is not None:
            opted_out = self._carrier_optout(report, *parties)
        confirmation = DeliveryStatus.NONE
        if report.is_confirmation and parties is not None:
            confirmation = self._confirm(report, *parties)
        log.info(
            "Delivery report %s: %s from %s to %s (confirmation %s, carrier opt-out %s)",
            report.message_id,
            report.status,
            mask(report.sender),
            mask(report.recipient),
            confirmation or "-",
            opted_out,
        )
        return ReportResult(True, confirmation, opted_out)

    def _confirm(
        self, report: DeliveryReport, sender: SenderId, recipient: PhoneNumber
    ) -> DeliveryStatus:
        row = self._history.confirmation(sender, recipient, report.message_id)
        if row is None:
            if self._clock() - report.received_at < CONFIRMATION_GRACE:
                raise ConfirmationNotRecordedYet(
                    f"no confirmation recorded yet for {report.message_id}"
                )
            log.warning("No keyword row sent %s: the report is only kept", report.message_id)
            return DeliveryStatus.NONE
        if report.status is ReportStatus.DELIVERED:
            status, at = DeliveryStatus.DELIVERED, _delivered_at(report)
        else:
            status, at = DeliveryStatus.FAILED, None
        self._history.set_delivery(row, status, at, report.details)
        return status

    def _carrier_optout(
        self, report: DeliveryReport, sender: SenderId, recipient: PhoneNumber
    ) -> bool:
        """Opt the recipient out (source carrier) once: True when this report made the entry."""
        changes = self._feed.apply(
            sender,
            [recipient],
            opt_out=True,
            source=Source.CARRIER,
            at=self._clock(),
            message_id=report.message_id,
            actor=CARRIER_ACTOR,
        )
        # The change's effect time (the service clock raised past the pair's last change, in
        # the transaction that decided its sequence); a redelivery reads it back from the
        # entry this report made (its OptedOutAt).
        if changes:
            effective_at: datetime | None = changes[0].effective_at
        else:
            mine = self._entries.imported_by(sender, [recipient], report.message_id, Source.CARRIER)
            effective_at = mine.get(recipient.e164)
        if effective_at is None:  # opted out already, by something else: nothing to record
            return False
        self._history.record_history([_carrier_record(report, sender, recipient, effective_at)])
        if changes:
            log.warning(
                "%s opted out of %s at ACS or the carrier (delivery report 4007): added to the "
                "list with source carrier",
                mask(recipient),
                sender.masked,
            )
        return True


def _parties(report: DeliveryReport) -> tuple[SenderId, PhoneNumber] | None:
    try:
        return parse_sender(report.sender), parse_e164(report.recipient)
    except (InvalidSender, ValueError):
        log.warning("Delivery report %s names no sender/recipient pair", report.message_id)
        return None


def _delivered_at(report: DeliveryReport) -> datetime:
    """The last successful attempt's time, else when ACS received the report."""
    done = [a.timestamp for a in report.attempts if a.segments_succeeded and not a.segments_failed]
    return max(done) if done else report.received_at


def _carrier_record(
    report: DeliveryReport, sender: SenderId, recipient: PhoneNumber, effective_at: datetime
) -> HistoryRecord:
    # Keyed by the report (its message id and time): a redelivery writes the same row. Its
    # effect time is the change's (its event's `time`), so as-of places it where `check` does.
    return HistoryRecord(
        sender=sender.key,
        recipient=recipient.e164,
        action=Action.OPT_OUT,
        source=Source.CARRIER,
        event_id=f"delivery-report:{report.message_id}",
        event_at=report.received_at,
        outcome=Outcome.APPLIED,
        message_id=report.message_id,
        effective_at=effective_at,
        actor=CARRIER_ACTOR,
    )


def handle_report_message(body: bytes | str, processor: DeliveryReportProcessor) -> ReportResult:
    """The queue trigger's work. Malformed messages raise MalformedEvent, so the host retries
    them and then parks them in `sms-delivery-reports-poison`; no number or detail is logged."""
    try:
        report = parse_report_message(body)
    except IgnoredEvent as exc:
        log.info("Delivery-report queue message ignored: %s", exc)
        return ReportResult(kept=False)
    except MalformedEvent as exc:
        log.warning("Malformed delivery report (it will end in the poison queue): %s", exc)
        raise
    return processor.handle(report)
