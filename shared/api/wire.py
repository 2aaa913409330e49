"""ACS's wire format shared by every endpoint: the request and response values, error shapes
(ACS error object, ASP.NET problem details), JSON bodies and case-insensitive property names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The Opt-Out Management API's versions (ACS's api-version query parameter).
API_VERSIONS = frozenset(
    {
        "2024-12-10-preview",
        "2025-05-29-preview",
        "2025-08-01-preview",
        "2025-09-17",
        "2026-01-23",
    }
)
PROBLEM_TYPE = "https://tools.ietf.org/html/rfc9110#section-15.5.1"


@dataclass(frozen=True)
class ApiRequest:
    method: str
    url: str
    headers: Mapping[str, str]  # case-insensitive lookup by lower-case name
    params: Mapping[str, str]
    body: bytes
    route_params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # a body sent as is (CSV, NDJSON), instead of `body` as JSON
    media_type: str = "application/json"

    def json_bytes(self) -> bytes:
        return b"" if self.body is None else json.dumps(self.body).encode("utf-8")

    def payload(self) -> bytes:
        return self.raw if self.raw is not None else self.json_bytes()


def error(status: int, code: str, message: str, **headers: str) -> ApiResponse:
    return ApiResponse(status, {"error": {"code": code, "message": message}}, dict(headers))


def validation_problem(errors: dict[str, list[str]]) -> ApiResponse:
    return ApiResponse(
        400,
        {
            "type": PROBLEM_TYPE,
            "title": "One or more validation errors occurred.",
            "status": 400,
            "errors": errors,
        },
    )


def storage_unavailable() -> ApiResponse:
    return error(
        503,
        "ServiceUnavailable",
        "Opt-out storage is temporarily unavailable. The request can be retried safely.",
        **{"Retry-After": "5"},
    )


def parse_json_object(body: bytes) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None, {"$": ["The request body is not valid JSON."]}
    if not isinstance(data, dict):
        return None, {"$": ["The request body must be a JSON object."]}
    return data, {}


def get_field(obj: Mapping[str, Any], name: str) -> tuple[bool, Any]:
    """Property lookup that ignores case, as ASP.NET's model binding does."""
    if name in obj:
        return True, obj[name]
    lowered = name.lower()
    for key, value in obj.items():
        if key.lower() == lowered:
            return True, value
    return False, None
