"""`GET /deliveryReports/{outgoingMessageId}?api-version=V`: ACS's delivery report of a message.

Same HMAC keys and request-level refusals as every endpoint (the pipeline: 400 for the
api-version, 401). Then, in this order:

1. a report this service kept (the `sms-delivery-reports` queue) -> 200, answered here;
2. a dry-run id (`DryRun_...`) -> 200 for a message the dry run answered (status `Delivered`,
   details saying nothing was sent), else 404; never asked of ACS, which never saw it;
3. anything else -> forwarded to ACS with the service's credentials, as `POST /sms` forwards,
   and ACS's 200 `DeliveryReport` or 404 `ErrorResponse` passed on as it came. ACS unreachable
   or 503: 503 with Retry-After; ACS refusing the credentials: 502
   `UpstreamAuthenticationFailed`; no answer in time: 504; another 4xx: ACS's answer as it came.
   With no ACS resource configured: 404.

Needs a key with `send` (as `POST /sms`). The request names no sender, so the key's sender scope
is checked on the answer: a report of another sender's message is refused (403
`SenderOutOfScope`), whoever answered it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from shared.api.pipeline import Call, Endpoint, Target, in_scope
from shared.api.wire import ApiResponse, error
from shared.domain.access import Permission
from shared.domain.delivery import MAX_MESSAGE_ID_LENGTH, DeliveryReport, DrySend
from shared.domain.model import UpstreamFailure
from shared.domain.sender import InvalidSender, parse_sender
from shared.platform.settings import (
    ACS_CONNECTION_STRING,
    SEND_CONNECT_TIMEOUT,
    SEND_READ_TIMEOUT,
)
from shared.sending.records import DRY_RUN_PREFIX, UpstreamError

log = logging.getLogger(__name__)

DELIVERY_REPORT_API_VERSIONS = frozenset({"2025-08-01-preview", "2026-01-23"})
# `messagingConnectPartnerMessageId` is in the DeliveryReport of these versions only.
PARTNER_ID_VERSIONS = frozenset({"2026-01-23"})
NOT_FOUND_TYPE = "https://tools.ietf.org/html/rfc9110#section-15.5.5"
DRY_RUN_DETAILS = "Dry run (SEND_DRY_RUN=true): this message was not sent."
RETRY_AFTER_SECONDS = "5"
FORWARD_SETTINGS = frozenset({ACS_CONNECTION_STRING, SEND_CONNECT_TIMEOUT, SEND_READ_TIMEOUT})

_FAILURES = {
    UpstreamFailure.UNREACHABLE: (
        503,
        "ServiceUnavailable",
        "ACS could not be reached to ask for the delivery report; retry.",
    ),
    UpstreamFailure.UNAVAILABLE: (
        503,
        "ServiceUnavailable",
        "ACS is unavailable; retry.",
    ),
    UpstreamFailure.TIMEOUT: (504, "GatewayTimeout", "ACS did not answer in time; retry."),
    UpstreamFailure.SERVER_ERROR: (502, "BadGateway", "ACS failed to answer."),
    UpstreamFailure.BAD_ANSWER: (502, "BadGateway", "ACS's answer could not be read."),
    UpstreamFailure.AUTH_FAILED: (
        502,
        "UpstreamAuthenticationFailed",
        "ACS refused this service's credentials (check ACS_CONNECTION_STRING or the managed "
        "identity's role). Your own key was accepted.",
    ),
}


def report_to_wire(report: DeliveryReport, api_version: str) -> dict[str, Any]:
    """ACS's `DeliveryReport` (optional properties only when they have a value)."""
    body: dict[str, Any] = {
        "messageId": report.message_id,
        "from": report.sender,
        "to": report.recipient,
        "deliveryStatus": str(report.status),
    }
    if report.details:
        body["deliveryStatusDetails"] = report.details
    body["deliveryAttempts"] = [
        {
            "timestamp": a.timestamp.isoformat(),
            "segmentsSucceeded": a.segments_succeeded,
            "segmentsFailed": a.segments_failed,
        }
        for a in report.attempts
    ]
    body["receivedTimestamp"] = report.received_at.isoformat()
    if report.tag:
        body["tag"] = report.tag
    if report.partner_message_id and api_version in PARTNER_ID_VERSIONS:
        body["messagingConnectPartnerMessageId"] = report.partner_message_id
    return body


