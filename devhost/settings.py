"""Configuration the real Functions host reads: `local.settings.json` and `host.json`.

- `local.settings.json` (`Values`) becomes environment variables, but a variable already set in
  the environment wins, as with `func start`. An encrypted file is refused.
- `host.json` gives the HTTP route prefix and the queue trigger options. As in the real host, an
  environment variable `AzureFunctionsJobHost__<path>` (for example
  `AzureFunctionsJobHost__extensions__queues__batchSize`) overrides the value at that path.
  Keys are matched case-insensitively, as the host's configuration binder does.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOCAL_SETTINGS = "local.settings.json"
HOST_JSON = "host.json"
HOST_OVERRIDE_PREFIX = "AzureFunctionsJobHost__"
DEFAULT_ROUTE_PREFIX = "api"
DEFAULT_PORT = 7071


class ConfigError(ValueError):
    """A configuration file or setting is unusable; the message says which and why."""


@dataclass(frozen=True)
class LocalSettings:
    values: dict[str, str] = field(default_factory=dict)
    local_http_port: int | None = None


def _read_json_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`, None when there is no such file; ConfigError otherwise."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    return data


def load_local_settings(script_root: Path) -> LocalSettings:
    """Read `local.settings.json` from the script root; an absent file means no settings."""
    path = Path(script_root) / LOCAL_SETTINGS
    data = _read_json_object(path)
    if data is None:
        return LocalSettings()
    if _ci_get(data, "IsEncrypted") is True:
        raise ConfigError(
            f"{path} is encrypted (IsEncrypted: true). The local host cannot decrypt it: "
            "run `func settings decrypt` where Core Tools are available, or recreate it from "
            "local.settings.sample.json."
        )
    raw_values = _ci_get(data, "Values") or {}
    if not isinstance(raw_values, dict):
        raise ConfigError(f"{path}: 'Values' must be an object")
    values = {str(k): _as_setting(v) for k, v in raw_values.items()}
    port: int | None = None
    host = _ci_get(data, "Host")
    if isinstance(host, dict):
        raw_port = _ci_get(host, "LocalHttpPort")
        if raw_port not in (None, ""):
            try:
                port = int(raw_port)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{path}: Host.LocalHttpPort must be a port number") from exc
    return LocalSettings(values=values, local_http_port=port)


def _as_setting(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def apply_settings(
    values: Mapping[str, str], environ: MutableMapping[str, str] | None = None
) -> list[str]:
    """Copy settings into the environment where not already set; return the names applied."""
    env = os.environ if environ is None else environ
    applied: list[str] = []
    for name, value in values.items():
        if name not in env:
            env[name] = value
            applied.append(name)
    return applied


# ---------------------------------------------------------------------------------------------
# host.json


@dataclass(frozen=True)
class QueueOptions:
    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0
    max_polling_interval: float = 2.0  # the local default; one minute in Azure
    message_encoding: str = "base64"


@dataclass(frozen=True)
class HostConfig:
    route_prefix: str = DEFAULT_ROUTE_PREFIX
    queues: QueueOptions = field(default_factory=QueueOptions)


def _ci_get(obj: Mapping[str, Any], key: str) -> Any:
    if key in obj:
        return obj[key]
    low = key.lower()
    for k, v in obj.items():
        if isinstance(k, str) and k.lower() == low:
            return v
    return None


def _ci_set(obj: dict[str, Any], path: list[str], value: Any) -> None:
    node = obj
    for part in path[:-1]:
        existing = next((k for k in node if k.lower() == part.lower()), None)
        if existing is None or not isinstance(node[existing], dict):
            existing = existing or part
            node[existing] = {}
        node = node[existing]
    last = next((k for k in node if k.lower() == path[-1].lower()), path[-1])
    node[last] = value


_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,7}))?)?$")


def parse_timespan(value: Any, name: str, number_unit: float | None = None) -> float:
    """A .NET TimeSpan string (`[d.]hh:mm[:ss[.fffffff]]`) in seconds.

    `number_unit` accepts plain numbers too (seconds per unit), for settings the host documents
    as numbers (`maxPollingInterval` in milliseconds).
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if number_unit is None:
            raise ConfigError(f"host.json {name}: expected a TimeSpan string like '00:00:30'")
        return float(value) * number_unit
    if not isinstance(value, str):
        raise ConfigError(f"host.json {name}: expected a TimeSpan string like '00:00:30'")
    text = value.strip()
    if number_unit is not None and re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text) * number_unit
    m = _TIMESPAN.match(text)
    if not m:
        raise ConfigError(f"host.json {name}: {value!r} is not a TimeSpan like '00:00:30'")
    days, hours, minutes, seconds, fraction = m.groups()
    total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds or 0)
    if fraction:
        total += int(fraction) / 10 ** len(fraction)
    return float(total)


