"""Unit tests for shared.domain.sender: E.164 numbers, short codes and alphanumeric sender IDs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.sender import (
    InvalidSender,
    SenderId,
    SenderKind,
    parse_inbound_sender,
    parse_sender,
)

TABLE_FORBIDDEN = set("/\\#?") | {chr(c) for c in range(0x20)} | {chr(c) for c in range(0x7F, 0xA0)}


@pytest.mark.parametrize(
    ("raw", "key", "kind"),
    [
        ("+18005550100", "+18005550100", SenderKind.PHONE_NUMBER),
        (" +447700900123 ", "+447700900123", SenderKind.PHONE_NUMBER),
        ("12345", "12345", SenderKind.SHORT_CODE),
        ("262966", "262966", SenderKind.SHORT_CODE),
        ("123", "123", SenderKind.SHORT_CODE),
        ("12345678", "12345678", SenderKind.SHORT_CODE),
        ("Contoso", "CONTOSO", SenderKind.ALPHANUMERIC),
        ("CONTOSO", "CONTOSO", SenderKind.ALPHANUMERIC),
        ("My Shop 24", "MY SHOP 24", SenderKind.ALPHANUMERIC),
        ("A&B-C_D.E+", "A&B-C_D.E+", SenderKind.ALPHANUMERIC),
        ("X", "X", SenderKind.ALPHANUMERIC),
    ],
)
def test_accepted_senders_and_their_keys(raw: str, key: str, kind: SenderKind) -> None:
    sender = parse_sender(raw)
    assert (sender.key, sender.kind) == (key, kind)
    assert sender.display == raw.strip()
    assert str(sender) == key


def test_alphanumeric_ids_are_one_key_whatever_the_case() -> None:
    assert parse_sender("Contoso").key == parse_sender("cOnToSo").key
    # ... but ACS gets the caller's spelling.
    assert parse_sender("cOnToSo").display == "cOnToSo"


@pytest.mark.parametrize(
    "raw",
    [
        None,
        18005550100,
        "",
        "   ",
        "+123",  # not a possible number
        "+1800555010x",
        "18005550100",  # 11 digits without + : neither E.164 nor a short code
        "12",  # too short for a short code
        "TwelveChars1",  # alphanumeric IDs have at most 11 characters
        "a/b",
        "a\\b",
        "a#b",
        "a?b",
        "ab\x00",
        "ab\tc",
        "Café",  # not ASCII
        "-_ &.",  # no letter
    ],
)
def test_refused_senders(raw: object) -> None:
    with pytest.raises(InvalidSender) as info:
        parse_sender(raw)
    if isinstance(raw, str) and len(raw.strip()) > 4:
        assert raw.strip() not in str(info.value)  # the value is never echoed


@given(st.text(max_size=20))
def test_every_accepted_key_is_a_valid_table_key(raw: str) -> None:
    try:
        sender = parse_sender(raw)
    except InvalidSender:
        return
    assert sender.key and not set(sender.key) & TABLE_FORBIDDEN
    assert len(sender.key.encode()) <= 1024


@given(st.text(max_size=20))
def test_the_three_kinds_never_share_a_key(raw: str) -> None:
    try:
        sender = parse_sender(raw)
    except InvalidSender:
        return
    if sender.kind is SenderKind.PHONE_NUMBER:
        assert sender.key[0] == "+" and sender.key[1:].isdigit()
    elif sender.kind is SenderKind.SHORT_CODE:
        assert sender.key.isdigit()
    else:
        assert any(c.isalpha() for c in sender.key)


@pytest.mark.parametrize(
    ("raw", "key", "kind"),
    [
        ("18005550100", "+18005550100", SenderKind.PHONE_NUMBER),  # event numbers lack the +
        ("+18005550100", "+18005550100", SenderKind.PHONE_NUMBER),
        ("12345", "12345", SenderKind.SHORT_CODE),  # an inbound text to a short code
        ("12345678", "12345678", SenderKind.SHORT_CODE),
    ],
)
def test_inbound_senders(raw: str, key: str, kind: SenderKind) -> None:
    sender = parse_inbound_sender(raw)
    assert (sender.key, sender.kind) == (key, kind)


def test_inbound_sender_that_is_no_number_is_refused() -> None:
    with pytest.raises(InvalidSender):
        parse_inbound_sender("999999999999999")  # 15 digits, no such country code


def test_masked_hides_numbers_but_not_brands() -> None:
    assert parse_sender("+18005550100").masked == "+1********00"
    assert parse_sender("Contoso").masked == "CONTOSO"
    assert SenderId("12345", SenderKind.SHORT_CODE, "12345").masked == "12345"
