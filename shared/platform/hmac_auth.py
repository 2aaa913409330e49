"""ACS HMAC-SHA256 request authentication: what the official ACS clients send (reference §2).

    x-ms-date: <RFC 1123 GMT>
    x-ms-content-sha256: base64(SHA-256(body))
    Authorization: HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=<sig>

    sig = base64(HMAC-SHA256(base64decode(key), VERB\\npath?query\\ndate;host;content-hash))

The same code signs (for the local signer and tests) and verifies (in the app), so the two
cannot drift apart; a test also checks it against a signature made by hand on known inputs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import unquote, urlsplit

SIGNED_HEADERS = "x-ms-date;host;x-ms-content-sha256"
_AUTH_PREFIX = "HMAC-SHA256 "


class AuthError(Exception):
    """The request is not authenticated. The message is safe to return to the client."""


def content_hash(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def string_to_sign(method: str, path_and_query: str, date: str, host: str, body_hash: str) -> str:
    return f"{method.upper()}\n{path_and_query}\n{date};{host};{body_hash}"


def signature(key: bytes, message: str) -> str:
    digest = hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _path_and_query(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    path = parts.path or "/"
    return parts.netloc, path + (f"?{parts.query}" if parts.query else "")


def http_date(now: datetime | None = None) -> str:
    return format_datetime((now or datetime.now(UTC)).astimezone(UTC), usegmt=True)


def sign_request(
    method: str, url: str, body: bytes, access_key: str, now: datetime | None = None
) -> dict[str, str]:
    """Headers that authenticate `method url` with `body`, as the ACS SDKs make them."""
    host, path_and_query = _path_and_query(url)
    date = http_date(now)
    body_hash = content_hash(body)
    sig = signature(
        base64.b64decode(access_key), string_to_sign(method, path_and_query, date, host, body_hash)
    )
    return {
        "x-ms-date": date,
        "x-ms-content-sha256": body_hash,
        "Authorization": f"{_AUTH_PREFIX}SignedHeaders={SIGNED_HEADERS}&Signature={sig}",
    }


def _parse_authorization(value: str) -> tuple[str, str]:
    if not value.startswith(_AUTH_PREFIX):
        raise AuthError("Authorization header must use the HMAC-SHA256 scheme.")
    fields: dict[str, str] = {}
    for part in value[len(_AUTH_PREFIX) :].strip().split("&"):
        name, sep, val = part.partition("=")
        if not sep:
            raise AuthError("Authorization header is malformed.")
        fields[name.strip().lower()] = val.strip()
    signed, sig = fields.get("signedheaders"), fields.get("signature")
    if not signed or not sig:
        raise AuthError("Authorization header must carry SignedHeaders and Signature.")
    return signed.lower(), sig


def _hosts(url_host: str, header_host: str | None) -> list[str]:
    hosts: list[str] = []
    for h in (header_host, url_host):
        if h and h not in hosts:
            # The Python SDK's HMAC policy signs its endpoint minus the scheme, so an endpoint
            # written with a trailing slash signs "host/": accept that form too.
            hosts.extend([h, h + "/"])
    return hosts


def _check_date(date: str, now: datetime, max_skew_seconds: int) -> None:
    try:
        sent_at = parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError) as exc:
        raise AuthError("x-ms-date header is not an RFC 1123 date.") from exc
    if sent_at.tzinfo is None:
        sent_at = sent_at.replace(tzinfo=UTC)
    if abs((now - sent_at).total_seconds()) > max_skew_seconds:
        raise AuthError("Request date is too far from the server time (x-ms-date).")


def _required_headers(headers: Mapping[str, str]) -> tuple[str, str, str]:
    """Authorization, x-ms-date and x-ms-content-sha256, each present (AuthError naming the
    first one missing)."""
    values = []
    for name, label in (
        ("authorization", "Authorization"),
        ("x-ms-date", "x-ms-date"),
        ("x-ms-content-sha256", "x-ms-content-sha256"),
    ):
        value = headers.get(name)
        if not value:
            raise AuthError(f"{label} header is missing.")
        values.append(value)
    return values[0], values[1], values[2]


def verify_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    keys: Iterable[bytes],
    *,
    max_skew_seconds: int,
    now: datetime | None = None,
) -> int:
    """The index in `keys` of the key that signed the request; AuthError unless the request
    carries a valid ACS HMAC signature by one of them.

    `headers` must be case-insensitive (as `func.HttpRequest.headers` is). Cost: every key is
    tried (ACS's HMAC names no key), each with one HMAC-SHA256 per host and path form the
    request may have been signed with (usually 2): a few microseconds per key, see
    `make bench` (bench/keys.py).
    """
    key_list = list(keys)
    if not key_list:
        raise AuthError("No access keys are configured for this service.")
    auth, date, claimed_hash = _required_headers(headers)
    signed_headers, claimed_sig = _parse_authorization(auth)
    if signed_headers != SIGNED_HEADERS:
        raise AuthError(f"SignedHeaders must be '{SIGNED_HEADERS}'.")
    _check_date(date, now or datetime.now(UTC), max_skew_seconds)
    actual_hash = content_hash(body)
    if not hmac.compare_digest(claimed_hash.encode(), actual_hash.encode()):
        raise AuthError("Request 'x-ms-content-sha256' differs from generated content hash.")
    url_host, path_and_query = _path_and_query(url)
    paths = [path_and_query]
    if unquote(path_and_query) != path_and_query:
        paths.append(unquote(path_and_query))
    claimed = claimed_sig.encode()
    matched = -1
    for host in _hosts(url_host, headers.get("host")):
        for path in paths:
            message = string_to_sign(method, path, date, host, claimed_hash)
            for index, key in enumerate(key_list):
                # Every candidate is checked (no early exit) so timing does not reveal which
                # key or host matched; the first matching key (in configuration order) wins.
                if hmac.compare_digest(claimed, signature(key, message).encode()) and matched < 0:
                    matched = index
    if matched < 0:
        raise AuthError("Request signature is not valid for any configured access key.")
    return matched
