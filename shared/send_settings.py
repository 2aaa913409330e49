"""Settings of the send endpoint (`POST /sms`), read from environment variables.

Every name here is in the README's configuration table. The timeouts bound a send's worst case:
opt-out check + connect + read = 5 + 5 + 20 = 30 s by default, far below the Functions HTTP
limit (230 s) and the official clients' own timeouts. The gateway does not retry a failed
forwarding call itself: the clients' SDKs retry 5xx answers with the same body, so the same
repeatability values, which ACS uses to send each message at most once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from shared.settings import SettingsError, _bool

DEFAULT_CHECK_TIMEOUT = 5.0
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 20.0


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
class SendSettings:
    dry_run: bool = False
    check_timeout: float = DEFAULT_CHECK_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SendSettings:
        env = os.environ if env is None else env
        return cls(
            dry_run=_bool("SEND_DRY_RUN", env.get("SEND_DRY_RUN"), False),
            check_timeout=_seconds(
                "SEND_CHECK_TIMEOUT_SECONDS",
                env.get("SEND_CHECK_TIMEOUT_SECONDS"),
                DEFAULT_CHECK_TIMEOUT,
            ),
            connect_timeout=_seconds(
                "SEND_CONNECT_TIMEOUT_SECONDS",
                env.get("SEND_CONNECT_TIMEOUT_SECONDS"),
                DEFAULT_CONNECT_TIMEOUT,
            ),
            read_timeout=_seconds(
                "SEND_READ_TIMEOUT_SECONDS",
                env.get("SEND_READ_TIMEOUT_SECONDS"),
                DEFAULT_READ_TIMEOUT,
            ),
        )
