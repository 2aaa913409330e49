"""Unit tests for the request gates of shared.api: body parsing, api-version, size, auth.

No storage, no network: these functions take bytes and plain mappings.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import azure.functions as func
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.api.optouts import MAX_RECIPIENTS, OptOutRequest, parse_optout_body
from shared.api.pipeline import authenticate, check_api_version, check_size
from shared.api.wire import API_VERSIONS, ApiRequest, ApiResponse
from shared.domain.access import AccessKey, KeyRing, parse_keyring
from shared.platform.hmac_auth import sign_request
from shared.platform.settings import Settings

SENDER = "+18001234567"
KEY = bytes(range(32))
URL = "http://127.0.0.1:7071/sms/optouts:add?api-version=2026-01-23"


def _body(obj: Any) -> bytes:
    return json.dumps(obj).encode("utf-8")


def _request(
    params: dict[str, str] | None = None, body: bytes = b"", headers: Any = None
) -> ApiRequest:
    return ApiRequest("POST", URL, headers or {}, params or {}, body)


def _errors(result: OptOutRequest | ApiResponse) -> dict[str, list[str]]:
    assert isinstance(result, ApiResponse), result
    assert result.status == 400
    assert result.body["title"] == "One or more validation errors occurred."
    assert result.body["status"] == 400
    assert result.body["type"].startswith("https://")
    errors = result.body["errors"]
    assert errors, "a 400 must name at least one field"
    for messages in errors.values():
        assert isinstance(messages, list)
        assert messages
        assert all(isinstance(m, str) and m for m in messages)
    json.dumps(result.body)  # serialisable as sent
    return errors


# --- parse_optout_body: valid -----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        _body({"from": SENDER, "recipients": [{"to": "+15555555551"}, {"to": "+15555555552"}]}),
        _body({"From": SENDER, "RECIPIENTS": [{"To": "+15555555551"}, {"TO": "+15555555552"}]}),
        b"\xef\xbb\xbf"
        + _body({"from": SENDER, "recipients": [{"to": "+15555555551"}, {"to": "+15555555552"}]}),
        _body(
            {
                "from": SENDER,
                "recipients": [{"to": "+15555555551", "extra": 1}, {"to": "+15555555552"}],
                "unknownField": True,
            }
        ),
        (
            b' \n{"from" : "+18001234567",\r\n "recipients":[{"to":"+15555555551"},'
            b'{"to":"+15555555552"}]}\n'
        ),
    ],
    ids=["plain", "case-insensitive-keys", "utf8-bom", "extra-fields", "whitespace"],
)
def test_parse_valid(body: bytes) -> None:
    result = parse_optout_body(body)
    assert isinstance(result, OptOutRequest), result
    assert result.sender.key == SENDER
    assert result.recipients == ["+15555555551", "+15555555552"]


def test_parse_keeps_recipients_as_sent_in_order_with_duplicates_and_invalid_numbers() -> None:
    # Invalid recipient numbers are per-item errors later, not whole-request validation errors.
    tos = ["+15555555552", "+123", "+15555555551", "+15555555552", "not a number", " +1555"]
    result = parse_optout_body(_body({"from": SENDER, "recipients": [{"to": t} for t in tos]}))
    assert isinstance(result, OptOutRequest)
    assert result.recipients == tos


def test_exact_key_wins_over_other_casing() -> None:
    body = _body({"From": "+123", "from": SENDER, "recipients": [{"to": "+15555555551"}]})
    result = parse_optout_body(body)
    assert isinstance(result, OptOutRequest)
    assert result.sender.key == SENDER


def test_max_recipients_accepted() -> None:
    assert MAX_RECIPIENTS == 100
    tos = [f"+1555555{i:04d}" for i in range(100)]
    result = parse_optout_body(_body({"from": SENDER, "recipients": [{"to": t} for t in tos]}))
    assert isinstance(result, OptOutRequest)
    assert result.recipients == tos


def test_one_recipient_accepted() -> None:
    result = parse_optout_body(_body({"from": SENDER, "recipients": [{"to": "+15555555551"}]}))
    assert isinstance(result, OptOutRequest)


# --- parse_optout_body: invalid ---------------------------------------------------------------

ONE = [{"to": "+15555555551"}]

INVALID: list[tuple[str, bytes, str]] = [
    ("empty body", b"", "$"),
    ("not json", b"{from:", "$"),
    ("not utf-8", b'{"from": "\xff"}', "$"),
    ("utf-16", '{"from": "+18001234567"}'.encode("utf-16"), "$"),
    ("array", _body([{"from": SENDER}]), "$"),
    ("string", _body("hello"), "$"),
    ("null", b"null", "$"),
    ("number", b"42", "$"),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000, "$"),
    ("from missing", _body({"recipients": ONE}), "From"),
    ("from null", _body({"from": None, "recipients": ONE}), "From"),
    ("from empty", _body({"from": "", "recipients": ONE}), "From"),
    ("from number", _body({"from": 18001234567, "recipients": ONE}), "From"),
    ("from object", _body({"from": {"e164": SENDER}, "recipients": ONE}), "From"),
    ("from invalid", _body({"from": "+123", "recipients": ONE}), "From"),
    ("from no plus", _body({"from": "18001234567", "recipients": ONE}), "From"),
    ("from spaces", _body({"from": "+1 800 123 4567", "recipients": ONE}), "From"),
    ("recipients missing", _body({"from": SENDER}), "Recipients"),
    ("recipients null", _body({"from": SENDER, "recipients": None}), "Recipients"),
    ("recipients object", _body({"from": SENDER, "recipients": {"to": "+1555"}}), "Recipients"),
    ("recipients string", _body({"from": SENDER, "recipients": "+15555555551"}), "Recipients"),
    ("recipients empty", _body({"from": SENDER, "recipients": []}), "Recipients"),
    (
        "recipients 101",
        _body({"from": SENDER, "recipients": [{"to": f"+1555555{i:04d}"} for i in range(101)]}),
        "Recipients",
    ),
    ("item string", _body({"from": SENDER, "recipients": ["+15555555551"]}), "Recipients[0]"),
    ("item null", _body({"from": SENDER, "recipients": [*ONE, None]}), "Recipients[1]"),
    ("item list", _body({"from": SENDER, "recipients": [*ONE, *ONE, [ONE]]}), "Recipients[2]"),
    ("to missing", _body({"from": SENDER, "recipients": [{}]}), "Recipients[0].To"),
    ("to null", _body({"from": SENDER, "recipients": [*ONE, {"to": None}]}), "Recipients[1].To"),
    ("to empty", _body({"from": SENDER, "recipients": [{"to": ""}]}), "Recipients[0].To"),
    ("to number", _body({"from": SENDER, "recipients": [{"to": 15555555551}]}), "Recipients[0].To"),
    ("to list", _body({"from": SENDER, "recipients": [{"to": ["+1555"]}]}), "Recipients[0].To"),
    ("to bool", _body({"from": SENDER, "recipients": [{"to": False}]}), "Recipients[0].To"),
    (
        "to misnamed",
        _body({"from": SENDER, "recipients": [{"phone": "+1555"}]}),
        "Recipients[0].To",
    ),
]


@pytest.mark.parametrize(("body", "field"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_parse_invalid_names_field(body: bytes, field: str) -> None:
    errors = _errors(parse_optout_body(body))
    assert field in errors, errors
    assert set(errors) == {field}, errors


def test_several_errors_reported_together() -> None:
    body = _body(
        {
            "from": "+123",
            "recipients": [{"to": 5}, "x", {}, {"to": "+15555555551"}, {"to": None}],
        }
    )
    errors = _errors(parse_optout_body(body))
    assert set(errors) == {
        "From",
        "Recipients[0].To",
        "Recipients[1]",
        "Recipients[2].To",
        "Recipients[4].To",
    }


def test_missing_from_and_recipients_both_reported() -> None:
    assert set(_errors(parse_optout_body(b"{}"))) == {"From", "Recipients"}


def test_from_error_message_does_not_echo_number() -> None:
    errors = _errors(parse_optout_body(_body({"from": "+99912345678", "recipients": ONE})))
    assert all("99912345678" not in m for m in errors["From"])


def test_validation_problem_body_shape() -> None:
    result = parse_optout_body(b"{}")
    assert isinstance(result, ApiResponse)
    assert set(result.body) == {"type", "title", "status", "errors"}
    assert result.json_bytes().startswith(b"{")


# --- parse_optout_body: properties ------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["+15555555551", SENDER, "+123", ""]),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(["from", "From", "recipients", "Recipients", "to", "TO", "x"])
            | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


def _check_outcome(result: object) -> None:
    if isinstance(result, OptOutRequest):
        assert 1 <= len(result.recipients) <= MAX_RECIPIENTS
        assert all(isinstance(r, str) and r for r in result.recipients)
    else:
        _errors(result)  # type: ignore[arg-type]


@given(st.binary(max_size=300))
def test_parse_never_raises_on_arbitrary_bytes(body: bytes) -> None:
    _check_outcome(parse_optout_body(body))


@given(JSON_VALUES)
def test_parse_never_raises_on_arbitrary_json(value: Any) -> None:
    _check_outcome(parse_optout_body(_body(value)))


@given(
    st.fixed_dictionaries(
        {
            "from": JSON_VALUES,
            "recipients": st.lists(
                st.fixed_dictionaries({"to": JSON_VALUES}) | JSON_VALUES, max_size=4
            ),
        }
    )
)
def test_parse_never_raises_on_near_valid_json(value: Any) -> None:
    _check_outcome(parse_optout_body(_body(value)))


# --- check_api_version ------------------------------------------------------------------------

SUPPORTED = ["2024-12-10-preview", "2025-05-29-preview", "2025-08-01-preview", "2025-09-17"]
SUPPORTED.append("2026-01-23")


def test_supported_versions_exactly() -> None:
    assert set(SUPPORTED) == API_VERSIONS


@pytest.mark.parametrize("version", SUPPORTED)
def test_supported_version_accepted(version: str) -> None:
    assert check_api_version(_request({"api-version": version})) is None


@pytest.mark.parametrize("params", [{}, {"api-version": ""}, {"api_version": "2026-01-23"}])
def test_missing_version(params: dict[str, str]) -> None:
    result = check_api_version(_request(params))
    assert isinstance(result, ApiResponse)
    assert result.status == 400
    assert result.body["error"]["code"] == "ApiVersionUnspecified"
    assert result.body["error"]["message"]


@pytest.mark.parametrize(
    "version",
    ["2023-03-31", "2026-01-23 ", "2026-01-23-PREVIEW", "latest", "2021-03-07", "x" * 5000],
)
def test_unknown_version(version: str) -> None:
    result = check_api_version(_request({"api-version": version}))
    assert isinstance(result, ApiResponse)
    assert result.status == 400
    assert result.body["error"]["code"] == "InvalidApiVersion"
    message = result.body["error"]["message"]
    assert "2026-01-23" in message  # lists what is supported


def test_unknown_version_echo_is_bounded() -> None:
    attack = "<script>" + "A" * 1000
    result = check_api_version(_request({"api-version": attack}))
    assert isinstance(result, ApiResponse)
    message = result.body["error"]["message"]
    assert attack[:40] in message
    assert attack[:41] not in message
    assert "A" * 33 not in message
    assert len(message) < 400


# --- check_size -------------------------------------------------------------------------------


def _settings(**kwargs: Any) -> Settings:
    return Settings(access_keys=(KEY,), **kwargs)


def test_size_at_limit_accepted() -> None:
    assert check_size(_request(body=b"x" * 1024), _settings(max_body_bytes=1024)) is None
    assert check_size(_request(body=b""), _settings(max_body_bytes=1024)) is None


def test_size_over_limit_refused() -> None:
    result = check_size(_request(body=b"x" * 1025), _settings(max_body_bytes=1024))
    assert isinstance(result, ApiResponse)
    assert result.status == 413
    assert result.body["error"]["code"] == "RequestEntityTooLarge"
    assert "1024" in result.body["error"]["message"]


def test_size_default_limit() -> None:
    limit = 64 * 1024
    assert check_size(_request(body=b"x" * limit), _settings()) is None
    refused = check_size(_request(body=b"x" * (limit + 1)), _settings())
    assert refused is not None
    assert refused.status == 413


# --- authenticate -----------------------------------------------------------------------------


def _signed_request(body: bytes, sent_body: bytes | None = None) -> ApiRequest:
    signed = sign_request("POST", URL, body, base64.b64encode(KEY).decode())
    headers = func.HttpRequest("POST", URL, headers=signed, body=body).headers
    return ApiRequest("POST", URL, headers, {"api-version": "2026-01-23"}, sent_body or body)


def _keys(*keys: bytes) -> KeyRing:
    return parse_keyring("", keys)


def test_authenticate_accepts_signed_request() -> None:
    body = _body({"from": SENDER, "recipients": ONE})
    key = authenticate(_signed_request(body), _settings(), _keys(KEY))
    assert isinstance(key, AccessKey) and key.name == "key1"


def test_authenticate_names_the_key_that_signed() -> None:
    other = b"another key of 16 bytes or more"
    body = _body({"from": SENDER, "recipients": ONE})
    key = authenticate(_signed_request(body), _settings(), _keys(other, KEY))
    assert isinstance(key, AccessKey) and key.name == "key2"


def test_authenticate_refuses_tampered_body_with_acs_error() -> None:
    body = _body({"from": SENDER, "recipients": ONE})
    tampered = body.replace(b"+15555555551", b"+15555555559")
    result = authenticate(_signed_request(body, tampered), _settings(), _keys(KEY))
    assert isinstance(result, ApiResponse)
    assert result.status == 401
    assert result.body == {
        "error": {
            "code": "Denied",
            "message": "Request 'x-ms-content-sha256' differs from generated content hash.",
        }
    }


def test_authenticate_refuses_when_no_keys_configured() -> None:
    body = _body({"from": SENDER, "recipients": ONE})
    result = authenticate(_signed_request(body), Settings(access_keys=()), _keys())
    assert isinstance(result, ApiResponse)
    assert result.status == 401
    assert result.body["error"]["code"] == "Denied"


def test_authenticate_refuses_unsigned_request() -> None:
    result = authenticate(_request(body=b"{}"), _settings(), _keys(KEY))
    assert isinstance(result, ApiResponse)
    assert result.status == 401
    assert result.body["error"]["message"] == "Authorization header is missing."
