"""`GET /health` (anonymous): 200 when the service can serve; 503 when table storage is
unreachable or a setting is unusable (OPTOUT_KEYS included), naming the setting and why (never
its value)."""

from __future__ import annotations

import logging
from typing import Any

from shared.api.pipeline import NO_KEY, Call, Endpoint
from shared.api.wire import ApiResponse
from shared.domain.model import StorageUnavailable
from shared.platform.settings import STORAGE_CONNECTION, SettingsError

log = logging.getLogger(__name__)


def health(call: Call) -> ApiResponse:
    problems: list[dict[str, Any]] = [
        {"setting": p.setting, "problem": p.reason}
        for p in (*call.services.settings().health, *call.services.access_problems())
    ]
    storage = "reachable"
    try:
        call.services.ping()
    except StorageUnavailable as exc:
        log.error("Health check: table storage unreachable: %s", exc)
        storage = "unreachable"
    except SettingsError as exc:  # no storage connection configured
        storage = "not configured"
        problems.append({"setting": STORAGE_CONNECTION, "problem": str(exc)})
    healthy = storage == "reachable" and not problems
    body: dict[str, Any] = {"status": "healthy" if healthy else "unhealthy", "storage": storage}
    if problems:
        body["settings"] = problems
    return ApiResponse(200 if healthy else 503, body)


ENDPOINTS = [
    Endpoint(
        name="health",
        handler=health,
        permission=NO_KEY,
        limit_body=False,
    )
]
