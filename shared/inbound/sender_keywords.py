"""Which keyword an inbound SMS is for its sender: matched in the sender's languages (its
program's `languages`, else its number's country), with plain language as the program (or the
PLAIN_LANGUAGE_OPTOUT setting) allows."""

from __future__ import annotations

import logging

from shared.domain.access import KEYWORD_ACTOR
from shared.domain.model import HistoryRecord, Language, Outcome, SenderProgram, Source
from shared.domain.phone import PhoneNumber, mask, normalise_inbound
from shared.domain.repositories import SenderPrograms
from shared.domain.sender import SenderId, parse_inbound_sender
from shared.inbound.events import InboundSms
from shared.keywords.classify import LocalizedClassification, classify_in
from shared.keywords.sender_languages import languages_for

log = logging.getLogger(__name__)

ALL_LANGUAGES = tuple(Language)

SenderKeyword = tuple[LocalizedClassification, PhoneNumber, PhoneNumber, SenderProgram | None]


def sender_keyword(
    sms: InboundSms, programs: SenderPrograms, *, plain_language_default: bool
) -> SenderKeyword | None:
    """(keyword, sender, recipient, program), or None. A text that is no keyword in any
    language costs no storage request; otherwise the sender's program is read (one request)."""
    if not classify_in(sms.text, ALL_LANGUAGES).is_keyword:
        log.info("Inbound message from %s: no keyword", mask(sms.recipient))
        return None
    sender, recipient = parse_inbound_sender(sms.sender), normalise_inbound(sms.recipient)
    program = programs.get_program(sender)
    found = classify_in(sms.text, languages_for(sender, program.languages if program else None))
    if not found.is_keyword:
        log.info("Inbound message from %s: no keyword in its languages", mask(recipient))
        return None
    plain = plain_language_default
    if program is not None and program.plain_language_optout is not None:
        plain = program.plain_language_optout
    if found.plain_language and not plain:
        log.info("Plain-language request ignored: turned off for sender %s", sender.masked)
        return None
    return found, sender, recipient, program


def keyword_record(
    sms: InboundSms, found: LocalizedClassification, sender: SenderId, recipient: PhoneNumber
) -> HistoryRecord:
    """The event's history record, before its outcome is known (its key finds a redelivery)."""
    return HistoryRecord(
        sender=sender.key,
        recipient=recipient.e164,
        action=found.action,
        source=Source.KEYWORD,
        event_id=sms.message_id,
        message_id=sms.message_id,
        event_at=sms.received_at,
        outcome=Outcome.PENDING,
        keyword=found.keyword or "",
        language=found.language,
        actor=KEYWORD_ACTOR,
    )
