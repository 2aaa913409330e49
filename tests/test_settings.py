"""Unit tests for shared.platform.settings: Settings.from_env with plain dicts (no process
environment)."""

from __future__ import annotations

import base64

import pytest

from shared.platform.settings import (
    API_SETTINGS,
    DEFAULT_BRAND,
    DEFAULT_CLOCK_SKEW_SECONDS,
    DEFAULT_HELP_CONTACT,
    DEFAULT_HISTORY_TABLE,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_OPTOUT_TABLE,
    DEFAULT_PROGRAMS_TABLE,
    Settings,
    SettingsError,
)


def refused(env: dict[str, str]) -> pytest.ExceptionInfo[SettingsError]:
    """An unusable setting does not stop loading: it is a problem the part using it refuses."""
    settings = Settings.from_env(env)
    assert settings == Settings.from_env({})  # every unusable value fell back to its default
    with pytest.raises(SettingsError) as info:
        settings.require(set(env))
    return info


KEY1 = bytes(range(32))
KEY2 = bytes(range(200, 232))
KEY1_B64 = base64.b64encode(KEY1).decode()
KEY2_B64 = base64.b64encode(KEY2).decode()


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s.access_keys == ()
    assert s.optout_table == DEFAULT_OPTOUT_TABLE == "OptOuts"
    assert s.history_table == DEFAULT_HISTORY_TABLE == "OptOutHistory"
    assert s.programs_table == DEFAULT_PROGRAMS_TABLE == "SenderPrograms"
    assert s.max_body_bytes == DEFAULT_MAX_BODY_BYTES == 64 * 1024
    assert s.clock_skew_seconds == DEFAULT_CLOCK_SKEW_SECONDS == 15 * 60
    assert s.acs_connection_string == ""
    assert s.acs_endpoint == ""
    assert s.reply_brand == DEFAULT_BRAND
    assert s.reply_help_contact == DEFAULT_HELP_CONTACT
    assert s.reply_optout_text == s.reply_optin_text == s.reply_help_text == ""
    assert s.plain_language_optout is True
    assert s.replies_enabled is False


def test_empty_values_fall_back_to_defaults() -> None:
    s = Settings.from_env(
        {
            "OPTOUT_TABLE_NAME": "",
            "OPTOUT_HISTORY_TABLE_NAME": "",
            "SENDER_PROGRAMS_TABLE_NAME": "",
            "OPTOUT_MAX_BODY_BYTES": " ",
            "OPTOUT_CLOCK_SKEW_SECONDS": "",
            "PLAIN_LANGUAGE_OPTOUT": "",
            "REPLY_BRAND": "",
            "REPLY_HELP_CONTACT": "",
        }
    )
    assert s == Settings.from_env({})


def test_overrides() -> None:
    s = Settings.from_env(
        {
            "OPTOUT_TABLE_NAME": "T1",
            "OPTOUT_HISTORY_TABLE_NAME": "T2",
            "SENDER_PROGRAMS_TABLE_NAME": "T3",
            "OPTOUT_MAX_BODY_BYTES": "2048",
            "OPTOUT_CLOCK_SKEW_SECONDS": "60",
            "REPLY_BRAND": "Contoso",
            "REPLY_HELP_CONTACT": "help@contoso.example",
            "REPLY_OPTOUT_TEXT": "bye",
            "REPLY_OPTIN_TEXT": "hi",
            "REPLY_HELP_TEXT": "help",
        }
    )
    assert (s.optout_table, s.history_table, s.programs_table) == ("T1", "T2", "T3")
    assert s.max_body_bytes == 2048
    assert s.clock_skew_seconds == 60
    assert (s.reply_brand, s.reply_help_contact) == ("Contoso", "help@contoso.example")
    assert (s.reply_optout_text, s.reply_optin_text, s.reply_help_text) == ("bye", "hi", "help")


# --- OPTOUT_ACCESS_KEYS -----------------------------------------------------------------------


def test_one_key() -> None:
    assert Settings.from_env({"OPTOUT_ACCESS_KEYS": KEY1_B64}).access_keys == (KEY1,)


@pytest.mark.parametrize(
    "raw",
    [
        f"{KEY1_B64},{KEY2_B64}",
        f" {KEY1_B64} , {KEY2_B64} ",
        f"{KEY1_B64},,{KEY2_B64},",
    ],
)
def test_two_keys_in_order(raw: str) -> None:
    assert Settings.from_env({"OPTOUT_ACCESS_KEYS": raw}).access_keys == (KEY1, KEY2)


@pytest.mark.parametrize("raw", ["", " ", ",", " , "])
def test_empty_keys(raw: str) -> None:
    assert Settings.from_env({"OPTOUT_ACCESS_KEYS": raw}).access_keys == ()


