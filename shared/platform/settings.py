"""Application settings, read from environment variables.

Azure Functions turns app settings (and `local.settings.json` locally) into environment
variables, so this module is the one place that knows their names. Every name here is
documented in docs/configuration.md and provided by `infra/`.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace

STORAGE_CONNECTION = "AzureWebJobsStorage"

DEFAULT_OPTOUT_TABLE = "OptOuts"
DEFAULT_HISTORY_TABLE = "OptOutHistory"
DEFAULT_PROGRAMS_TABLE = "SenderPrograms"
DEFAULT_GROUPS_TABLE = "GroupOptOuts"
DEFAULT_MIRROR_TABLE = "OptOutMirror"
DEFAULT_MAX_BODY_BYTES = 64 * 1024
DEFAULT_CLOCK_SKEW_SECONDS = 15 * 60

# The send endpoint's bounds: opt-out check + connect + read = 30 s at most by default.
DEFAULT_SEND_CHECK_TIMEOUT = 5.0
DEFAULT_SEND_CONNECT_TIMEOUT = 5.0
DEFAULT_SEND_READ_TIMEOUT = 20.0

DEFAULT_BRAND = "Our messages"
DEFAULT_HELP_CONTACT = "our support team"


# What Azure leaves in an app setting while a Key Vault reference cannot be resolved yet.
KEY_VAULT_REFERENCE = "@Microsoft.KeyVault("

ACCESS_KEYS = "OPTOUT_ACCESS_KEYS"
# Named, scoped keys: a JSON array (shared/domain/access.py parses it; docs/access.md).
KEYS = "OPTOUT_KEYS"
MAX_BODY_BYTES = "OPTOUT_MAX_BODY_BYTES"
CLOCK_SKEW_SECONDS = "OPTOUT_CLOCK_SKEW_SECONDS"
ACS_CONNECTION_STRING = "ACS_CONNECTION_STRING"
# The settings the HTTP API cannot serve without; keyword events need none of them (each part
# checks only what it uses: a broken API key must never stop a STOP).
API_SETTINGS = frozenset({ACCESS_KEYS, KEYS, MAX_BODY_BYTES, CLOCK_SKEW_SECONDS})
SEND_DRY_RUN = "SEND_DRY_RUN"
SEND_CHECK_TIMEOUT = "SEND_CHECK_TIMEOUT_SECONDS"
SEND_CONNECT_TIMEOUT = "SEND_CONNECT_TIMEOUT_SECONDS"
SEND_READ_TIMEOUT = "SEND_READ_TIMEOUT_SECONDS"
# What POST /sms needs besides the API's: an unusable one refuses sends (500), never guesses
# (a misread SEND_DRY_RUN must not send for real).
SEND_SETTINGS = frozenset(
    {
        SEND_DRY_RUN,
        SEND_CHECK_TIMEOUT,
        SEND_CONNECT_TIMEOUT,
        SEND_READ_TIMEOUT,
        ACS_CONNECTION_STRING,
    }
)


class SettingsError(ValueError):
    """A setting is present but unusable, for the part that needs it."""


@dataclass(frozen=True)
class SettingProblem:
    """Which setting is unusable and why; never its value (it may be a secret)."""

    setting: str
    reason: str

    def __str__(self) -> str:
        return f"{self.setting}: {self.reason}"


class _Reader:
    """Reads settings from the environment, recording problems instead of raising: an unusable
    value falls back to the default and is reported (health, start-up log, the part using it)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[SettingProblem] = []

    def problem(self, name: str, reason: str) -> None:
        self.problems.append(SettingProblem(name, reason))

    def raw(self, name: str) -> str:
        value = self.env.get(name) or ""
        if value.strip().startswith(KEY_VAULT_REFERENCE):
            self.problem(
                name,
                "is an unresolved Key Vault reference: the app cannot read the secret (yet); "
                "check the secret exists and the app's identity may read it",
            )
            return ""
        return value

    def text(self, name: str, default: str = "") -> str:
        return self.raw(name) or default

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name).strip().lower()
        if value in {"1", "true", "yes", "on"}:
            return True
        if value in {"0", "false", "no", "off"}:
            return False
        if value:
            self.problem(name, f"expected true or false; using the default ({default})")
        return default

    def integer(self, name: str, default: int, minimum: int) -> int:
        value = self.raw(name).strip()
        if not value:
            return default
        if not value.lstrip("-").isdigit():
            self.problem(name, f"expected an integer; using the default ({default})")
            return default
        if int(value) < minimum:
            self.problem(name, f"must be at least {minimum}; using the default ({default})")
            return default
        return int(value)

    def seconds(self, name: str, default: float) -> float:
        value = self.raw(name).strip()
        if not value:
            return default
        try:
            seconds = float(value)
        except ValueError:
            seconds = -1.0
        if not 0.1 <= seconds <= 120:  # also refuses nan
            self.problem(name, f"expected seconds from 0.1 to 120; using the default ({default})")
            return default
        return seconds

    def access_keys(self, name: str) -> tuple[bytes, ...]:
        try:
            return _decode_keys(self.raw(name))
        except SettingsError as exc:
            self.problem(name, str(exc))
            return ()

    def acs_connection_string(self, name: str) -> str:
        value = self.raw(name).strip()
        if value:
            try:
                parse_acs_connection_string(value)
            except SettingsError as exc:
                self.problem(name, f"{exc}; replies cannot be sent")
        return value