def _int_option(value: Any, name: str, minimum: int, maximum: int) -> int:
    try:
        result = int(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"host.json {name}: expected an integer, got {value!r}") from exc
    if not minimum <= result <= maximum:
        raise ConfigError(f"host.json {name}: must be between {minimum} and {maximum}")
    return result


def load_host_config(script_root: Path, environ: Mapping[str, str] | None = None) -> HostConfig:
    """Read `host.json` (optional) and apply `AzureFunctionsJobHost__...` overrides."""
    env = os.environ if environ is None else environ
    path = Path(script_root) / HOST_JSON
    data = _read_json_object(path) or {}
    for name, value in env.items():
        if name.lower().startswith(HOST_OVERRIDE_PREFIX.lower()):
            parts = [p for p in name[len(HOST_OVERRIDE_PREFIX) :].split("__") if p]
            if parts:
                _ci_set(data, parts, value)

    extensions = _ci_get(data, "extensions") or {}
    http = _ci_get(extensions, "http") or {}
    prefix = _ci_get(http, "routePrefix")
    route_prefix = DEFAULT_ROUTE_PREFIX if prefix is None else str(prefix).strip("/")

    q = _ci_get(extensions, "queues") or {}
    defaults = QueueOptions()
    batch_size = defaults.batch_size
    if (v := _ci_get(q, "batchSize")) is not None:
        batch_size = _int_option(v, "extensions.queues.batchSize", 1, 32)
    threshold = batch_size // 2
    if (v := _ci_get(q, "newBatchThreshold")) is not None:
        threshold = _int_option(v, "extensions.queues.newBatchThreshold", 0, 10_000)
    max_dequeue = defaults.max_dequeue_count
    if (v := _ci_get(q, "maxDequeueCount")) is not None:
        max_dequeue = _int_option(v, "extensions.queues.maxDequeueCount", 1, 10_000)
    visibility = defaults.visibility_timeout
    if (v := _ci_get(q, "visibilityTimeout")) is not None:
        visibility = parse_timespan(v, "extensions.queues.visibilityTimeout")
    polling = defaults.max_polling_interval
    if (v := _ci_get(q, "maxPollingInterval")) is not None:
        polling = parse_timespan(v, "extensions.queues.maxPollingInterval", number_unit=0.001)
        if polling < 0.1:
            raise ConfigError("host.json extensions.queues.maxPollingInterval: at least 100 ms")
    encoding = defaults.message_encoding
    if (v := _ci_get(q, "messageEncoding")) is not None:
        encoding = str(v).strip().lower()
        if encoding not in {"base64", "none"}:
            raise ConfigError(
                "host.json extensions.queues.messageEncoding: expected 'base64' or 'none'"
            )
    return HostConfig(
        route_prefix=route_prefix,
        queues=QueueOptions(
            batch_size=batch_size,
            new_batch_threshold=threshold,
            max_dequeue_count=max_dequeue,
            visibility_timeout=visibility,
            max_polling_interval=polling,
            message_encoding=encoding,
        ),
    )
