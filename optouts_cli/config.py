"""Where the service is and which key signs: options, environment, connection string, or the
`local.settings.json` of the current directory (what `make run` serves with)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path

from shared.platform.settings import SettingsError, parse_acs_connection_string

DEFAULT_ENDPOINT = "http://127.0.0.1:7071"
KEYS_SETTING = "OPTOUT_ACCESS_KEYS"
LOCAL_SETTINGS = "local.settings.json"


class ConfigError(ValueError):
    """No usable endpoint or key; the message says how to give one."""


@dataclass(frozen=True)
class Target:
    endpoint: str  # scheme://host[:port], no trailing slash
    key: str  # base64 access key

    def __repr__(self) -> str:  # never print the key
        return f"Target(endpoint={self.endpoint!r}, key=***)"


def parse_connection_string(text: str) -> tuple[str, str]:
    """(endpoint, accesskey) of `endpoint=https://...;accesskey=...` (ACS's format), parsed as
    the service parses its own ACS connection string."""
    try:
        return parse_acs_connection_string(text)
    except SettingsError as exc:
        raise ConfigError("The connection string must have endpoint=...;accesskey=...") from exc


def first_key(raw: str) -> str:
    return next((k.strip() for k in raw.split(",") if k.strip()), "")


def local_settings_key(directory: Path) -> str:
    path = directory / LOCAL_SETTINGS
    if not path.is_file():
        return ""
    try:
        values = json.loads(path.read_text(encoding="utf-8-sig")).get("Values", {})
    except (OSError, ValueError, AttributeError):
        return ""
    return first_key(str(values.get(KEYS_SETTING, ""))) if isinstance(values, dict) else ""


def _check_key(key: str) -> str:
    try:
        if len(base64.b64decode(key, validate=True)) >= 16:
            return key
    except (binascii.Error, ValueError):
        pass
    raise ConfigError("The access key must be base64 (16 bytes or more), as the service's keys.")


def resolve_target(
    endpoint: str | None,
    key: str | None,
    keys: str | None,
    connection_string: str | None,
    cwd: Path | None = None,
) -> Target:
    """Options and environment first (click has merged them), then the connection string, then
    local.settings.json in the current directory; the endpoint defaults to the local host."""
    cs_endpoint, cs_key = (
        parse_connection_string(connection_string) if connection_string else ("", "")
    )
    chosen = (
        (key or "").strip()
        or first_key(keys or "")
        or cs_key
        or local_settings_key(cwd or Path.cwd())
    )
    if not chosen:
        raise ConfigError(
            "No access key: pass --key, set OPTOUT_ACCESS_KEY (or OPTOUT_ACCESS_KEYS), pass "
            "--connection-string, or run where local.settings.json is."
        )
    base = (endpoint or cs_endpoint or DEFAULT_ENDPOINT).strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ConfigError("The endpoint must start with http:// or https://")
    return Target(base, _check_key(chosen))
