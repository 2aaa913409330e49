"""`GET /sms/groups/{group}/optouts[?maxpagesize=]`: a revoke-all group's group-wide opt-outs
(each recipient once, by recipient), paged as every list is (`shared.api.paging`: `maxpagesize`
1-1000, default 100, deprecated alias `pageSize`; no nextLink on the last page)."""

from __future__ import annotations

from typing import Any

from shared.api.history import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from shared.api.paging import Page, next_link, open_page, page_size, with_next_link
from shared.api.pipeline import Call, Endpoint, Target
from shared.api.wire import ApiResponse, validation_problem
from shared.domain.access import Permission
from shared.domain.groups import InvalidGroup, parse_group
from shared.domain.model import GroupEntry, InvalidPageToken


def entry_to_wire(entry: GroupEntry) -> dict[str, Any]:
    return {
        "recipient": entry.recipient,
        "sender": entry.sender,  # the group's sender the STOP was sent to
        "optedOutAt": entry.opted_out_at.isoformat(),
        "messageId": entry.message_id or None,
    }


def target(call: Call) -> Target | ApiResponse:
    errors: dict[str, list[str]] = {}
    group = ""
    try:
        group = parse_group(call.request.route_params.get("group", ""))
    except InvalidGroup as exc:
        errors["group"] = [f"The group name {exc}."]
    size = page_size(call.request.params, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, errors, legacy=True)
    if errors:
        return validation_problem(errors)
    page = open_page(call, {"kind": "group", "group": group}, size)
    if isinstance(page, ApiResponse):
        return page
    return Target(group=group, value=page)


def handle(call: Call) -> ApiResponse:
    group = call.target.group
    assert group is not None
    page: Page = call.target.value
    try:
        rows, position = call.services.groups().group_entries(
            group, page_size=page.size, token=page.start
        )
    except InvalidPageToken:  # a position the store did not issue (the token is ours: never)
        return validation_problem({page.token_name: ["Invalid page token."]})
    body = {"group": group, "value": [entry_to_wire(r) for r in rows]}
    return ApiResponse(200, with_next_link(body, next_link(call, page, position)))


ENDPOINTS = [
    Endpoint(
        name="group_optouts",
        handler=handle,
        permission=Permission.READ,
        target=target,
        limit_body=False,
    )
]
