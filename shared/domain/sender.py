"""Sender identifiers: the three kinds ACS sends from, normalised to one key.

ACS sends SMS from E.164 numbers (toll-free, 10DLC, mobile), short codes and alphanumeric sender
IDs. Wherever a sender is a key (opt-out entries, programs, history, inbound events to a short
code), `SenderId.key` is used, so the same sender written two ways is one partition:

| kind | accepted | key |
| --- | --- | --- |
| E.164 | `+` then a possible number (libphonenumber) | the E.164 text |
| short code | 3 to 8 digits, no `+` | the digits |
| alphanumeric | 1-11 of `A-Z a-z 0-9 space + - _ & .`, with a letter | upper case, trimmed |

The three key spaces cannot collide: an E.164 key starts with `+` and has only digits after it,
a short code has only digits, an alphanumeric key has a letter. Every key is within the Table
service's rules (no `/ \\ # ?`, no control characters). Alphanumeric senders compare without
case (a person who opted out of "Contoso" did not want "CONTOSO" either); the `display` form is
what was sent, and what is forwarded to ACS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.domain.model import SenderKind
from shared.domain.phone import UNKNOWN_COUNTRY, InvalidPhoneNumber, PhoneNumber, mask, parse_e164

_SHORT_CODE = re.compile(r"[0-9]{3,8}")
_ALPHANUMERIC = re.compile(r"[A-Za-z0-9 +\-_&.]{1,11}")
_LETTER = re.compile(r"[A-Za-z]")
_INBOUND_NUMBER = re.compile(r"[1-9][0-9]{8,14}")  # 9+ digits: longer than any short code

SENDER_FORMATS = (
    "an E.164 number (+14255550123), a short code (3 to 8 digits) or an alphanumeric sender ID "
    "(1 to 11 letters, digits, spaces or + - _ & ., with at least one letter)"
)


class InvalidSender(ValueError):
    """Not a sender identifier ACS sends from. The message never contains the value."""


@dataclass(frozen=True)
class SenderId:
    key: str  # the normalised form: partition keys, comparisons
    kind: SenderKind
    display: str  # as given (trimmed): what ACS gets as `from`
    country: str = UNKNOWN_COUNTRY  # a number's country (its keyword languages); ZZ otherwise

    def __str__(self) -> str:
        return self.key

    @property
    def masked(self) -> str:
        """Safe for logs: numbers are masked; short codes and brand names identify a business,
        not a person, and are logged as they are."""
        return mask(self.key) if self.kind is SenderKind.PHONE_NUMBER else self.key

    @classmethod
    def of_number(cls, number: PhoneNumber) -> SenderId:
        return cls(number.e164, SenderKind.PHONE_NUMBER, number.e164, number.country)


def parse_sender(raw: object) -> SenderId:
    """A sender as given to the API (`from`, a route's `{sender}`): E.164 needs its `+`."""
    if not isinstance(raw, str):
        raise InvalidSender(f"Expected {SENDER_FORMATS}.")
    text = raw.strip()
    if text.startswith("+"):
        try:
            return SenderId.of_number(parse_e164(text))
        except InvalidPhoneNumber as exc:
            raise InvalidSender(f"{exc}.") from exc
    if _SHORT_CODE.fullmatch(text):
        return SenderId(text, SenderKind.SHORT_CODE, text)
    if _ALPHANUMERIC.fullmatch(text) and _LETTER.search(text):
        return SenderId(text.upper(), SenderKind.ALPHANUMERIC, text)
    raise InvalidSender(f"Expected {SENDER_FORMATS}.")


def parse_inbound_sender(raw: object) -> SenderId:
    """The business side (`To`) of an inbound event, which may come without its `+`: 9 to 15
    digits are an E.164 number, 3 to 8 digits a short code (short codes are at most 8 digits;
    a 7- or 8-digit E.164 number, as in a few small countries, must come with its `+`).
    Alphanumeric sender IDs cannot receive texts, so they are refused here."""
    text = raw.strip() if isinstance(raw, str) else raw
    if isinstance(text, str) and _INBOUND_NUMBER.fullmatch(text):
        text = "+" + text
    sender = parse_sender(text)
    if sender.kind is SenderKind.ALPHANUMERIC:
        raise InvalidSender(
            "Expected a phone number or a short code: texts cannot be sent to "
            "an alphanumeric sender ID."
        )
    return sender
