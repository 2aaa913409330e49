"""Named, scoped access keys (`OPTOUT_KEYS`, docs/access.md): who may do what, for which senders.

A key has a name (what the audit records as `actor`), its secret (base64, 16+ bytes), the
permissions it holds and the senders it may touch. Pure: parsing the setting and deciding; the
HTTP pipeline (`shared.api.pipeline`) asks `allows` and `covers` before a handler reads or
changes anything.

- Permissions: `check`, `read`, `write`, `send`, `admin`; `read` implies `check`, nothing else
  implies anything.
- Senders: sender ids (normalised as everywhere: `shared.domain.sender`), `group:<name>` (every
  sender whose program names that group, and the group's own list), or `*` (all).
- The legacy `OPTOUT_ACCESS_KEYS` keys are full keys (`*`, every permission) named key1, key2...
- Two entries may share a name (a rotation: the old and the new secret both work meanwhile).
- ACS's HMAC carries no key id, so every key is tried on every request: their number is capped
  (MAX_KEYS), which also keeps the setting inside one Key Vault secret (25 KB).

Error messages name the entry (its number and name) and what is wrong, never a secret.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shared.domain.groups import InvalidGroup, parse_group
from shared.domain.sender import InvalidSender, parse_sender

MAX_KEYS = 32  # OPTOUT_ACCESS_KEYS and OPTOUT_KEYS together
MIN_KEY_BYTES = 16
ALL_SENDERS = "*"
GROUP_PREFIX = "group:"
LEGACY_NAME = "key{}"  # OPTOUT_ACCESS_KEYS's keys: key1, key2, ...
# Actors that are not keys: a key may not take their names, so the audit cannot be confused.
KEYWORD_ACTOR = "keyword"
CARRIER_ACTOR = "carrier"
RESERVED_NAMES = frozenset({KEYWORD_ACTOR, CARRIER_ACTOR})
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?")
_FIELDS = frozenset({"name", "key", "permissions", "senders"})


class Permission(StrEnum):
    CHECK = "check"  # POST /sms/optouts:check
    READ = "read"  # lists, export, history, as-of, report, group list, GET program; and check
    WRITE = "write"  # add, remove, import, program PUT/DELETE
    SEND = "send"  # POST /sms, delivery reports
    ADMIN = "admin"  # replays of poison and dead-lettered inbound events


IMPLIES: dict[Permission, frozenset[Permission]] = {
    Permission.READ: frozenset({Permission.CHECK}),
}


def with_implied(permissions: Iterable[Permission]) -> frozenset[Permission]:
    held = set(permissions)
    for p in list(held):
        held |= IMPLIES.get(p, frozenset())
    return frozenset(held)


class InvalidAccessKeys(ValueError):
    """OPTOUT_KEYS cannot be used; the message names the entry and the reason, no secret."""


@dataclass(frozen=True)
class Scope:
    """The senders a key may touch: `everything`, sender keys, and groups."""

    everything: bool = False
    senders: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()

    def covers_sender(self, sender_key: str, group: str | None = None) -> bool:
        """`group`: the group the sender's program names (None: none, or not read)."""
        return (
            self.everything
            or sender_key in self.senders
            or (group is not None and group in self.groups)
        )

    def covers_group(self, group: str) -> bool:
        return self.everything or group in self.groups

    def needs_program(self, sender_key: str) -> bool:
        """Whether the answer for `sender_key` depends on the group its program names."""
        return not self.everything and sender_key not in self.senders and bool(self.groups)


FULL_SCOPE = Scope(everything=True)


@dataclass(frozen=True)
class AccessKey:
    name: str
    secret: bytes = field(repr=False)
    permissions: frozenset[Permission]  # as held, implied ones included
    senders: tuple[str, ...]  # as configured (what GET /sms/access shows)
    scope: Scope

    def allows(self, permission: Permission) -> bool:
        return permission in self.permissions

    def describe(self) -> dict[str, Any]:
        """What `GET /sms/access` answers: never the secret."""
        return {
            "name": self.name,
            "permissions": sorted(str(p) for p in self.permissions),
            "senders": list(self.senders),
        }


@dataclass(frozen=True)
class KeyRing:
    """Every configured key, legacy ones first (the first key also seals page tokens)."""

    keys: tuple[AccessKey, ...]

    @property
    def secrets(self) -> tuple[bytes, ...]:
        return tuple(k.secret for k in self.keys)

    def __len__(self) -> int:
        return len(self.keys)


def full_key(name: str, secret: bytes) -> AccessKey:
    return AccessKey(name, secret, frozenset(Permission), (ALL_SENDERS,), FULL_SCOPE)


