"""`POST /sms?api-version=...`: ACS's send API, with the sender's opt-out list enforced.

The pipeline refuses what every endpoint refuses (413, missing/unknown api-version, 401, 415);
`send_wire` parses the body (400 naming the fields), the gateway blocks opted-out and invalid
recipients and forwards the rest in one call, and the answer is built here: 202 with every item,
ACS's own 4xx as it came, or 502/503/504 with an error and every item's result.
"""

from __future__ import annotations

import json
from typing import Any

from shared.api.pipeline import Call, Endpoint, Target
from shared.api.send_wire import SEND_API_VERSIONS, parse_send_body, result_to_wire
from shared.api.wire import ApiResponse, validation_problem
from shared.domain.access import Permission
from shared.domain.model import UpstreamFailure
from shared.platform.settings import SEND_SETTINGS
from shared.sending.gateway import OptOutCheckUnavailable, SendOutcome, failure_status
from shared.sending.records import SendRequest

RETRY_AFTER_SECONDS = "5"

_FAILURE_CODES = {
    UpstreamFailure.UNREACHABLE: (
        "ServiceUnavailable",
        "ACS could not be reached: nothing was sent.",
    ),
    UpstreamFailure.UNAVAILABLE: ("ServiceUnavailable", "ACS is unavailable: nothing was sent."),
    UpstreamFailure.TIMEOUT: (
        "GatewayTimeout",
        "ACS did not answer in time: the messages may have been sent. Retrying with the same "
        "repeatability values is safe (ACS does not send a repeated request twice).",
    ),
    UpstreamFailure.SERVER_ERROR: ("BadGateway", "ACS failed: the messages were not confirmed."),
    UpstreamFailure.AUTH_FAILED: (
        "UpstreamAuthenticationFailed",
        "ACS refused this service's credentials (check ACS_CONNECTION_STRING or the managed "
        "identity's role): nothing was sent. Your own key was accepted.",
    ),
    UpstreamFailure.BAD_ANSWER: (
        "BadGateway",
        "ACS's answer could not be read: the outcome is unknown.",
    ),
}


def send_response(outcome: SendOutcome) -> tuple[int, Any, dict[str, str]]:
    """(status, JSON body, headers): 202 with one item per recipient; when forwarding failed,
    ACS's own 4xx answer as it came, or 502/503/504 with an error and every item's result."""
    items = [result_to_wire(r) for r in outcome.results]
    failure = outcome.failure
    if failure is None:
        return 202, {"value": items}, {}
    status = failure_status(failure)
    headers = {k: v for k, v in failure.headers.items() if k.lower() == "retry-after"}
    if failure.kind is UpstreamFailure.REFUSED:
        return status, _upstream_body(failure.body, failure.detail), headers
    code, message = _FAILURE_CODES[failure.kind]
    if failure.status:
        message = f"{message} (ACS answered HTTP {failure.status}.)"
    if status == 503:
        headers.setdefault("Retry-After", RETRY_AFTER_SECONDS)
    return status, {"error": {"code": code, "message": message}, "value": items}, headers


def check_unavailable_response() -> tuple[int, Any, dict[str, str]]:
    return (
        503,
        {
            "error": {
                "code": "ServiceUnavailable",
                "message": "The opt-out list could not be checked, so nothing was sent. The "
                "request can be retried safely.",
            }
        },
        {"Retry-After": RETRY_AFTER_SECONDS},
    )


def _upstream_body(body: bytes, detail: str) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {"error": {"code": "UpstreamRefused", "message": detail}}


def target(call: Call) -> Target | ApiResponse:
    # The pipeline has checked it; `a,a` is the same version given twice.
    version = call.request.params.get("api-version", "").split(",")[0]
    parsed = parse_send_body(call.request.body, version)
    if isinstance(parsed, dict):
        return validation_problem(parsed)
    return Target(sender=parsed.sender, value=parsed)


def send(call: Call) -> ApiResponse:
    parsed: SendRequest = call.target.value
    call.services.settings().require(SEND_SETTINGS)  # unusable: 500, never a guess
    try:
        outcome = call.services.send_gateway().send(parsed)
    except OptOutCheckUnavailable:
        return ApiResponse(*check_unavailable_response())
    return ApiResponse(*send_response(outcome))


ENDPOINTS = [
    Endpoint(
        name="sms_send",
        handler=send,
        permission=Permission.SEND,
        target=target,
        json_methods=frozenset({"POST"}),
        api_versions=SEND_API_VERSIONS,
    )
]