@pytest.mark.parametrize(
    ("raw", "index", "secret"),
    [
        ("not base64 at all!", 1, "not base64 at all!"),
        (f"{KEY1_B64},{KEY2_B64[:-1]}", 2, KEY2_B64[:-1]),  # missing padding
        (f"{KEY1_B64},{KEY2_B64}$$", 2, KEY2_B64),
        (f"{KEY1_B64},{KEY2_B64.replace('+', '-').replace('/', '_')}x", 2, KEY2_B64[:20]),
    ],
)
def test_invalid_base64_key_names_index_not_key(raw: str, index: int, secret: str) -> None:
    info = refused({"OPTOUT_ACCESS_KEYS": raw})
    message = str(info.value)
    assert "OPTOUT_ACCESS_KEYS" in message
    assert f"#{index}" in message
    assert secret not in message
    assert KEY1_B64 not in message


def test_short_key_refused() -> None:
    short = base64.b64encode(b"0123456789abcde").decode()  # 15 bytes
    info = refused({"OPTOUT_ACCESS_KEYS": f"{KEY1_B64},{short}"})
    message = str(info.value)
    assert "#2" in message
    assert "16 bytes" in message
    assert short not in message


def test_sixteen_byte_key_accepted() -> None:
    key = b"0123456789abcdef"
    raw = base64.b64encode(key).decode()
    assert Settings.from_env({"OPTOUT_ACCESS_KEYS": raw}).access_keys == (key,)


def test_settings_error_is_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


# --- PLAIN_LANGUAGE_OPTOUT --------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["true", "TRUE", " True ", "1", "yes", "on"])
def test_plain_language_true(raw: str) -> None:
    assert Settings.from_env({"PLAIN_LANGUAGE_OPTOUT": raw}).plain_language_optout is True


@pytest.mark.parametrize("raw", ["false", "FALSE", " False ", "0", "no", "off"])
def test_plain_language_false(raw: str) -> None:
    assert Settings.from_env({"PLAIN_LANGUAGE_OPTOUT": raw}).plain_language_optout is False


@pytest.mark.parametrize("raw", ["maybe", "2", "y", "tru"])
def test_plain_language_invalid(raw: str) -> None:
    refused({"PLAIN_LANGUAGE_OPTOUT": raw})


# --- integers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["abc", "1.5", "64k", "1e6"])
def test_max_body_bytes_not_an_integer(raw: str) -> None:
    info = refused({"OPTOUT_MAX_BODY_BYTES": raw})
    assert "OPTOUT_MAX_BODY_BYTES" in str(info.value)


@pytest.mark.parametrize("raw", ["1023", "0", "-1"])
def test_max_body_bytes_too_small(raw: str) -> None:
    info = refused({"OPTOUT_MAX_BODY_BYTES": raw})
    assert "OPTOUT_MAX_BODY_BYTES" in str(info.value)


def test_max_body_bytes_minimum_accepted() -> None:
    assert Settings.from_env({"OPTOUT_MAX_BODY_BYTES": "1024"}).max_body_bytes == 1024


@pytest.mark.parametrize("raw", ["0", "-5", "soon"])
def test_clock_skew_invalid(raw: str) -> None:
    info = refused({"OPTOUT_CLOCK_SKEW_SECONDS": raw})
    assert "OPTOUT_CLOCK_SKEW_SECONDS" in str(info.value)


# --- replies ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "enabled"),
    [
        ({}, False),
        ({"ACS_CONNECTION_STRING": "   "}, False),
        ({"ACS_ENDPOINT": " "}, False),
        ({"ACS_CONNECTION_STRING": "endpoint=https://x.example/;accesskey=abc"}, True),
        ({"ACS_ENDPOINT": "https://x.communication.azure.com"}, True),
        ({"ACS_CONNECTION_STRING": "endpoint=x;accesskey=y", "ACS_ENDPOINT": "https://x"}, True),
    ],
)
def test_replies_enabled(env: dict[str, str], enabled: bool) -> None:
    assert Settings.from_env(env).replies_enabled is enabled


def test_acs_values_are_stripped() -> None:
    s = Settings.from_env({"ACS_ENDPOINT": " https://x.example \n"})
    assert s.acs_endpoint == "https://x.example"


def test_from_env_reads_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTOUT_ACCESS_KEYS", KEY2_B64)
    monkeypatch.setenv("OPTOUT_TABLE_NAME", "FromProcess")
    s = Settings.from_env()
    assert s.access_keys == (KEY2,)
    assert s.optout_table == "FromProcess"


