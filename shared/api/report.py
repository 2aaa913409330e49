"""`GET /sms/senders/{sender}/report?from=&to=[&maxpagesize=]`: the compliance report, JSON or CSV
(`Accept: text/csv`), paged as every list is (`shared.api.paging`: `maxpagesize` 1-1000, default
1000, deprecated alias `pageSize`). The next page's URL is `nextLink` in JSON and
`Link: <URL>; rel="next"` in CSV (send the same Accept again); it carries the window as `from` and
`to`, and none comes with the last page. One storage query per page; the page token carries the
scan position and the running totals (`shared/evidence/report_paging.py`), so a year of a busy
sender is read page by page with flat memory. Rows and flags: `shared/evidence/compliance.py`;
docs/evidence.md."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.api.paging import (
    Page,
    link_header,
    next_link,
    open_page,
    page_size,
    with_next_link,
)
from shared.api.params import Errors, sender_param, time_param
from shared.api.pipeline import Call, Endpoint, Target
from shared.api.wire import ApiResponse, validation_problem
from shared.domain.access import Permission
from shared.domain.model import InvalidPageToken
from shared.domain.sender import SenderId
from shared.evidence.compliance import ReportRow, report_row
from shared.evidence.report_paging import ReportCursor, decode_cursor, encode_cursor

MAX_PAGE_SIZE = 1000  # also the default
DEFAULT_WINDOW = timedelta(days=30)
CSV_TYPE = "text/csv"
CSV_COLUMNS = (
    "recipient",
    "action",
    "source",
    "keyword",
    "language",
    "outcome",
    "messageId",
    "receivedAt",
    "effectiveAt",
    "confirmationSentAt",
    "replyStatus",
    "effectDelaySeconds",
    "confirmationDelaySeconds",
    "optOutDeadline",
    "flags",
    "actor",
)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def row_to_wire(row: ReportRow) -> dict[str, Any]:
    r = row.record
    return {
        "recipient": r.recipient,
        "action": str(r.action),
        "source": str(r.source),
        "keyword": r.keyword or None,
        "language": str(r.language) if r.language else None,
        "outcome": str(r.outcome),
        "messageId": r.message_id or None,
        "receivedAt": r.event_at.isoformat(),
        "effectiveAt": _iso(row.effective_at),
        "confirmationSentAt": _iso(row.confirmation_sent_at),
        "replyStatus": str(r.reply_status),
        "effectDelaySeconds": _seconds(row.effect_delay),
        "confirmationDelaySeconds": _seconds(row.confirmation_delay),
        "optOutDeadline": _iso(row.optout_deadline),
        "flags": [str(f) for f in row.flags],
        "actor": r.actor or None,
    }


def to_csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "flags": ";".join(row["flags"])})
    return out.getvalue().encode("utf-8")


def wants_csv(accept: str | None) -> bool:
    for item in (accept or "").split(","):
        media, *options = (part.strip().lower() for part in item.split(";"))
        if media == CSV_TYPE and "q=0" not in options:
            return True
    return False


def _cursor(
    page: Page, sender: SenderId, start: datetime | None, end: datetime | None, errors: Errors
) -> ReportCursor | None:
    """Where to read: from the page token, else a new window (`to` defaults to now, `from` to
    30 days before `to`)."""
    if page.start is not None:
        try:
            cursor = decode_cursor(page.start, sender.key)
        except InvalidPageToken:  # sealed by us: a cursor this version cannot read
            errors[page.token_name] = ["Invalid page token."]
            return None
        if (start and start != cursor.start) or (end and end != cursor.end):
            errors[page.token_name] = ["The page token belongs to another window."]
        return cursor
    end = end or datetime.now(UTC)
    start = start or end - DEFAULT_WINDOW
    if start >= end:
        errors["from"] = ["Must be before 'to'."]
    return ReportCursor(sender.key, start, end)


def _request(call: Call) -> tuple[SenderId, Page, ReportCursor] | ApiResponse:
    """The sender, the page asked for and where to read, or the 400 that says what is wrong."""
    params = call.request.params
    errors: Errors = {}
    sender = sender_param(call.request.route_params.get("sender", ""), errors)
    start = time_param(params.get("from"), "from", errors)
    end = time_param(params.get("to"), "to", errors)
    size = page_size(params, MAX_PAGE_SIZE, MAX_PAGE_SIZE, errors, legacy=True)
    if sender is None or errors:
        return validation_problem(errors)
    page = open_page(call, {"kind": "report", "sender": sender.key}, size)
    if isinstance(page, ApiResponse):
        return page
    cursor = _cursor(page, sender, start, end, errors)
    if cursor is None or errors:
        return validation_problem(errors)
    return sender, page, cursor


def target(call: Call) -> Target | ApiResponse:
    found = _request(call)
    if isinstance(found, ApiResponse):
        return found
    return Target(sender=found[0], value=found)


def handle(call: Call) -> ApiResponse:
    found: tuple[SenderId, Page, ReportCursor] = call.target.value
    sender, page, cursor = found
    try:
        records, store_token = call.services.history().history_window(
            sender, cursor.start, cursor.end, page_size=page.size, token=cursor.store_token
        )
    except InvalidPageToken:
        return validation_problem({page.token_name: ["Invalid page token."]})
    now = datetime.now(UTC)
    rows = [report_row(r, now) for r in records]
    for row in rows:
        cursor.totals.add(row)
    position = encode_cursor(replace(cursor, store_token=store_token)) if store_token else None
    window = {"from": cursor.start.isoformat(), "to": cursor.end.isoformat()}
    link = next_link(call, page, position, **window)
    wire = [row_to_wire(r) for r in rows]
    if wants_csv(call.request.headers.get("accept")):
        return ApiResponse(200, to_csv(wire), link_header(link), media_type=CSV_TYPE)
    body = {
        "sender": cursor.sender,
        **window,
        "value": wire,
        "totals": cursor.totals.to_dict(),
        "totalsComplete": link is None,
    }
    return ApiResponse(200, with_next_link(body, link))


ENDPOINTS = [
    Endpoint(
        name="sender_report",
        handler=handle,
        permission=Permission.READ,
        target=target,
        limit_body=False,
    )
]
