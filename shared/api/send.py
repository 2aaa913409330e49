"""`POST /sms?api-version=...`: ACS's send API, with the sender's opt-out list enforced.

The pipeline refuses what every endpoint refuses (413, missing/unknown api-version, 401, 415);
`send_wire` parses the body (400 naming the fields), the gateway blocks opted-out and invalid
recipients and forwards the rest in one call, and `send_wire` writes ACS's answer.
"""

from __future__ import annotations

from shared.api.pipeline import Call, Endpoint
from shared.api.send_wire import (
    SEND_API_VERSIONS,
    check_unavailable_response,
    parse_send_body,
    send_response,
)
from shared.api.wire import ApiResponse, validation_problem
from shared.gateway import OptOutCheckUnavailable


def send(call: Call) -> ApiResponse:
    # The pipeline has checked it; `a,a` is the same version given twice.
    version = call.request.params.get("api-version", "").split(",")[0]
    parsed = parse_send_body(call.request.body, version)
    if isinstance(parsed, dict):
        return validation_problem(parsed)
    try:
        outcome = call.services.send_gateway().send(parsed)
    except OptOutCheckUnavailable:
        return ApiResponse(*check_unavailable_response())
    return ApiResponse(*send_response(outcome))


ENDPOINTS = [
    Endpoint(
        name="sms_send",
        route="sms",
        methods=("POST",),
        handler=send,
        json_methods=frozenset({"POST"}),
        api_versions=SEND_API_VERSIONS,
    )
]
