"""Query and route parameters of the evidence endpoints: numbers and instants, each with the
4xx message it gets when it is wrong (the value itself is never echoed)."""

from __future__ import annotations

import re
from datetime import datetime

from shared.domain.phone import InvalidPhoneNumber, PhoneNumber, parse_e164
from shared.domain.sender import InvalidSender, SenderId, parse_sender

Errors = dict[str, list[str]]
# A `+hh:mm` offset whose `+` reached us as a space (an unencoded `+` in a query string).
_SPACED_OFFSET = re.compile(r" (\d{2}(:?\d{2})?)$")
TIME_FORMAT = "ISO 8601 with a UTC offset, e.g. 2026-11-26T10:00:00Z"


def phone_param(raw: str, name: str, errors: Errors) -> PhoneNumber | None:
    try:
        return parse_e164(raw)
    except InvalidPhoneNumber:
        errors[name] = [f"Invalid {name} phone number format: E.164."]
        return None


def sender_param(raw: str, errors: Errors) -> SenderId | None:
    try:
        return parse_sender(raw)
    except InvalidSender as exc:
        errors["sender"] = [f"Invalid sender: {exc}"]
        return None


def time_param(raw: str | None, name: str, errors: Errors) -> datetime | None:
    """An instant with an offset; None if absent (or wrong, with the error noted)."""
    if raw is None or raw == "":
        return None
    text = _SPACED_OFFSET.sub(r"+\1", raw.strip())
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        errors[name] = [f"Must be {TIME_FORMAT}."]
        return None
    return value
