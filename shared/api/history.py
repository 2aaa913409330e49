"""`GET /sms/senders/{sender}/history[?recipient=&pageSize=&pageToken=]`: the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.api.pipeline import Call, Endpoint
from shared.api.wire import ApiResponse, validation_problem
from shared.domain.model import HistoryRecord, InvalidPageToken
from shared.domain.phone import InvalidPhoneNumber, PhoneNumber, parse_e164
from shared.domain.sender import InvalidSender, SenderId, parse_sender
from shared.evidence.asof import effective_at

MAX_PAGE_SIZE = 1000


def history_to_wire(record: HistoryRecord) -> dict[str, Any]:
    return {
        "recipient": record.recipient,
        "action": record.action,
        "source": record.source,
        "outcome": record.outcome,
        "eventTime": record.event_at.isoformat(),
        "recordedAt": record.recorded_at.isoformat() if record.recorded_at else None,
        "messageId": record.message_id,
        "keyword": record.keyword or None,
        "language": record.language,
        "replyStatus": record.reply_status,
        "replySentAt": _iso(record.reply_sent_at),
        "effectiveAt": _iso(effective_at(record)),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _number(raw: str, name: str, errors: dict[str, list[str]]) -> PhoneNumber | None:
    try:
        return parse_e164(raw)
    except InvalidPhoneNumber:
        errors[name] = [f"Invalid {name} phone number format: E.164."]
        return None


def _sender(raw: str, errors: dict[str, list[str]]) -> SenderId | None:
    try:
        return parse_sender(raw)
    except InvalidSender as exc:
        errors["sender"] = [f"Invalid sender: {exc}"]
        return None


def handle(call: Call) -> ApiResponse:
    params = call.request.params
    errors: dict[str, list[str]] = {}
    sender = _sender(call.request.route_params.get("sender", ""), errors)
    recipient = (
        _number(params["recipient"], "recipient", errors) if params.get("recipient") else None
    )
    size = params.get("pageSize", "100")
    if not (size.isascii() and size.isdigit() and 1 <= int(size) <= MAX_PAGE_SIZE):
        errors["pageSize"] = [f"Must be a whole number from 1 to {MAX_PAGE_SIZE}."]
    if errors or sender is None:
        return validation_problem(errors)
    token = params.get("pageToken") or None
    try:
        rows, nxt = call.services.history().history_page(
            sender, recipient, page_size=int(size), token=token
        )
    except InvalidPageToken:
        return validation_problem({"pageToken": ["Invalid page token."]})
    return ApiResponse(200, {"value": [history_to_wire(r) for r in rows], "nextPageToken": nxt})


ENDPOINTS = [
    Endpoint(
        name="sender_history",
        route="sms/senders/{sender}/history",
        methods=("GET",),
        handler=handle,
        limit_body=False,
    )
]
