"""Unit tests for shared.optouts.pagetoken: opaque, tamper-safe, scope-bound paging tokens."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.model import InvalidPageToken
from shared.optouts.pagetoken import MAX_TOKEN_CHARS, PageTokens

KEY_A = b"a" * 32
KEY_B = b"b" * 32
SCOPE = {"sender": "+18005550100", "since": None, "country": "US"}
POSITION = "+14255550123"


@pytest.fixture
def tokens() -> PageTokens:
    return PageTokens.from_access_keys([KEY_A])


def test_round_trip(tokens: PageTokens) -> None:
    token = tokens.issue(SCOPE, POSITION)
    assert tokens.open(token, dict(SCOPE)) == POSITION


def test_token_is_url_safe_and_hides_the_position(tokens: PageTokens) -> None:
    token = tokens.issue(SCOPE, POSITION)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    decoded = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert b"4255550123" not in decoded
    assert "4255550123" not in token
    assert tokens.issue(SCOPE, POSITION) != token  # a fresh nonce each time


@pytest.mark.parametrize(
    "other",
    [
        {**SCOPE, "sender": "+18005550101"},
        {**SCOPE, "country": "CA"},
        {**SCOPE, "country": None},
        {**SCOPE, "since": "2024-01-01T00:00:00+00:00"},
        {**SCOPE, "since": ""},
        {"sender": "+18005550100", "country": "US"},
    ],
)
def test_foreign_scope_is_refused(tokens: PageTokens, other: dict[str, str | None]) -> None:
    with pytest.raises(InvalidPageToken):
        tokens.open(tokens.issue(SCOPE, POSITION), other)


def test_every_altered_character_is_refused(tokens: PageTokens) -> None:
    token = tokens.issue(SCOPE, POSITION)
    for i, char in enumerate(token):
        for replacement in {"A", "z", "-"} - {char}:
            altered = token[:i] + replacement + token[i + 1 :]
            with pytest.raises(InvalidPageToken):
                tokens.open(altered, SCOPE)


@pytest.mark.parametrize("cut", [1, 5, 20])
def test_truncated_or_extended_is_refused(tokens: PageTokens, cut: int) -> None:
    token = tokens.issue(SCOPE, POSITION)
    for bad in (token[:-cut], token + "AAAA"[:cut]):
        with pytest.raises(InvalidPageToken):
            tokens.open(bad, SCOPE)


def test_another_key_is_refused_and_rotation_keeps_old_tokens() -> None:
    old = PageTokens.from_access_keys([KEY_A]).issue(SCOPE, POSITION)
    with pytest.raises(InvalidPageToken):
        PageTokens.from_access_keys([KEY_B]).open(old, SCOPE)
    rotated = PageTokens.from_access_keys([KEY_B, KEY_A])
    assert rotated.open(old, SCOPE) == POSITION
    assert PageTokens.from_access_keys([KEY_B]).open(rotated.issue(SCOPE, "x"), SCOPE) == "x"


def test_no_keys_is_a_configuration_error() -> None:
    with pytest.raises(ValueError):
        PageTokens.from_access_keys([])


@pytest.mark.parametrize("bad", ["", "!!!!", "é" * 40, "A" * (MAX_TOKEN_CHARS + 1), "AAAA"])
def test_malformed_is_refused(tokens: PageTokens, bad: str) -> None:
    with pytest.raises(InvalidPageToken):
        tokens.open(bad, SCOPE)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_made_up_tokens_never_open(bad: str) -> None:
    with pytest.raises(InvalidPageToken):
        PageTokens.from_access_keys([KEY_A]).open(bad, SCOPE)


@settings(max_examples=100, deadline=None)
@given(position=st.text(max_size=200), country=st.one_of(st.none(), st.text(max_size=3)))
def test_any_position_round_trips(position: str, country: str | None) -> None:
    tokens = PageTokens.from_access_keys([KEY_A, KEY_B])
    scope = {**SCOPE, "country": country}
    assert tokens.open(tokens.issue(scope, position), scope) == position
