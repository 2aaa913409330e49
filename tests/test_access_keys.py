"""OPTOUT_KEYS parsing and the scope decisions (shared/domain/access.py): what is accepted, what
makes the setting unusable and why (never echoing a key), and who is covered."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from shared.domain.access import (
    MAX_KEYS,
    InvalidAccessKeys,
    Permission,
    parse_keyring,
)

KEY = base64.b64encode(b"sixteen bytes or more, for sure").decode()
OTHER = base64.b64encode(b"another key of sixteen bytes!!").decode()
LEGACY = b"a legacy full key of 16+ bytes"


def entry(**over: Any) -> dict[str, Any]:
    return {"name": "crm", "key": KEY, "permissions": ["check"], "senders": ["*"], **over}


def parse(*entries: Any, legacy: tuple[bytes, ...] = ()) -> Any:
    return parse_keyring(json.dumps(list(entries)), legacy)


def test_a_valid_array_with_legacy_keys_first() -> None:
    ring = parse(
        entry(permissions=["read", "send"], senders=["+18005550100", "group:Brand1", "abc"]),
        legacy=(LEGACY,),
    )
    legacy, crm = ring.keys
    assert (legacy.name, legacy.permissions, legacy.senders) == (
        "key1",
        frozenset(Permission),
        ("*",),
    )
    assert crm.name == "crm"
    assert crm.permissions == {Permission.READ, Permission.CHECK, Permission.SEND}
    assert crm.senders == ("+18005550100", "group:Brand1", "abc")  # as configured
    assert crm.scope.senders == {"+18005550100", "ABC"}  # normalised as sender keys are
    assert crm.scope.groups == {"brand1"}
    assert ring.secrets == (LEGACY, base64.b64decode(KEY))
    assert crm.describe() == {
        "name": "crm",
        "permissions": ["check", "read", "send"],
        "senders": ["+18005550100", "group:Brand1", "abc"],
    }


def test_empty_means_only_the_legacy_keys() -> None:
    assert [k.name for k in parse_keyring("  ", (LEGACY, b"x" * 16)).keys] == ["key1", "key2"]
    assert len(parse_keyring("", ())) == 0


def test_two_entries_may_share_a_name_a_rotation() -> None:
    ring = parse(entry(), entry(key=OTHER))
    assert [k.name for k in ring.keys] == ["crm", "crm"]


def test_write_implies_nothing() -> None:
    (key,) = parse(entry(permissions=["write"])).keys
    assert key.allows(Permission.WRITE) and not key.allows(Permission.CHECK)
    assert not key.allows(Permission.READ)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("[{", "not valid JSON"),
        ('{"name": "crm"}', "must be a JSON array"),
        (json.dumps(["crm"]), "must be an object"),
        (json.dumps([entry(key=base64.b64encode(b"short").decode())]), "shorter than 16 bytes"),
        (json.dumps([entry(key=KEY[:-3] + "!!!")]), "not valid base64"),
        (json.dumps([entry(permissions=["check", "delete"])]), "unknown permission"),
        (json.dumps([entry(permissions=[])]), "non-empty array"),
        (json.dumps([entry(senders=[])]), "non-empty array"),
        (json.dumps([entry(senders=["+1"])]), "is not a sender id"),
        (json.dumps([entry(senders=["group:Not Valid!"])]), "the group name"),
        (json.dumps([entry(name="")]), "'name' must be"),
        (json.dumps([entry(name="keyword")]), "the audit uses it"),
        (json.dumps([entry(permission=["check"])]), "unknown field(s) permission"),
        (json.dumps([entry(), entry(name="desk")]), "under two names"),
    ],
)
def test_unusable_entries_say_why_and_never_the_key(raw: str, reason: str) -> None:
    with pytest.raises(InvalidAccessKeys) as caught:
        parse_keyring(raw, ())
    message = str(caught.value)
    assert reason in message
    assert KEY not in message and KEY[:12] not in message


def test_the_same_key_in_both_settings_is_two_names() -> None:
    with pytest.raises(InvalidAccessKeys, match="'key1' and 'crm'"):
        parse(entry(key=base64.b64encode(LEGACY).decode()), legacy=(LEGACY,))


def test_the_number_of_keys_is_capped() -> None:
    keys = [
        base64.b64encode(f"key number {i:04d} of 16+ bytes".encode()).decode() for i in range(40)
    ]
    parse(*(entry(key=k) for k in keys[: MAX_KEYS - 1]), legacy=(LEGACY,))  # exactly the cap
    with pytest.raises(InvalidAccessKeys, match=f"at most {MAX_KEYS}"):
        parse(*(entry(key=k) for k in keys[:MAX_KEYS]), legacy=(LEGACY,))


def test_scope_decisions() -> None:
    (key,) = parse(entry(senders=["+18005550100", "group:brand1"])).keys
    scope = key.scope
    assert scope.covers_sender("+18005550100")
    assert not scope.covers_sender("+18005550199")
    assert scope.covers_sender("+18005550199", group="brand1")  # its program names the group
    assert not scope.covers_sender("+18005550199", group="brand2")
    assert scope.covers_group("brand1") and not scope.covers_group("brand2")
    assert not scope.needs_program("+18005550100")  # named: no program read
    assert scope.needs_program("+18005550199")
    (everything,) = parse(entry()).keys
    assert everything.scope.covers_group("any") and not everything.scope.needs_program("x")
    (named_only,) = parse(entry(senders=["+18005550100"])).keys
    assert not named_only.scope.needs_program("+18005550199")  # no group: no read either
