"""`POST /sms/optouts:{add|remove|check}?api-version=...`: ACS's Opt-Out Management API.

Request: `{"from": E.164, "recipients": [{"to": ...}, ...]}` (1-100); response: one item per
recipient, in request order, `to` echoed as sent, with its own status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.api.pipeline import Call, Endpoint, Target
from shared.api.wire import (
    API_VERSIONS,
    ApiResponse,
    get_field,
    parse_json_object,
    validation_problem,
)
from shared.domain.access import Permission
from shared.domain.model import ApiAction
from shared.domain.phone import InvalidPhoneNumber, PhoneNumber, parse_e164
from shared.domain.sender import InvalidSender, SenderId, parse_sender

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 100
INVALID_RECIPIENT = "Invalid recipient phone number format"


@dataclass(frozen=True)
class OptOutRequest:
    sender: SenderId
    recipients: list[str]  # `to` values exactly as sent, in request order


def _parse_sender(data: dict[str, Any], errors: dict[str, list[str]]) -> SenderId | None:
    has_from, raw_from = get_field(data, "from")
    if not has_from or raw_from is None or raw_from == "":
        errors["From"] = ["The From field is required."]
    elif not isinstance(raw_from, str):
        errors["From"] = ["The From field must be a string."]
    else:
        try:
            return parse_sender(raw_from)
        except InvalidSender as exc:
            errors["From"] = [f"Invalid sender: {exc}"]
    return None


def _parse_recipients(data: dict[str, Any], errors: dict[str, list[str]]) -> list[str]:
    has_rcpt, raw_rcpt = get_field(data, "recipients")
    if not has_rcpt or raw_rcpt is None:
        errors["Recipients"] = ["The Recipients field is required."]
        return []
    if not isinstance(raw_rcpt, list):
        errors["Recipients"] = ["The Recipients field must be an array."]
        return []
    if not 1 <= len(raw_rcpt) <= MAX_RECIPIENTS:
        errors["Recipients"] = [
            f"The Recipients field must contain between 1 and {MAX_RECIPIENTS} items."
        ]
        return []
    recipients: list[str] = []
    for i, item in enumerate(raw_rcpt):
        if not isinstance(item, dict):
            errors[f"Recipients[{i}]"] = ["Each recipient must be an object with a To field."]
            continue
        has_to, to = get_field(item, "to")
        if not has_to or to is None or to == "":
            errors[f"Recipients[{i}].To"] = ["The To field is required."]
        elif not isinstance(to, str):
            errors[f"Recipients[{i}].To"] = ["The To field must be a string."]
        else:
            recipients.append(to)
    return recipients


def parse_optout_body(body: bytes) -> OptOutRequest | ApiResponse:
    data, errors = parse_json_object(body)
    if data is None:
        return validation_problem(errors)
    sender = _parse_sender(data, errors)
    recipients = _parse_recipients(data, errors)
    if errors or sender is None:
        return validation_problem(errors)
    return OptOutRequest(sender, recipients)


def _numbers(recipients: list[str]) -> dict[str, PhoneNumber | None]:
    """Each distinct `to` as sent -> its number, or None when it is not a possible number."""
    numbers: dict[str, PhoneNumber | None] = {}
    for to in recipients:
        if to not in numbers:
            try:
                numbers[to] = parse_e164(to)
            except InvalidPhoneNumber:
                numbers[to] = None
    return numbers


def _item(action: ApiAction, to: str, number: PhoneNumber | None, opted_out: set[str]) -> dict:
    if number is None:
        return {"to": to, "httpStatusCode": 400, "errorMessage": INVALID_RECIPIENT}
    if action is ApiAction.CHECK:
        return {"to": to, "isOptedOut": number.e164 in opted_out, "httpStatusCode": 200}
    return {"to": to, "httpStatusCode": 200}


def target(call: Call) -> Target | ApiResponse:
    parsed = parse_optout_body(call.request.body)
    if isinstance(parsed, ApiResponse):
        return parsed
    return Target(sender=parsed.sender, value=parsed)


PERMISSIONS = {
    ApiAction.ADD: Permission.WRITE,
    ApiAction.REMOVE: Permission.WRITE,
    ApiAction.CHECK: Permission.CHECK,
}


def handler(action: ApiAction) -> Callable[[Call], ApiResponse]:
    def handle(call: Call) -> ApiResponse:
        parsed: OptOutRequest = call.target.value
        numbers = _numbers(parsed.recipients)
        valid = [n for n in numbers.values() if n is not None]
        service = call.services.optout_service()
        operations = {ApiAction.ADD: service.add, ApiAction.REMOVE: service.remove}
        if action is ApiAction.CHECK:
            opted_out = service.check(parsed.sender, valid)
        else:
            operations[action](parsed.sender, valid, actor=call.actor)
            opted_out = set()
        items = [_item(action, to, numbers[to], opted_out) for to in parsed.recipients]
        log.info(
            "optouts:%s sender=%s recipients=%d valid=%d",
            action,
            parsed.sender.masked,
            len(parsed.recipients),
            len(valid),
        )
        return ApiResponse(200, {"value": items})

    return handle


ENDPOINTS = [
    Endpoint(
        name=f"optouts_{action}",
        handler=handler(action),
        permission=PERMISSIONS[action],
        target=target,
        json_methods=frozenset({"POST"}),
        api_versions=API_VERSIONS,
    )
    for action in ApiAction
]