def _problem(index: int, name: str | None, reason: str) -> InvalidAccessKeys:
    who = f"entry #{index + 1}" + (f" ({name!r})" if name else "")
    return InvalidAccessKeys(f"{who}: {reason}")


def _name(index: int, raw: Any) -> str:
    if not isinstance(raw, str) or not _NAME.fullmatch(raw):
        raise _problem(
            index,
            None,
            "'name' must be 1-64 letters, digits, '.', '_' or '-', starting and ending with a "
            "letter or digit",
        )
    if raw.lower() in RESERVED_NAMES:
        raise _problem(index, raw, f"'name' may not be {raw!r}: the audit uses it for itself")
    return raw


def _secret(index: int, name: str, raw: Any) -> bytes:
    if not isinstance(raw, str):
        raise _problem(index, name, "'key' must be a base64 string")
    try:
        secret = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise _problem(index, name, "'key' is not valid base64") from None
    if len(secret) < MIN_KEY_BYTES:
        raise _problem(index, name, f"'key' is shorter than {MIN_KEY_BYTES} bytes")
    return secret


def _permissions(index: int, name: str, raw: Any) -> frozenset[Permission]:
    known = ", ".join(Permission)
    if not isinstance(raw, list) or not raw:
        raise _problem(index, name, f"'permissions' must be a non-empty array of: {known}")
    held: set[Permission] = set()
    for item in raw:
        if not isinstance(item, str) or item not in set(Permission):
            raise _problem(index, name, f"'permissions' holds an unknown permission; use {known}")
        held.add(Permission(item))
    return with_implied(held)


def parse_scope(raw: Sequence[str]) -> Scope:
    """Sender ids, `group:<name>` and `*` -> a Scope (ValueError naming what is wrong)."""
    everything, senders, groups = False, set(), set()
    for i, item in enumerate(raw):
        if not isinstance(item, str):
            raise ValueError(f"'senders' item #{i + 1} must be a string")
        if item.strip() == ALL_SENDERS:
            everything = True
        elif item.strip().lower().startswith(GROUP_PREFIX):
            try:
                groups.add(parse_group(item.strip()[len(GROUP_PREFIX) :]))
            except InvalidGroup as exc:
                raise ValueError(f"'senders' item #{i + 1}: the group name {exc}") from None
        else:
            try:
                senders.add(parse_sender(item).key)
            except InvalidSender:
                raise ValueError(
                    f"'senders' item #{i + 1} is not a sender id, 'group:<name>' or '*'"
                ) from None
    return Scope(everything, frozenset(senders), frozenset(groups))


def _entry(index: int, raw: Any) -> AccessKey:
    if not isinstance(raw, dict):
        raise _problem(index, None, "must be an object with name, key, permissions, senders")
    name = _name(index, raw.get("name"))
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise _problem(index, name, f"unknown field(s) {', '.join(unknown)}")
    secret = _secret(index, name, raw.get("key"))
    permissions = _permissions(index, name, raw.get("permissions"))
    senders = raw.get("senders")
    if not isinstance(senders, list) or not senders:
        raise _problem(index, name, "'senders' must be a non-empty array ('*' for every sender)")
    try:
        scope = parse_scope(senders)
    except ValueError as exc:
        raise _problem(index, name, str(exc)) from None
    return AccessKey(name, secret, permissions, tuple(s.strip() for s in senders), scope)


def parse_keyring(raw: str, legacy: Sequence[bytes] = ()) -> KeyRing:
    """The keys of OPTOUT_ACCESS_KEYS (`legacy`, already decoded) and OPTOUT_KEYS (`raw`, a JSON
    array; empty: none). InvalidAccessKeys says what makes OPTOUT_KEYS unusable."""
    keys = [full_key(LEGACY_NAME.format(i + 1), s) for i, s in enumerate(legacy)]
    if raw.strip():
        try:
            entries = json.loads(raw)
        except (ValueError, RecursionError):
            raise InvalidAccessKeys("is not valid JSON (expected an array of keys)") from None
        if not isinstance(entries, list):
            raise InvalidAccessKeys("must be a JSON array of {name, key, permissions, senders}")
        keys += [_entry(i, e) for i, e in enumerate(entries)]
    if len(keys) > MAX_KEYS:
        raise InvalidAccessKeys(
            f"holds {len(keys)} keys with OPTOUT_ACCESS_KEYS; at most {MAX_KEYS} are allowed "
            "(every key is tried on every request)"
        )
    owner: dict[bytes, str] = {}
    for key in keys:
        first = owner.setdefault(key.secret, key.name)
        if first != key.name:
            raise InvalidAccessKeys(
                f"the same key material is configured under two names ({first!r} and "
                f"{key.name!r}): the audit could not tell who called"
            )
    return KeyRing(tuple(keys))
