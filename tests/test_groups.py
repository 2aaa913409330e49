from __future__ import annotations

import pytest

from shared.domain.groups import NO_GROUP, GroupMembership, InvalidGroup, parse_group


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("contoso", "contoso"),
        ("Contoso", "contoso"),
        (" contoso-alerts ", "contoso-alerts"),
        ("brand.eu_1", "brand.eu_1"),
        ("a", "a"),
        ("x" * 64, "x" * 64),
    ],
)
def test_parse_group(raw: str, name: str) -> None:
    assert parse_group(raw) == name


@pytest.mark.parametrize(
    "raw",
    [
        "",
        " ",
        "x" * 65,
        "-contoso",
        "contoso-",
        "con/toso",
        "con\\toso",
        "con#toso",
        "con?toso",
        "con toso",
        "con\x00toso",
        "contoső",
        5,
        None,
        ["contoso"],
    ],
)
def test_parse_group_rejects(raw: object) -> None:
    with pytest.raises(InvalidGroup):
        parse_group(raw)


def test_membership() -> None:
    assert GroupMembership("contoso", True).revoke_all_group == "contoso"
    assert GroupMembership("contoso", False).revoke_all_group is None
    assert GroupMembership(None, True).revoke_all_group is None
    assert NO_GROUP.revoke_all_group is None
