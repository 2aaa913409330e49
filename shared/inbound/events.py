"""Parse one storage-queue message into an inbound SMS (`Microsoft.Communication.SMSReceived`).

The queue message is an Event Grid event or a CloudEvents 1.0 event, as plain JSON or as
base64 of JSON (the host reads queue messages with `messageEncoding: none`, so decoding happens
here). Keys are read case-insensitively at both levels; numbers may come without the `+`.

Errors never carry the message text or a full phone number: numbers go through
`shared.domain.phone.mask`, and exceptions are raised `from None` so that a logged traceback does
not show an inner exception holding the payload.

Decisions:

- A JSON array holding exactly one event is accepted (Event Grid's HTTP batch shape).
- Keys that differ only in case and hold different values (`"From"` and `"from"`) are ambiguous:
  MalformedEvent. Equal values are accepted.
- `data` may be an object or a JSON string holding one (double encoding); a CloudEvent may carry
  `data_base64` instead of `data`.
- `message_id` is data.MessageId, else the event id; `event_id` is the event id, else the
  message id; neither -> MalformedEvent. Ids must be non-empty strings.
- `received_at` is data.ReceivedTimestamp; when that is absent or null, eventTime/time. A
  present but unparseable timestamp is MalformedEvent (no silent fallback). Accepted form:
  `YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM|±HHMM]`, fraction of any length (truncated to
  microseconds), `T` or space; no offset means UTC.
- Numbers may be JSON strings or integers.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from shared.domain.phone import InvalidPhoneNumber, mask, normalise_inbound
from shared.domain.sender import InvalidSender, parse_inbound_sender

SMS_RECEIVED = "Microsoft.Communication.SMSReceived"
MAX_MESSAGE_BYTES = 64 * 1024
_BOM = "\ufeff"


@dataclass(frozen=True)
class InboundSms:
    message_id: str  # data.MessageId, else the event id
    event_id: str
    sender: str  # the business side = data.To: a SenderId key (E.164 with '+', or a short code)
    recipient: str  # the person = data.From, normalised E.164 with '+'
    text: str  # data.Message ("" if missing/null)
    received_at: datetime  # tz-aware UTC


class MalformedEvent(ValueError):
    """The queue message is not a usable SMSReceived event. The message never contains the SMS
    text or a full phone number."""


class IgnoredEvent(Exception):
    """A valid event of another type (e.g. an Event Grid subscription validation event)."""

    def __init__(self, event_type: str, event_id: str | None = None) -> None:
        self.event_type = event_type
        self.event_id = event_id
        shown = event_type if len(event_type) <= 200 else event_type[:200] + "..."
        super().__init__(f"ignored event of type {shown!r}")


def parse_queue_message(body: bytes | str) -> InboundSms:
    """Parse one queue message. Raises MalformedEvent or IgnoredEvent, nothing else."""
    event = _unwrap_array(_load(body))
    return _parse_event(event)


# --- Decoding -----------------------------------------------------------------------------------


def _load(body: bytes | str) -> Any:
    if isinstance(body, bytes | bytearray | memoryview):
        raw = bytes(body)
        if len(raw) > MAX_MESSAGE_BYTES:
            raise MalformedEvent(f"queue message larger than {MAX_MESSAGE_BYTES} bytes")
        text = _decode_utf8(raw, "queue message")
    elif isinstance(body, str):
        if len(body) > MAX_MESSAGE_BYTES or (
            len(body.encode("utf-8", errors="surrogatepass")) > MAX_MESSAGE_BYTES
        ):
            raise MalformedEvent(f"queue message larger than {MAX_MESSAGE_BYTES} bytes")
        text = body
    else:
        raise MalformedEvent(f"queue message of unsupported type {type(body).__name__}")

    text = text.strip().removeprefix(_BOM).strip()
    if not text:
        raise MalformedEvent("empty queue message")
    if text[0] in "{[":
        return _json(text, "queue message")
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedEvent("queue message is neither JSON nor base64") from None
    inner = _decode_utf8(decoded, "base64 payload").strip().removeprefix(_BOM).strip()
    if not inner or inner[0] not in "{[":
        raise MalformedEvent("base64 payload is not a JSON object")
    return _json(inner, "base64 payload")


def _decode_utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MalformedEvent(f"{what} is not valid UTF-8") from None


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedEvent(f"{what} is not valid JSON") from None


def _unwrap_array(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        if len(value) != 1:
            raise MalformedEvent(f"expected one event, got an array of {len(value)}")
        value = value[0]
    if not isinstance(value, dict):
        raise MalformedEvent("event is not a JSON object")
    return value


# --- Event --------------------------------------------------------------------------------------

_MISSING = object()


def _get(obj: dict[str, Any], name: str, where: str) -> Any:
    """Case-insensitive key lookup; `_MISSING` when absent. Conflicting duplicates are errors."""
    if name in obj:
        found = obj[name]
        exact = True
    else:
        found, exact = _MISSING, False
    wanted = name.casefold()
    for key, value in obj.items():
        if key.casefold() != wanted or (exact and key == name):
            continue
        if found is _MISSING:
            found = value
        elif found != value:
            raise MalformedEvent(f"{where}: conflicting values for keys differing only in case")
    return found


def _optional_str(obj: dict[str, Any], name: str, where: str) -> str | None:
    value = _get(obj, name, where)
    if value is _MISSING or value is None:
        return None
    if not isinstance(value, str):
        raise MalformedEvent(f"{where}.{name} is not a string")
    value = value.strip()
    return value or None


def envelope(event: dict[str, Any], expected_type: str) -> tuple[str | None, dict[str, Any], str]:
    """The event id (if any), `data` and the message id of an event of `expected_type`
    (Event Grid `eventType` or CloudEvents `type`, any case): IgnoredEvent for another type,
    MalformedEvent when the type is missing or neither data.MessageId nor id is given."""
    event_type = _optional_str(event, "eventType", "event")
    if event_type is None:
        event_type = _optional_str(event, "type", "event")
    if event_type is None:
        raise MalformedEvent("event has no eventType/type")
    event_id = _optional_str(event, "id", "event")
    if event_type.casefold() != expected_type.casefold():
        raise IgnoredEvent(event_type, event_id)
    data = _data(event)
    message_id = _optional_str(data, "MessageId", "data") or event_id
    if message_id is None:
        raise MalformedEvent("event has neither data.MessageId nor id")
    return event_id, data, message_id


def _parse_event(event: dict[str, Any]) -> InboundSms:
    event_id, data, message_id = envelope(event, SMS_RECEIVED)
    event_id = event_id or message_id

    recipient = _number(data, "From")
    sender = _sender(data)

    text = _get(data, "Message", "data")
    if text is _MISSING or text is None:
        text = ""
    elif not isinstance(text, str):
        raise MalformedEvent("data.Message is not a string")

    return InboundSms(
        message_id=message_id,
        event_id=event_id,
        sender=sender,
        recipient=recipient,
        text=text,
        received_at=_received_at(event, data),
    )


def _data(event: dict[str, Any]) -> dict[str, Any]:
    data = _get(event, "data", "event")
    if data is _MISSING or data is None:
        encoded = _get(event, "data_base64", "event")
        if not isinstance(encoded, str):
            raise MalformedEvent("event has no data")
        try:
            data = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise MalformedEvent("event.data_base64 is not base64") from None
        data = _decode_utf8(data, "event.data_base64")
    if isinstance(data, str):  # double-encoded: a JSON string holding the object
        data = _json(data.strip().removeprefix(_BOM), "event.data")
    if not isinstance(data, dict):
        raise MalformedEvent("event.data is not a JSON object")
    return data


def _number(data: dict[str, Any], name: str) -> str:
    value = _get(data, name, "data")
    if value is _MISSING or value is None:
        raise MalformedEvent(f"event has no data.{name}")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise MalformedEvent(f"data.{name} is not a string")
    try:
        return normalise_inbound(value).e164
    except InvalidPhoneNumber:
        raise MalformedEvent(f"data.{name} is not a valid phone number ({mask(value)})") from None


def _sender(data: dict[str, Any]) -> str:
    """The business side (`To`): a number, or a short code (texts to a short code)."""
    value = _get(data, "To", "data")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value is _MISSING or value is None:
        raise MalformedEvent("event has no data.To")
    try:
        return parse_inbound_sender(value).key
    except InvalidSender:
        raise MalformedEvent(
            f"data.To is not a sender number or short code ({mask(value)})"
        ) from None


# --- Timestamps ---------------------------------------------------------------------------------

_TIMESTAMP = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]"
    r"(?P<h>[0-9]{2}):(?P<m>[0-9]{2}):(?P<s>[0-9]{2})"
    r"(?:[.,](?P<frac>[0-9]{1,32}))?"
    r"(?P<tz>[Zz]|[+-][0-9]{2}:?[0-9]{2})?",
    re.ASCII,
)


def parse_timestamp(value: object) -> datetime:
    """ISO 8601 date-time to tz-aware UTC. Raises MalformedEvent (without echoing the value)."""
    if not isinstance(value, str):
        raise MalformedEvent("timestamp is not a string")
    match = _TIMESTAMP.fullmatch(value.strip())
    if match is None:
        raise MalformedEvent("timestamp is not ISO 8601")
    frac = (match["frac"] or "")[:6].ljust(6, "0")
    tz = match["tz"]
    try:
        year, month, day = (int(part) for part in match["date"].split("-"))
        moment = datetime(
            year, month, day, int(match["h"]), int(match["m"]), int(match["s"]), int(frac)
        )
        if tz is None or tz in "Zz":
            zone = UTC
        else:
            digits = tz[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:])
            if hours > 23 or minutes > 59:
                raise ValueError("offset out of range")
            offset = timedelta(hours=hours, minutes=minutes)
            zone = timezone(-offset if tz[0] == "-" else offset)
        return moment.replace(tzinfo=zone).astimezone(UTC)
    except (ValueError, OverflowError):
        raise MalformedEvent("timestamp is out of range") from None


def _received_at(event: dict[str, Any], data: dict[str, Any]) -> datetime:
    for obj, name, where in (
        (data, "ReceivedTimestamp", "data"),
        (event, "eventTime", "event"),
        (event, "time", "event"),
    ):
        value = _get(obj, name, where)
        if value is _MISSING or value is None:
            continue
        try:
            return parse_timestamp(value)
        except MalformedEvent as exc:
            raise MalformedEvent(f"{where}.{name}: {exc}") from None
    raise MalformedEvent("event has no data.ReceivedTimestamp, eventTime or time")
