"""Unit tests for shared.platform.hmac_auth: ACS HMAC-SHA256 signing and verification (reference
§2).

The expected signature is computed here independently of the code under test, and also pinned
as a literal computed once with `openssl dgst -sha256 -mac HMAC`, so any drift in the algorithm
(string to sign, key decoding, encodings) fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone

import azure.functions as func
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.platform import hmac_auth as acs_auth
from shared.platform.hmac_auth import (
    SIGNED_HEADERS,
    AuthError,
    content_hash,
    http_date,
    sign_request,
    string_to_sign,
    verify_request,
)

NOW = datetime(2023, 8, 10, 12, 39, 55, tzinfo=UTC)
DATE = "Thu, 10 Aug 2023 12:39:55 GMT"
HOST = "127.0.0.1:7071"
PATH = "/sms/optouts:add?api-version=2026-01-23"
URL = f"http://{HOST}{PATH}"
BODY = b'{"from":"+15555555551","recipients":[{"to":"+15555555552"}]}'
KEY_BYTES = bytes(range(32))
KEY = base64.b64encode(KEY_BYTES).decode()  # "AAECAwQF...Hh8="
OTHER_KEY_BYTES = bytes(range(100, 132))
OTHER_KEY = base64.b64encode(OTHER_KEY_BYTES).decode()

# Computed once outside Python with:
#   printf '%s' "$BODY" | openssl dgst -sha256 -binary | base64
#   printf 'POST\n/sms/optouts:add?api-version=2026-01-23\nThu, 10 Aug 2023 12:39:55 GMT;'\
#          '127.0.0.1:7071;%s' "$HASH" | openssl dgst -sha256 -mac HMAC \
#          -macopt hexkey:000102...1f -binary | base64
PINNED_HASH = "kDPDpBuOO+prccc2oYpiA6L4CMUX+jteS4biVXpRlRM="
PINNED_SIGNATURE = "LtVPbghhDn+LtZgV4iGMmdeXg4rmc06yglO07qKNr0I="

SKEW = 900


def _independent_signature(key_b64: str, method: str, path: str, date: str, host: str) -> str:
    body_hash = base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    message = f"{method}\n{path}\n{date};{host};{body_hash}"
    digest = hmac.new(base64.b64decode(key_b64), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _headers(signed: Mapping[str, str], **extra: str) -> Mapping[str, str]:
    """Case-insensitive headers, as the Functions host hands them to the app."""
    return func.HttpRequest("POST", URL, headers={**signed, **extra}, body=BODY).headers


def _verify(
    headers: Mapping[str, str],
    *,
    method: str = "POST",
    url: str = URL,
    body: bytes = BODY,
    keys: list[bytes] | None = None,
    now: datetime = NOW,
) -> None:
    verify_request(
        method,
        url,
        headers,
        body,
        [KEY_BYTES] if keys is None else keys,
        max_skew_seconds=SKEW,
        now=now,
    )


def _signed(**changes: object) -> Mapping[str, str]:
    args: dict[str, object] = {
        "method": "POST",
        "url": URL,
        "body": BODY,
        "access_key": KEY,
        "now": NOW,
    }
    args.update(changes)
    return _headers(sign_request(**args))  # type: ignore[arg-type]


# --- known answers ----------------------------------------------------------------------------


def test_pinned_values_match_independent_computation() -> None:
    assert base64.b64encode(hashlib.sha256(BODY).digest()).decode() == PINNED_HASH
    assert _independent_signature(KEY, "POST", PATH, DATE, HOST) == PINNED_SIGNATURE


def test_sign_request_known_answer() -> None:
    headers = sign_request("POST", URL, BODY, KEY, now=NOW)
    assert headers == {
        "x-ms-date": DATE,
        "x-ms-content-sha256": PINNED_HASH,
        "Authorization": (
            "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256"
            f"&Signature={PINNED_SIGNATURE}"
        ),
    }


def test_sign_request_matches_independent_computation_for_other_inputs() -> None:
    url = "https://contoso.communication.azure.com/sms/optouts:check?api-version=2025-05-29-preview"
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    headers = sign_request("post", url, BODY, OTHER_KEY, now=when)
    expected = _independent_signature(
        OTHER_KEY,
        "POST",
        "/sms/optouts:check?api-version=2025-05-29-preview",
        "Thu, 02 Jan 2025 03:04:05 GMT",
        "contoso.communication.azure.com",
    )
    assert headers["x-ms-date"] == "Thu, 02 Jan 2025 03:04:05 GMT"
    assert headers["Authorization"].endswith(f"&Signature={expected}")


def test_building_blocks() -> None:
    assert SIGNED_HEADERS == "x-ms-date;host;x-ms-content-sha256"
    assert content_hash(BODY) == PINNED_HASH
    assert content_hash(b"") == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    assert string_to_sign("post", PATH, DATE, HOST, PINNED_HASH) == (
        f"POST\n{PATH}\n{DATE};{HOST};{PINNED_HASH}"
    )
    assert acs_auth.signature(KEY_BYTES, string_to_sign("POST", PATH, DATE, HOST, PINNED_HASH)) == (
        PINNED_SIGNATURE
    )


def test_http_date_is_rfc1123_gmt_and_converts_to_utc() -> None:
    assert http_date(NOW) == DATE
    plus_two = datetime(2023, 8, 10, 14, 39, 55, tzinfo=timezone(timedelta(hours=2)))
    assert http_date(plus_two) == DATE


def test_sign_request_url_without_path_or_query() -> None:
    headers = sign_request("GET", "http://example.test", b"", KEY, now=NOW)
    body_hash = content_hash(b"")
    message = f"GET\n/\n{DATE};example.test;{body_hash}"
    expected = base64.b64encode(
        hmac.new(KEY_BYTES, message.encode(), hashlib.sha256).digest()
    ).decode()
    assert headers["Authorization"].endswith(f"&Signature={expected}")


# --- verify_request: accepted -----------------------------------------------------------------


def test_verify_accepts_signed_request() -> None:
    _verify(_signed())


def test_verify_accepts_lower_case_header_names_as_sent_by_some_clients() -> None:
    signed = sign_request("POST", URL, BODY, KEY, now=NOW)
    _verify(_headers({k.lower(): v for k, v in signed.items()}))


@pytest.mark.parametrize("keys", [[KEY_BYTES, OTHER_KEY_BYTES], [OTHER_KEY_BYTES, KEY_BYTES]])
def test_verify_accepts_either_key_for_rotation(keys: list[bytes]) -> None:
    _verify(_signed(access_key=KEY), keys=keys)
    _verify(_signed(access_key=OTHER_KEY), keys=keys)


def test_verify_accepts_keys_as_any_iterable() -> None:
    _verify(_signed(), keys=iter([OTHER_KEY_BYTES, KEY_BYTES]))  # type: ignore[arg-type]


@pytest.mark.parametrize("minutes", [-14, 14, 0])
def test_verify_accepts_date_within_skew(minutes: int) -> None:
    _verify(_signed(now=NOW + timedelta(minutes=minutes)))


def test_verify_accepts_host_header_when_behind_a_proxy() -> None:
    # Signed for the public host; the app sees an internal URL but the Host header is kept.
    public = "https://optout.example.com" + PATH
    signed = sign_request("POST", public, BODY, KEY, now=NOW)
    _verify(_headers(signed, Host="optout.example.com"), url="http://10.0.0.4:80" + PATH)


def test_verify_accepts_percent_encoded_colon_in_incoming_url() -> None:
    signed = sign_request("POST", URL, BODY, KEY, now=NOW)
    _verify(_headers(signed), url=URL.replace("optouts:add", "optouts%3Aadd"))


def test_verify_accepts_signed_headers_in_other_case() -> None:
    signed = dict(sign_request("POST", URL, BODY, KEY, now=NOW))
    signed["Authorization"] = signed["Authorization"].replace(
        SIGNED_HEADERS, SIGNED_HEADERS.upper()
    )
    _verify(_headers(signed))


# --- verify_request: refused ------------------------------------------------------------------


def _refused(headers: Mapping[str, str], **kwargs: object) -> str:
    with pytest.raises(AuthError) as info:
        _verify(headers, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


def _without(name: str) -> Mapping[str, str]:
    signed = sign_request("POST", URL, BODY, KEY, now=NOW)
    return _headers({k: v for k, v in signed.items() if k.lower() != name})


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("authorization", "Authorization header is missing."),
        ("x-ms-date", "x-ms-date header is missing."),
        ("x-ms-content-sha256", "x-ms-content-sha256 header is missing."),
    ],
)
def test_verify_refuses_missing_header(missing: str, message: str) -> None:
    assert _refused(_without(missing)) == message


def test_missing_header_messages_are_distinct() -> None:
    messages = {
        _refused(_without(n)) for n in ("authorization", "x-ms-date", "x-ms-content-sha256")
    }
    assert len(messages) == 3


def _with_auth(value: str) -> Mapping[str, str]:
    signed = dict(sign_request("POST", URL, BODY, KEY, now=NOW))
    signed["Authorization"] = value
    return _headers(signed)


@pytest.mark.parametrize(
    "value",
    [
        f"Bearer {PINNED_SIGNATURE}",
        f"SharedKey SignedHeaders={SIGNED_HEADERS}&Signature={PINNED_SIGNATURE}",
        f"hmac-sha256 SignedHeaders={SIGNED_HEADERS}&Signature={PINNED_SIGNATURE}",
        f"HMAC-SHA1 SignedHeaders={SIGNED_HEADERS}&Signature={PINNED_SIGNATURE}",
    ],
)
def test_verify_refuses_other_scheme(value: str) -> None:
    assert _refused(_with_auth(value)) == "Authorization header must use the HMAC-SHA256 scheme."


@pytest.mark.parametrize(
    "value",
    [
        "HMAC-SHA256 garbage",
        "HMAC-SHA256 ",
        f"HMAC-SHA256 SignedHeaders={SIGNED_HEADERS}",
        f"HMAC-SHA256 Signature={PINNED_SIGNATURE}",
        f"HMAC-SHA256 SignedHeaders=&Signature={PINNED_SIGNATURE}",
        f"HMAC-SHA256 SignedHeaders={SIGNED_HEADERS}&Signature=",
        f"HMAC-SHA256 SignedHeaders={SIGNED_HEADERS}&{PINNED_SIGNATURE}",
    ],
)
def test_verify_refuses_malformed_authorization(value: str) -> None:
    assert _refused(_with_auth(value)) in {
        "Authorization header is malformed.",
        "Authorization header must carry SignedHeaders and Signature.",
    }


@pytest.mark.parametrize(
    "signed_headers",
    ["host;x-ms-date;x-ms-content-sha256", "x-ms-date;host", "x-ms-date;host;x-ms-content-sha256;"],
)
def test_verify_refuses_wrong_signed_headers(signed_headers: str) -> None:
    value = f"HMAC-SHA256 SignedHeaders={signed_headers}&Signature={PINNED_SIGNATURE}"
    assert _refused(_with_auth(value)) == f"SignedHeaders must be '{SIGNED_HEADERS}'."


def _with_date(value: str) -> Mapping[str, str]:
    signed = dict(sign_request("POST", URL, BODY, KEY, now=NOW))
    signed["x-ms-date"] = value
    return _headers(signed)


@pytest.mark.parametrize(
    "value", ["yesterday", "2023-08-10T12:39:55Z", "Thu, 32 Aug 2023 12:39:55 GMT", "0"]
)
def test_verify_refuses_unparseable_date(value: str) -> None:
    assert _refused(_with_date(value)) == "x-ms-date header is not an RFC 1123 date."


@pytest.mark.parametrize("minutes", [-16, 16])
def test_verify_refuses_date_outside_skew(minutes: int) -> None:
    message = _refused(_signed(now=NOW + timedelta(minutes=minutes)))
    assert message == "Request date is too far from the server time (x-ms-date)."


def test_skew_boundary_is_inclusive() -> None:
    _verify(_signed(now=NOW - timedelta(seconds=SKEW)))
    _refused(_signed(now=NOW - timedelta(seconds=SKEW + 1)))


def test_verify_refuses_tampered_body() -> None:
    tampered = BODY.replace(b"+15555555552", b"+15555555553")
    message = _refused(_signed(), body=tampered)
    assert message == "Request 'x-ms-content-sha256' differs from generated content hash."


def test_verify_refuses_hash_header_matching_tampered_body() -> None:
    # The attacker recomputes the content hash for the new body but cannot re-sign.
    tampered = BODY.replace(b"+15555555552", b"+15555555553")
    signed = dict(sign_request("POST", URL, BODY, KEY, now=NOW))
    signed["x-ms-content-sha256"] = content_hash(tampered)
    message = _refused(_headers(signed), body=tampered)
    assert message == "Request signature is not valid for any configured access key."


BAD_SIGNATURE = "Request signature is not valid for any configured access key."


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("POST", URL.replace("optouts:add", "optouts:remove")),  # other path
        ("POST", URL.replace("2026-01-23", "2025-09-17")),  # other query
        ("POST", f"http://{HOST}/sms/optouts:add"),  # query dropped
        ("PUT", URL),  # other method
        ("POST", URL.replace(HOST, "127.0.0.1:7072")),  # other host
        ("POST", URL.replace(HOST, "localhost:7071")),
    ],
)
def test_verify_refuses_signature_for_other_request(method: str, url: str) -> None:
    assert _refused(_signed(), method=method, url=url) == BAD_SIGNATURE


def test_verify_refuses_spoofed_host_header_for_other_host() -> None:
    signed = sign_request("POST", URL, BODY, KEY, now=NOW)
    message = _refused(_headers(signed, Host="evil.example"), url="http://evil.example" + PATH)
    assert message == BAD_SIGNATURE


def test_verify_refuses_wrong_key() -> None:
    assert _refused(_signed(access_key=OTHER_KEY)) == BAD_SIGNATURE


def test_verify_refuses_tampered_signature() -> None:
    signed = dict(sign_request("POST", URL, BODY, KEY, now=NOW))
    signed["Authorization"] = signed["Authorization"].replace(
        PINNED_SIGNATURE, PINNED_SIGNATURE[:-2] + "A="
    )
    assert _refused(_headers(signed)) == BAD_SIGNATURE


def test_verify_refuses_replayed_signature_with_new_date() -> None:
    signed = dict(sign_request("POST", URL, BODY, KEY, now=NOW))
    signed["x-ms-date"] = http_date(NOW + timedelta(minutes=1))
    assert _refused(_headers(signed)) == BAD_SIGNATURE


def test_verify_refuses_empty_key_list() -> None:
    message = _refused(_signed(), keys=[])
    assert message == "No access keys are configured for this service."


def test_auth_error_messages_never_echo_secrets() -> None:
    signed = sign_request("POST", URL, BODY, KEY, now=NOW)
    message = _refused(_headers(signed), keys=[OTHER_KEY_BYTES])
    assert PINNED_SIGNATURE not in message
    assert OTHER_KEY not in message
    assert KEY not in message


def test_signature_compare_is_constant_time() -> None:
    source = inspect.getsource(verify_request)
    assert "hmac.compare_digest" in source
    assert "claimed ==" not in source and "== claimed" not in source


# --- robustness -------------------------------------------------------------------------------


@given(st.text(max_size=80))
def test_arbitrary_date_header_only_raises_auth_error(value: str) -> None:
    signed = dict(sign_request("POST", URL, BODY, KEY, now=NOW))
    signed["x-ms-date"] = value
    headers = {k.lower(): v for k, v in signed.items()}
    if value == DATE:
        _verify(headers)
        return
    with pytest.raises(AuthError):
        _verify(headers)


@given(st.text(max_size=120))
def test_arbitrary_authorization_header_only_raises_auth_error(value: str) -> None:
    signed = dict(sign_request("POST", URL, BODY, KEY, now=NOW))
    headers = {k.lower(): v for k, v in signed.items()}
    headers["authorization"] = value
    with pytest.raises(AuthError):
        _verify(headers)
