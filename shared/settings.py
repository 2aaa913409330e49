"""Application settings, read from environment variables.

Azure Functions turns app settings (and `local.settings.json` locally) into environment
variables, so this module is the one place that knows their names. Every name here is
documented in the README's configuration table and provided by `infra/`.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

STORAGE_CONNECTION = "AzureWebJobsStorage"

DEFAULT_OPTOUT_TABLE = "OptOuts"
DEFAULT_HISTORY_TABLE = "OptOutHistory"
DEFAULT_PROGRAMS_TABLE = "SenderPrograms"
DEFAULT_MAX_BODY_BYTES = 64 * 1024
DEFAULT_CLOCK_SKEW_SECONDS = 15 * 60

# The send endpoint's bounds: opt-out check + connect + read = 30 s at most by default.
DEFAULT_SEND_CHECK_TIMEOUT = 5.0
DEFAULT_SEND_CONNECT_TIMEOUT = 5.0
DEFAULT_SEND_READ_TIMEOUT = 20.0

DEFAULT_BRAND = "Our messages"
DEFAULT_HELP_CONTACT = "our support team"


class SettingsError(ValueError):
    """A setting is present but unusable; raised at start so the problem is obvious."""


def _decode_keys(raw: str) -> tuple[bytes, ...]:
    keys: list[bytes] = []
    for i, part in enumerate(p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            key = base64.b64decode(part, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SettingsError(f"OPTOUT_ACCESS_KEYS: key #{i + 1} is not valid base64") from exc
        if len(key) < 16:
            raise SettingsError(f"OPTOUT_ACCESS_KEYS: key #{i + 1} is shorter than 16 bytes")
        keys.append(key)
    return tuple(keys)


def _bool(name: str, raw: str | None, default: bool) -> bool:
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name}: expected true or false")


def _int(name: str, raw: str | None, default: int, minimum: int) -> int:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}: expected an integer, got {raw!r}") from exc
    if value < minimum:
        raise SettingsError(f"{name}: must be at least {minimum}")
    return value


def _seconds(name: str, raw: str | None, default: float) -> float:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}: expected a number of seconds, got {raw!r}") from exc
    if not 0.1 <= value <= 120:
        raise SettingsError(f"{name}: must be from 0.1 to 120 seconds")
    return value


@dataclass(frozen=True)
class Settings:
    access_keys: tuple[bytes, ...]
    optout_table: str = DEFAULT_OPTOUT_TABLE
    history_table: str = DEFAULT_HISTORY_TABLE
    programs_table: str = DEFAULT_PROGRAMS_TABLE
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    clock_skew_seconds: int = DEFAULT_CLOCK_SKEW_SECONDS
    acs_connection_string: str = ""
    acs_endpoint: str = ""
    reply_brand: str = DEFAULT_BRAND
    reply_help_contact: str = DEFAULT_HELP_CONTACT
    reply_optout_text: str = ""
    reply_optin_text: str = ""
    reply_help_text: str = ""
    plain_language_optout: bool = True
    send_dry_run: bool = False
    send_check_timeout: float = DEFAULT_SEND_CHECK_TIMEOUT
    send_connect_timeout: float = DEFAULT_SEND_CONNECT_TIMEOUT
    send_read_timeout: float = DEFAULT_SEND_READ_TIMEOUT

    @property
    def replies_enabled(self) -> bool:
        return bool(self.acs_connection_string or self.acs_endpoint)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            access_keys=_decode_keys(env.get("OPTOUT_ACCESS_KEYS", "")),
            optout_table=env.get("OPTOUT_TABLE_NAME") or DEFAULT_OPTOUT_TABLE,
            history_table=env.get("OPTOUT_HISTORY_TABLE_NAME") or DEFAULT_HISTORY_TABLE,
            programs_table=env.get("SENDER_PROGRAMS_TABLE_NAME") or DEFAULT_PROGRAMS_TABLE,
            max_body_bytes=_int(
                "OPTOUT_MAX_BODY_BYTES",
                env.get("OPTOUT_MAX_BODY_BYTES"),
                DEFAULT_MAX_BODY_BYTES,
                1024,
            ),
            clock_skew_seconds=_int(
                "OPTOUT_CLOCK_SKEW_SECONDS",
                env.get("OPTOUT_CLOCK_SKEW_SECONDS"),
                DEFAULT_CLOCK_SKEW_SECONDS,
                1,
            ),
            acs_connection_string=env.get("ACS_CONNECTION_STRING", "").strip(),
            acs_endpoint=env.get("ACS_ENDPOINT", "").strip(),
            reply_brand=env.get("REPLY_BRAND") or DEFAULT_BRAND,
            reply_help_contact=env.get("REPLY_HELP_CONTACT") or DEFAULT_HELP_CONTACT,
            reply_optout_text=env.get("REPLY_OPTOUT_TEXT", ""),
            reply_optin_text=env.get("REPLY_OPTIN_TEXT", ""),
            reply_help_text=env.get("REPLY_HELP_TEXT", ""),
            plain_language_optout=_bool(
                "PLAIN_LANGUAGE_OPTOUT", env.get("PLAIN_LANGUAGE_OPTOUT"), True
            ),
            **_send_settings(env),
        )


def _send_settings(env: Mapping[str, str]) -> dict[str, Any]:
    return {
        "send_dry_run": _bool("SEND_DRY_RUN", env.get("SEND_DRY_RUN"), False),
        "send_check_timeout": _seconds(
            "SEND_CHECK_TIMEOUT_SECONDS",
            env.get("SEND_CHECK_TIMEOUT_SECONDS"),
            DEFAULT_SEND_CHECK_TIMEOUT,
        ),
        "send_connect_timeout": _seconds(
            "SEND_CONNECT_TIMEOUT_SECONDS",
            env.get("SEND_CONNECT_TIMEOUT_SECONDS"),
            DEFAULT_SEND_CONNECT_TIMEOUT,
        ),
        "send_read_timeout": _seconds(
            "SEND_READ_TIMEOUT_SECONDS",
            env.get("SEND_READ_TIMEOUT_SECONDS"),
            DEFAULT_SEND_READ_TIMEOUT,
        ),
    }
