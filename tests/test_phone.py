"""Unit tests for shared.domain.phone: strict E.164 parsing, country lookup, inbound normalising,
masking.

No storage, no network.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.phone import (
    UNKNOWN_COUNTRY,
    InvalidPhoneNumber,
    PhoneNumber,
    mask,
    normalise_inbound,
    parse_e164,
)

E164_LIKE = st.from_regex(r"\+[1-9][0-9]{1,14}", fullmatch=True)
COUNTRY = re.compile(r"[A-Z]{2}")


# --- parse_e164: accepted ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "country"),
    [
        # ACS's own examples: "possible" but not "valid" for libphonenumber.
        ("+15555555551", "US"),  # no specific region: the main country of +1
        ("+447700900123", "GB"),
        ("+33612345678", "FR"),
        ("+4915112345678", "DE"),
        ("+61412345678", "AU"),
        ("+14165550123", "CA"),  # Toronto area code
        ("+80012345678", UNKNOWN_COUNTRY),  # non-geographic (international freephone)
    ],
)
def test_parse_e164_accepts_with_country(raw: str, country: str) -> None:
    number = parse_e164(raw)
    assert isinstance(number, PhoneNumber)
    assert number.e164 == raw
    assert str(number) == raw
    assert number.country == country


def test_parse_e164_accepts_acs_toll_free_example() -> None:
    # ACS's documentation uses +18001234567; libphonenumber calls it possible, not valid.
    number = parse_e164("+18001234567")
    assert number.e164 == "+18001234567"
    # Not valid, so no dependable region: the main country of +1 (libphonenumber alone says DO).
    assert number.country == "US"


def test_unknown_country_is_zz() -> None:
    assert UNKNOWN_COUNTRY == "ZZ"


def test_phone_number_is_frozen() -> None:
    number = parse_e164("+15555555551")
    with pytest.raises(AttributeError):
        number.e164 = "+15555555552"  # type: ignore[misc]


# --- parse_e164: rejected ---------------------------------------------------------------------

REJECTED: list[object] = [
    "+123",  # ACS's documented invalid number (too short)
    "",
    None,
    15555555551,  # an int, not a string
    "15555555551",  # no plus
    "+1 555 555 5551",
    "+1-555-555-5551",
    "+1(555)5555551",
    "+0123456789",  # country code cannot start with 0
    "+1234567890123456",  # 16 digits
    "+15555555551\n",  # trailing newline (a `$` regex would let it through)
    "\n+15555555551",
    " +15555555551",
    "+15555555551 ",
    "+\u0661\u0665\u0665\u0665\u0665\u0665\u0665\u0665\u0665\u0665\u0661",  # Arabic-Indic
    "+\uff11\uff15\uff15\uff15\uff15\uff15\uff15\uff15\uff15\uff15\uff11",  # fullwidth
    "++15555555551",
    "+",
    b"+15555555551",
    "tel:+15555555551",
]


@pytest.mark.parametrize("raw", REJECTED, ids=repr)
def test_parse_e164_rejects(raw: object) -> None:
    with pytest.raises(InvalidPhoneNumber):
        parse_e164(raw)


def test_invalid_phone_number_is_value_error() -> None:
    assert issubclass(InvalidPhoneNumber, ValueError)


EXAMPLE_IN_MESSAGE = "+14255550123"  # the format hint the messages carry


@pytest.mark.parametrize(
    "raw",
    ["+123", "15555555551", "+1 555 555 5551", "+0123456789", "+1234567890123456", "+9991234567"],
)
def test_invalid_phone_number_message_never_contains_the_number(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as info:
        parse_e164(raw)
    message = str(info.value)
    assert raw not in message
    digits = re.sub(r"\D", "", raw)
    if len(digits) >= 6:
        assert digits not in message


@given(st.from_regex(r"\+?[0-9]{4,17}", fullmatch=True))
def test_invalid_message_never_contains_input(raw: str) -> None:
    try:
        parse_e164(raw)
    except InvalidPhoneNumber as exc:
        if raw not in EXAMPLE_IN_MESSAGE:
            assert raw not in str(exc)


# --- properties -------------------------------------------------------------------------------


@given(st.one_of(st.text(), E164_LIKE, st.from_regex(r"\+?[0-9 \-]{0,18}", fullmatch=True)))
def test_parse_e164_either_raises_or_round_trips(raw: str) -> None:
    try:
        number = parse_e164(raw)
    except InvalidPhoneNumber:
        return
    assert number.e164 == raw
    assert COUNTRY.fullmatch(number.country), number.country
    assert re.fullmatch(r"\+[1-9][0-9]{1,14}", raw)


@given(st.one_of(st.none(), st.integers(), st.floats(), st.binary(), st.lists(st.text())))
def test_parse_e164_rejects_non_strings(raw: object) -> None:
    with pytest.raises(InvalidPhoneNumber):
        parse_e164(raw)


# --- normalise_inbound ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["15555555555", "+15555555555", " 15555555555 ", "\t+15555555555\n"]
)
def test_normalise_inbound_accepts(raw: str) -> None:
    number = normalise_inbound(raw)
    assert number.e164 == "+15555555555"
    assert number.country == "US"


def test_normalise_inbound_adds_plus_for_other_countries() -> None:
    assert normalise_inbound("447700900123") == PhoneNumber("+447700900123", "GB")


@pytest.mark.parametrize(
    "raw", [None, 15555555555, "", "   ", "1 555 555 5555", "0015555555555", "+123", "abc"]
)
def test_normalise_inbound_rejects(raw: object) -> None:
    with pytest.raises(InvalidPhoneNumber):
        normalise_inbound(raw)


# --- mask -------------------------------------------------------------------------------------


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("+15555555551", "+1********51"),
        ("+447700900123", "+4*********23"),
        ("15555555551", "1********51"),
        ("+1234", "+1*34"),
        ("+123", "***"),
        ("", "***"),
        (None, "***"),
    ],
)
def test_mask_examples(raw: object, masked: str) -> None:
    assert mask(raw) == masked


def test_mask_accepts_phone_number_objects() -> None:
    assert mask(parse_e164("+15555555551")) == "+1********51"


@given(E164_LIKE)
def test_mask_reveals_at_most_country_digit_and_last_two(raw: str) -> None:
    masked = mask(raw)
    assert len(_digits(masked)) <= 3
    assert raw not in masked
    if len(raw) - 1 >= 4:
        assert masked.startswith(raw[:2])
        assert masked.endswith(raw[-2:])
        assert len(masked) == len(raw)


@given(st.text())
def test_mask_never_reveals_more_than_three_digits_of_anything(raw: str) -> None:
    masked = mask(raw)
    assert len(_digits(masked)) <= 3
    if len(_digits(raw)) >= 4:
        assert _digits(raw) not in _digits(masked)
