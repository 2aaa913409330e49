"""Unit tests for shared.send_settings: the send endpoint's switches and timeouts."""

from __future__ import annotations

import pytest

from shared.send_settings import SendSettings
from shared.settings import SettingsError


def test_defaults_bound_a_send_to_30_seconds() -> None:
    s = SendSettings.from_env({})
    assert s.dry_run is False
    assert s.check_timeout + s.connect_timeout + s.read_timeout == 30


def test_values_are_read() -> None:
    s = SendSettings.from_env(
        {
            "SEND_DRY_RUN": "true",
            "SEND_CHECK_TIMEOUT_SECONDS": "2.5",
            "SEND_CONNECT_TIMEOUT_SECONDS": "3",
            "SEND_READ_TIMEOUT_SECONDS": "10",
        }
    )
    assert (s.dry_run, s.check_timeout, s.connect_timeout, s.read_timeout) == (True, 2.5, 3, 10)


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
        SendSettings.from_env({name: value})
