"""Parse one storage-queue message into a delivery report
(`Microsoft.Communication.SMSDeliveryReportReceived`).

Same envelope rules as `sms-inbound` (`shared/inbound/events.py`, whose decoding this reuses):
an Event Grid or CloudEvents 1.0 event, plain JSON or base64 of JSON, a one-event array, keys in
any case, `data` as an object, a JSON string or `data_base64`. Errors never carry a full phone
number or the report's details.

- `messageId` is data.MessageId, else the event id (Event Grid uses the message id as the
  event's id); neither -> MalformedEvent.
- `from` is the business side (a number, short code or alphanumeric sender ID), `to` the person
  (E.164, `+` added when missing): the reverse of an inbound SMS.
- `deliveryStatus` must be `Delivered` or `Failed` (any case); `receivedTimestamp` falls back to
  eventTime/time; `deliveryAttempts` items need their timestamp and two counts.
"""

from __future__ import annotations

from typing import Any

from shared.domain.delivery import (
    MAX_MESSAGE_ID_LENGTH,
    DeliveryAttempt,
    DeliveryReport,
    ReportStatus,
)
from shared.domain.phone import InvalidPhoneNumber, mask, normalise_inbound
from shared.domain.sender import InvalidSender, parse_inbound_sender
from shared.inbound.events import (
    _MISSING,
    MalformedEvent,
    _get,
    _load,
    _optional_str,
    _received_at,
    _unwrap_array,
    envelope,
    parse_timestamp,
)

DELIVERY_REPORT_RECEIVED = "Microsoft.Communication.SMSDeliveryReportReceived"
MAX_ATTEMPTS = 100


def parse_report_message(body: bytes | str) -> DeliveryReport:
    """Parse one queue message. Raises MalformedEvent or IgnoredEvent, nothing else."""
    event = _unwrap_array(_load(body))
    _, data, message_id = envelope(event, DELIVERY_REPORT_RECEIVED)
    if len(message_id) > MAX_MESSAGE_ID_LENGTH:
        raise MalformedEvent(f"data.MessageId is longer than {MAX_MESSAGE_ID_LENGTH} characters")
    status = _status(data)
    details = _get(data, "DeliveryStatusDetails", "data")
    if details is _MISSING or details is None:
        details = ""
    elif not isinstance(details, str):
        details = str(details)  # a code given as a number, or an object: kept as text
    return DeliveryReport(
        message_id=message_id,
        sender=_sender(data),
        recipient=_recipient(data),
        status=status,
        received_at=_received_at(event, data),
        details=details,
        attempts=_attempts(data),
        tag=_optional_str(data, "Tag", "data") or "",
        partner_message_id=_optional_str(data, "MessagingConnectPartnerMessageId", "data") or "",
    )


def _status(data: dict[str, Any]) -> ReportStatus:
    value = _optional_str(data, "DeliveryStatus", "data")
    for status in ReportStatus:
        if value is not None and value.casefold() == status.value.casefold():
            return status
    raise MalformedEvent("data.DeliveryStatus is not Delivered or Failed")


def _text(data: dict[str, Any], name: str) -> str:
    value = _get(data, name, "data")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value is _MISSING or value is None:
        raise MalformedEvent(f"event has no data.{name}")
    if not isinstance(value, str):
        raise MalformedEvent(f"data.{name} is not a string")
    return value


def _sender(data: dict[str, Any]) -> str:
    value = _text(data, "From")
    try:
        return parse_inbound_sender(value).key
    except InvalidSender:
        raise MalformedEvent(f"data.From is not a sender ({mask(value)})") from None


def _recipient(data: dict[str, Any]) -> str:
    value = _text(data, "To")
    try:
        return normalise_inbound(value).e164
    except InvalidPhoneNumber:
        raise MalformedEvent(f"data.To is not a valid phone number ({mask(value)})") from None


def _attempts(data: dict[str, Any]) -> tuple[DeliveryAttempt, ...]:
    raw = _get(data, "DeliveryAttempts", "data")
    if raw is _MISSING or raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_ATTEMPTS:
        raise MalformedEvent("data.DeliveryAttempts is not a list of attempts")
    attempts = []
    for item in raw:
        if not isinstance(item, dict):
            raise MalformedEvent("data.DeliveryAttempts holds a non-object")
        counts = [_get(item, name, "attempt") for name in ("SegmentsSucceeded", "SegmentsFailed")]
        if not all(type(c) is int and c >= 0 for c in counts):
            raise MalformedEvent("a delivery attempt lacks its segment counts")
        try:
            at = parse_timestamp(_get(item, "Timestamp", "attempt"))
        except MalformedEvent as exc:
            raise MalformedEvent(f"a delivery attempt's Timestamp: {exc}") from None
        attempts.append(DeliveryAttempt(at, counts[0], counts[1]))
    return tuple(attempts)
