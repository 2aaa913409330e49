"""`GET /sms/access?api-version=...` (signed by any key): what the calling key may do.

    {"name": "crm", "permissions": ["check", "read"], "senders": ["+18005550100", "group:brand1"]}

Permissions sorted, implied ones listed (`read` brings `check`); senders as configured (`["*"]`:
every sender). Never key material. The console and the CLI show it; docs/access.md.
"""

from __future__ import annotations

from shared.api.pipeline import ANY_KEY, Call, Endpoint
from shared.api.wire import API_VERSIONS, ApiResponse


def describe(call: Call) -> ApiResponse:
    assert call.key is not None  # a signed endpoint
    return ApiResponse(200, call.key.describe())


ENDPOINTS = [
    Endpoint(
        name="sms_access",
        handler=describe,
        permission=ANY_KEY,
        limit_body=False,
        api_versions=API_VERSIONS,
    )
]