def dry_send_to_wire(send: DrySend) -> dict[str, Any]:
    body: dict[str, Any] = {
        "messageId": send.message_id,
        "from": send.sender,
        "to": send.recipient,
        "deliveryStatus": "Delivered",
        "deliveryStatusDetails": DRY_RUN_DETAILS,
        "deliveryAttempts": [],
        "receivedTimestamp": send.sent_at.isoformat(),
    }
    if send.tag:
        body["tag"] = send.tag
    return body


def not_found() -> ApiResponse:
    """ACS's 404 `ErrorResponse` (problem details)."""
    return ApiResponse(404, {"type": NOT_FOUND_TYPE, "title": "Not Found", "status": 404})


def _failure(exc: UpstreamError) -> ApiResponse:
    if exc.kind is UpstreamFailure.REFUSED:  # another 4xx: ACS's answer as it came
        return ApiResponse(exc.status or 400, _json_or_none(exc.body))
    status, code, message = _FAILURES[exc.kind]
    if exc.status:
        message = f"{message} (ACS answered HTTP {exc.status}.)"
    headers = {k: v for k, v in exc.headers.items() if k.lower() == "retry-after"}
    if status == 503 and not headers:
        headers["Retry-After"] = RETRY_AFTER_SECONDS
    return error(status, code, message, **headers)


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {"error": {"code": "UpstreamRefused", "message": "ACS refused the request."}}


def out_of_scope(call: Call, sender: object) -> ApiResponse | None:
    """403 SenderOutOfScope unless the calling key may act for the report's sender (`from`)."""
    key = call.key
    if key is None or key.scope.everything:
        return None
    try:
        target = Target(sender=parse_sender(sender))
    except InvalidSender:
        target = None
    if target is not None and in_scope(key, target, call.services):
        return None
    log.warning("Refused: key %s may not read this sender's delivery report", key.name)
    return error(
        403,
        "SenderOutOfScope",
        f"The key '{key.name}' may not act for this sender: it is outside the key's senders.",
    )


def get_report(call: Call) -> ApiResponse:
    message_id = call.request.route_params.get("outgoingMessageId", "")
    version = call.request.params.get("api-version", "").split(",")[0]
    if not message_id or len(message_id) > MAX_MESSAGE_ID_LENGTH:
        return not_found()  # no message has such an id
    reports = call.services.delivery_reports()
    kept = reports.get_report(message_id)
    if kept is not None:
        return out_of_scope(call, kept.sender) or ApiResponse(200, report_to_wire(kept, version))
    if message_id.startswith(DRY_RUN_PREFIX):
        send = reports.get_dry_send(message_id)
        if send is None:
            return not_found()
        return out_of_scope(call, send.sender) or ApiResponse(200, dry_send_to_wire(send))
    call.services.settings().require(FORWARD_SETTINGS)  # unusable: 500, never a guess
    upstream = call.services.delivery_upstream()
    if upstream is None:  # no ACS resource to ask
        return not_found()
    try:
        answer = upstream.get(message_id, version)
    except UpstreamError as exc:
        return _failure(exc)
    if answer.status == 200:
        sender = answer.body.get("from") if isinstance(answer.body, dict) else None
        if refusal := out_of_scope(call, sender):
            return refusal
    return ApiResponse(answer.status, answer.body)


ENDPOINTS = [
    Endpoint(
        name="delivery_report",
        handler=get_report,
        permission=Permission.SEND,
        limit_body=False,
        api_versions=DELIVERY_REPORT_API_VERSIONS,
    )
]
