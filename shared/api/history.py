"""`GET /sms/senders/{sender}/history[?recipient=&maxpagesize=]`: the audit trail, paged as
every list is (`shared.api.paging`: `maxpagesize` 1-1000, default 100, deprecated alias
`pageSize`; `{"value": [...], "nextLink": URL}`, no nextLink on the last page)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.api.paging import Page, next_link, open_page, page_size, with_next_link
from shared.api.params import phone_param, sender_param
from shared.api.pipeline import Call, Endpoint, Target
from shared.api.wire import ApiResponse, validation_problem
from shared.domain.access import Permission
from shared.domain.model import HistoryRecord, InvalidPageToken
from shared.domain.phone import PhoneNumber
from shared.evidence.asof import effective_at

DEFAULT_PAGE_SIZE = 100
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
        "actor": record.actor or None,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def target(call: Call) -> Target | ApiResponse:
    """(recipient, page) for the handler; 400 for a bad sender, recipient, size or token."""
    params = call.request.params
    errors: dict[str, list[str]] = {}
    sender = sender_param(call.request.route_params.get("sender", ""), errors)
    raw_recipient = params.get("recipient")
    recipient = phone_param(raw_recipient, "recipient", errors) if raw_recipient else None
    size = page_size(params, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, errors, legacy=True)
    if errors or sender is None:
        return validation_problem(errors)
    number = recipient.e164 if recipient else None
    scope = {"kind": "history", "sender": sender.key, "recipient": number}
    page = open_page(call, scope, size)
    if isinstance(page, ApiResponse):
        return page
    return Target(sender=sender, value=(recipient, page))


def handle(call: Call) -> ApiResponse:
    sender = call.target.sender
    assert sender is not None
    found: tuple[PhoneNumber | None, Page] = call.target.value
    recipient, page = found
    number = recipient.e164 if recipient else None
    try:
        rows, position = call.services.history().history_page(
            sender, recipient, page_size=page.size, token=page.start
        )
    except InvalidPageToken:  # a position the store did not issue (the token is ours: never)
        return validation_problem({page.token_name: ["Invalid page token."]})
    link = next_link(call, page, position, recipient=number)
    return ApiResponse(200, with_next_link({"value": [history_to_wire(r) for r in rows]}, link))


ENDPOINTS = [
    Endpoint(
        name="sender_history",
        handler=handle,
        permission=Permission.READ,
        target=target,
        limit_body=False,
    )
]
