"""`GET /health` (anonymous): 200 when table storage is reachable, 503 when not."""

from __future__ import annotations

import logging

from shared.api.pipeline import Call, Endpoint
from shared.api.wire import ApiResponse
from shared.model import StorageUnavailable

log = logging.getLogger(__name__)


def health(call: Call) -> ApiResponse:
    try:
        call.services.ping()
    except StorageUnavailable as exc:
        log.error("Health check: table storage unreachable: %s", exc)
        return ApiResponse(503, {"status": "unhealthy", "storage": "unreachable"})
    return ApiResponse(200, {"status": "healthy", "storage": "reachable"})


ENDPOINTS = [
    Endpoint(
        name="health",
        route="health",
        methods=("GET",),
        handler=health,
        auth=False,
        limit_body=False,
    )
]
