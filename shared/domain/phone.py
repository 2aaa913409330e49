"""Phone numbers: strict E.164 parsing, country lookup and masking for logs.

Uses Google's libphonenumber (`phonenumbers`). ACS accepts numbers that libphonenumber calls
"possible" (right length for the country) even when they are not "valid" (assigned ranges), e.g.
`+15555555551` and `+18001234567`, so "possible" is the test here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException

# E.164: a plus, a non-zero country-code digit, at most 15 digits in all.
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_DIGITS = re.compile(r"[1-9][0-9]{1,14}")
UNKNOWN_COUNTRY = "ZZ"  # CLDR's "unknown region", for non-geographic codes such as +800


class InvalidPhoneNumber(ValueError):
    """Not a possible E.164 number. The message never contains the number itself."""


@dataclass(frozen=True)
class PhoneNumber:
    e164: str
    country: str

    def __str__(self) -> str:
        return self.e164


def parse_e164(raw: object) -> PhoneNumber:
    """Parse a number that must already be in E.164 form (`+` and digits only)."""
    if not isinstance(raw, str) or not _E164.fullmatch(raw):
        raise InvalidPhoneNumber("Invalid phone number format: expected E.164, e.g. +14255550123")
    try:
        number = phonenumbers.parse(raw, None)
    except NumberParseException as exc:
        raise InvalidPhoneNumber("Invalid phone number format: unknown country code") from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhoneNumber("Invalid phone number format: not a possible number")
    return PhoneNumber(e164=raw, country=country_of(number))


def normalise_inbound(raw: object) -> PhoneNumber:
    """Parse a number from an inbound event, which may come without the leading `+`."""
    if isinstance(raw, str):
        candidate = raw.strip()
        if _DIGITS.fullmatch(candidate):
            candidate = "+" + candidate
        return parse_e164(candidate)
    return parse_e164(raw)


def country_of(number: phonenumbers.PhoneNumber) -> str:
    """ISO 3166-1 alpha-2 region; for numbers with no specific region (e.g. +1 555 numbers),
    the main country of the calling code."""
    # Only a valid number has a dependable region: for "possible" ones libphonenumber can name
    # an arbitrary country sharing the code (+1 800 1xx... would be DO).
    region = (
        phonenumbers.region_code_for_number(number)
        if phonenumbers.is_valid_number(number)
        else None
    )
    if region and region != phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
        return region
    main = phonenumbers.region_code_for_country_code(number.country_code or 0)
    if main and main not in (
        phonenumbers.UNKNOWN_REGION,
        phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY,
    ):
        return main
    return UNKNOWN_COUNTRY


def mask(number: object) -> str:
    """A number safe for logs: country code and last two digits only (`+1*******51`)."""
    text = str(number) if number is not None else ""
    digits = [c for c in text if c.isdigit()]
    if len(digits) < 4:
        return "***"
    head = "+" + digits[0] if text.startswith("+") else digits[0]
    return head + "*" * (len(digits) - 3) + "".join(digits[-2:])
