"""The send endpoint's settings (shared.platform.settings): switches and timeouts, failing safe."""

from __future__ import annotations

import pytest

from shared.platform.settings import SEND_SETTINGS, Settings, SettingsError


def test_defaults_bound_a_send_to_30_seconds() -> None:
    s = Settings.from_env({})
    assert s.send_dry_run is False
    assert s.send_check_timeout + s.send_connect_timeout + s.send_read_timeout == 30
    s.require(SEND_SETTINGS)  # nothing unusable


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
        ("ACS_CONNECTION_STRING", "not a connection string"),
    ],
)
def test_an_unusable_value_stops_sends_and_nothing_else(name: str, value: str) -> None:
    s = Settings.from_env({name: value})
    assert [p.setting for p in s.problems] == [name]
    if len(value) > 3:
        assert value not in str(s.problems[0])  # never the value (it may be a secret)
    with pytest.raises(SettingsError, match=name):
        s.require(SEND_SETTINGS)  # POST /sms answers 500 rather than guess
    s.require({"OPTOUT_MAX_BODY_BYTES"})  # the rest of the API is not affected