def parse_acs_connection_string(conn: str) -> tuple[str, str]:
    """(endpoint, access key) of `endpoint=...;accesskey=...`."""
    parts: dict[str, str] = {}
    for item in conn.split(";"):
        name, sep, value = item.partition("=")
        if sep:
            parts[name.strip().lower()] = value.strip()
    endpoint, key = parts.get("endpoint", ""), parts.get("accesskey", "")
    if not endpoint or not key:
        raise SettingsError("must be 'endpoint=...;accesskey=...'")
    return endpoint, key


def _decode_keys(raw: str) -> tuple[bytes, ...]:
    keys: list[bytes] = []
    for i, part in enumerate(p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            key = base64.b64decode(part, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SettingsError(f"key #{i + 1} is not valid base64") from exc
        if len(key) < 16:
            raise SettingsError(f"key #{i + 1} is shorter than 16 bytes")
        keys.append(key)
    return tuple(keys)


@dataclass(frozen=True)
class Settings:
    access_keys: tuple[bytes, ...]
    # OPTOUT_KEYS as set (a secret: never logged); parsed and checked by `runtime.keyring()`.
    keys_json: str = field(default="", repr=False)
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
    groups_table: str = DEFAULT_GROUPS_TABLE
    mirror_table: str = DEFAULT_MIRROR_TABLE
    send_dry_run: bool = False
    send_check_timeout: float = DEFAULT_SEND_CHECK_TIMEOUT
    send_connect_timeout: float = DEFAULT_SEND_CONNECT_TIMEOUT
    send_read_timeout: float = DEFAULT_SEND_READ_TIMEOUT
    # Unusable settings, each replaced by its default above; see `require` and `health`.
    problems: tuple[SettingProblem, ...] = field(default=(), compare=False)

    @property
    def replies_enabled(self) -> bool:
        return bool(self.acs_connection_string or self.acs_endpoint)

    def require(self, names: Collection[str]) -> None:
        """Raise SettingsError naming the unusable ones among `names` (what a part needs)."""
        found = [p for p in self.problems if p.setting in names]
        if found:
            raise SettingsError("; ".join(str(p) for p in found))

    @property
    def health(self) -> tuple[SettingProblem, ...]:
        """What keeps the service from serving as configured: unusable settings, and access
        keys that are missing (the API then refuses every request)."""
        if (
            self.access_keys
            or self.keys_json.strip()
            or any(p.setting in (ACCESS_KEYS, KEYS) for p in self.problems)
        ):
            return self.problems
        missing = SettingProblem(
            ACCESS_KEYS, f"is not set, nor is {KEYS}: every API request is refused (401)"
        )
        return (*self.problems, missing)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Never raises: unusable values are recorded in `problems` (name and reason only)."""
        r = _Reader(os.environ if env is None else env)
        settings = cls(
            access_keys=r.access_keys("OPTOUT_ACCESS_KEYS"),
            keys_json=r.raw(KEYS),
            optout_table=r.text("OPTOUT_TABLE_NAME", DEFAULT_OPTOUT_TABLE),
            history_table=r.text("OPTOUT_HISTORY_TABLE_NAME", DEFAULT_HISTORY_TABLE),
            programs_table=r.text("SENDER_PROGRAMS_TABLE_NAME", DEFAULT_PROGRAMS_TABLE),
            groups_table=r.text("GROUP_OPTOUTS_TABLE_NAME", DEFAULT_GROUPS_TABLE),
            mirror_table=r.text("OPTOUT_MIRROR_TABLE_NAME", DEFAULT_MIRROR_TABLE),
            max_body_bytes=r.integer("OPTOUT_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, 1024),
            clock_skew_seconds=r.integer(
                "OPTOUT_CLOCK_SKEW_SECONDS", DEFAULT_CLOCK_SKEW_SECONDS, 1
            ),
            acs_connection_string=r.acs_connection_string("ACS_CONNECTION_STRING"),
            acs_endpoint=r.text("ACS_ENDPOINT").strip(),
            reply_brand=r.text("REPLY_BRAND", DEFAULT_BRAND),
            reply_help_contact=r.text("REPLY_HELP_CONTACT", DEFAULT_HELP_CONTACT),
            reply_optout_text=r.text("REPLY_OPTOUT_TEXT"),
            reply_optin_text=r.text("REPLY_OPTIN_TEXT"),
            reply_help_text=r.text("REPLY_HELP_TEXT"),
            plain_language_optout=r.boolean("PLAIN_LANGUAGE_OPTOUT", True),
            send_dry_run=r.boolean("SEND_DRY_RUN", False),
            send_check_timeout=r.seconds("SEND_CHECK_TIMEOUT_SECONDS", DEFAULT_SEND_CHECK_TIMEOUT),
            send_connect_timeout=r.seconds(
                "SEND_CONNECT_TIMEOUT_SECONDS", DEFAULT_SEND_CONNECT_TIMEOUT
            ),
            send_read_timeout=r.seconds("SEND_READ_TIMEOUT_SECONDS", DEFAULT_SEND_READ_TIMEOUT),
        )
        return replace(settings, problems=tuple(r.problems))
