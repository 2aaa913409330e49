"""Unit tests for the send endpoint's settings (shared.settings): switches and timeouts."""

from __future__ import annotations

import pytest

from shared.settings import Settings, SettingsError


def test_defaults_bound_a_send_to_30_seconds() -> None:
    s = Settings.from_env({})
    assert s.send_dry_run is False
    assert s.send_check_timeout + s.send_connect_timeout + s.send_read_timeout == 30


def test_values_are_read() -> None:
    s = Settings.from_env(
        {
            "SEND_DRY_RUN": "true",
            "SEND_CHECK_TIMEOUT_SECONDS": "2.5",
            "SEND_CONNECT_TIMEOUT_SECONDS": "3",
            "SEND_READ_TIMEOUT_SECONDS": "10",
        }
    )
    got = (s.send_dry_run, s.send_check_timeout, s.send_connect_timeout, s.send_read_timeout)
    assert got == (True, 2.5, 3, 10)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SEND_DRY_RUN", "maybe"),
        ("SEND_CHECK_TIMEOUT_SECONDS", "soon"),
        ("SEND_CHECK_TIMEOUT_SECONDS", "0"),
        ("SEND_READ_TIMEOUT_SECONDS", "121"),
        ("SEND_CONNECT_TIMEOUT_SECONDS", "nan"),
    ],
)
def test_bad_values_name_the_setting(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})