def test_settings_are_frozen() -> None:
    s = Settings.from_env({})
    with pytest.raises(AttributeError):
        s.max_body_bytes = 1  # type: ignore[misc]


def test_startup_checks_say_what_will_not_work(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from shared import runtime

    caplog.set_level("INFO")
    for name in ("OPTOUT_ACCESS_KEYS", "ACS_CONNECTION_STRING", "ACS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    runtime.reset()
    runtime.startup_checks()
    assert "OPTOUT_ACCESS_KEYS: is not set" in caplog.text
    assert "replies will be logged, not sent" in caplog.text

    caplog.clear()
    monkeypatch.setenv("OPTOUT_ACCESS_KEYS", "%%%")
    runtime.reset()
    runtime.startup_checks()
    assert "Configuration problem: OPTOUT_ACCESS_KEYS: key #1 is not valid base64" in caplog.text
    assert "keyword events keep working" in caplog.text and "%%%" not in caplog.text

    caplog.clear()
    monkeypatch.setenv("OPTOUT_ACCESS_KEYS", base64.b64encode(b"k" * 32).decode())
    monkeypatch.setenv("ACS_ENDPOINT", "https://acs.example")
    runtime.reset()
    runtime.startup_checks()
    assert caplog.text == ""
    runtime.reset()


# --- problems: each part checks only what it uses ---------------------------------------------

KEY_VAULT = "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/s/)"


@pytest.mark.parametrize(
    "name",
    ["OPTOUT_ACCESS_KEYS", "ACS_CONNECTION_STRING", "REPLY_BRAND", "OPTOUT_MAX_BODY_BYTES"],
)
def test_an_unresolved_key_vault_reference_is_a_problem_not_a_value(name: str) -> None:
    s = Settings.from_env({"OPTOUT_ACCESS_KEYS": KEY1_B64} | {name: KEY_VAULT})
    [problem] = [p for p in s.problems if p.setting == name]
    assert "unresolved Key Vault reference" in problem.reason
    assert "vault.azure.net" not in str(problem)
    assert KEY_VAULT not in repr(s)  # the reference text is never kept as a value
    with pytest.raises(SettingsError, match=name):
        s.require({name})


def test_a_broken_api_key_leaves_every_other_setting_usable() -> None:
    s = Settings.from_env(
        {
            "OPTOUT_ACCESS_KEYS": KEY_VAULT,
            "REPLY_BRAND": "Contoso",
            "ACS_ENDPOINT": "https://acs.example",
            "PLAIN_LANGUAGE_OPTOUT": "false",
        }
    )
    assert (s.reply_brand, s.acs_endpoint, s.plain_language_optout) == (
        "Contoso",
        "https://acs.example",
        False,
    )
    s.require({"REPLY_BRAND", "ACS_ENDPOINT", "PLAIN_LANGUAGE_OPTOUT"})  # the inbound part's
    with pytest.raises(SettingsError, match="OPTOUT_ACCESS_KEYS"):
        s.require(API_SETTINGS)


def test_an_unusable_plain_language_switch_fails_safe() -> None:
    s = Settings.from_env({"PLAIN_LANGUAGE_OPTOUT": "sometimes"})
    assert s.plain_language_optout is True  # honour more opt-outs, never fewer
    assert [p.setting for p in s.problems] == ["PLAIN_LANGUAGE_OPTOUT"]


def test_a_malformed_acs_connection_string_is_a_problem() -> None:
    s = Settings.from_env({"OPTOUT_ACCESS_KEYS": KEY1_B64, "ACS_CONNECTION_STRING": "x=y"})
    assert [p.setting for p in s.problems] == ["ACS_CONNECTION_STRING"]
    assert s.replies_enabled  # configured, but unusable: replies fail (and are retried)


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"OPTOUT_ACCESS_KEYS": KEY1_B64}, []),
        ({}, ["OPTOUT_ACCESS_KEYS"]),  # not set: the API refuses everyone
        ({"OPTOUT_ACCESS_KEYS": "%%%"}, ["OPTOUT_ACCESS_KEYS"]),
        (
            {"OPTOUT_ACCESS_KEYS": KEY1_B64, "OPTOUT_CLOCK_SKEW_SECONDS": "x"},
            ["OPTOUT_CLOCK_SKEW_SECONDS"],
        ),
    ],
)
def test_health_lists_what_keeps_the_service_from_serving(
    env: dict[str, str], names: list[str]
) -> None:
    assert [p.setting for p in Settings.from_env(env).health] == names


def test_an_integer_problem_never_repeats_the_value() -> None:
    s = Settings.from_env({"OPTOUT_MAX_BODY_BYTES": "secret-ish-value"})
    assert "secret-ish-value" not in str(s.problems)
