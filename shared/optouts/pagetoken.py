"""Opaque, tamper-safe paging tokens (the `continuationToken` in the `nextLink` of every paged
endpoint, `shared.api.paging`).

A token carries where the next page starts (for opt-outs: a RowKey, i.e. a phone number; for the
history and a group: a Table continuation; for the report: that and its running totals), so it is
*encrypted and authenticated* with AES-256-GCM rather than only signed: a client learns nothing
from it (nor does a proxy that logs URLs), and a token that was altered, made up, or issued for
another sender or other filters fails authentication. The sender and the filters
are the GCM "associated data", so they are bound to the token without being stored in it.

The key is derived (HMAC-SHA256 with a fixed label) from each configured access key: no extra
secret to provision, every instance of the app agrees, and tokens survive a key rotation as long
as the key that made them is still configured (the newest key encrypts, all keys decrypt).
`cryptography` is imported when a token is first issued or opened, not with this module.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shared.domain.model import InvalidPageToken

_LABEL = b"sms-optouts/page-token/v1"
_NONCE_BYTES = 12
_TAG_BYTES = 16
# Far above any real token (a report's, which carries its totals, is the longest: under 2 KB even
# with dozens of keywords); longer input is refused before decoding. A URL over 8 KB would not
# reach the app anyway.
MAX_TOKEN_CHARS = 8192


def derive_token_key(access_key: bytes) -> bytes:
    """The AES-256 key for page tokens made from one access key."""
    return hmac.new(access_key, _LABEL, hashlib.sha256).digest()


def _associated_data(scope: Mapping[str, str | None]) -> bytes:
    return json.dumps(dict(scope), sort_keys=True, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class PageTokens:
    """Issues and opens tokens. `keys[0]` encrypts; every key may decrypt."""

    keys: tuple[bytes, ...]

    @classmethod
    def from_access_keys(cls, access_keys: Sequence[bytes]) -> PageTokens:
        if not access_keys:
            raise ValueError("page tokens need at least one access key")
        return cls(tuple(derive_token_key(k) for k in access_keys))

    def issue(self, scope: Mapping[str, str | None], position: str) -> str:
        """A token for `position` that only opens with exactly this `scope`."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(self.keys[0]).encrypt(
            nonce, position.encode("utf-8"), _associated_data(scope)
        )
        return base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")

    def open(self, token: str, scope: Mapping[str, str | None]) -> str:
        """The position in `token`; InvalidPageToken unless it was issued for `scope`."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        raw = _decode(token)
        nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        data = _associated_data(scope)
        for key in self.keys:
            try:
                return AESGCM(key).decrypt(nonce, sealed, data).decode("utf-8", "replace")
            except InvalidTag:
                continue
        raise InvalidPageToken("The page token is not valid for this request.")


def _decode(token: str) -> bytes:
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise InvalidPageToken("The page token is malformed.")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidPageToken("The page token is malformed.") from exc
    # Only the canonical spelling opens (the last character's spare bits must be zero).
    canonical = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    if len(raw) < _NONCE_BYTES + _TAG_BYTES or canonical != token:
        raise InvalidPageToken("The page token is malformed.")
    return raw
