"""`GET /sms/groups/{group}/optouts[?pageSize=&pageToken=]`: a revoke-all group's group-wide
opt-outs (each recipient once, by recipient), paged like the history."""

from __future__ import annotations

from typing import Any

from shared.api.history import MAX_PAGE_SIZE
from shared.api.pipeline import Call, Endpoint
from shared.api.wire import ApiResponse, validation_problem
from shared.domain.groups import InvalidGroup, parse_group
from shared.domain.model import GroupEntry, InvalidPageToken


def entry_to_wire(entry: GroupEntry) -> dict[str, Any]:
    return {
        "recipient": entry.recipient,
        "sender": entry.sender,  # the group's sender the STOP was sent to
        "optedOutAt": entry.opted_out_at.isoformat(),
        "messageId": entry.message_id or None,
    }


def handle(call: Call) -> ApiResponse:
    params = call.request.params
    errors: dict[str, list[str]] = {}
    group = ""
    try:
        group = parse_group(call.request.route_params.get("group", ""))
    except InvalidGroup as exc:
        errors["group"] = [f"The group name {exc}."]
    size = params.get("pageSize", "100")
    if not (size.isascii() and size.isdigit() and 1 <= int(size) <= MAX_PAGE_SIZE):
        errors["pageSize"] = [f"Must be a whole number from 1 to {MAX_PAGE_SIZE}."]
    if errors:
        return validation_problem(errors)
    token = params.get("pageToken") or None
    try:
        rows, nxt = call.services.groups().group_entries(group, page_size=int(size), token=token)
    except InvalidPageToken:
        return validation_problem({"pageToken": ["Invalid page token."]})
    body = {"group": group, "value": [entry_to_wire(r) for r in rows], "nextPageToken": nxt}
    return ApiResponse(200, body)


ENDPOINTS = [
    Endpoint(
        name="group_optouts",
        route="sms/groups/{group}/optouts",
        methods=("GET",),
        handler=handle,
        limit_body=False,
    )
]
