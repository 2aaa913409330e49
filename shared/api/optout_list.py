"""`GET /sms/senders/{sender}/optouts` (a page of JSON) and `.../optouts:export` (a page of
CSV or NDJSON): a sender's opt-out list, in recipient order.

Query: `maxpagesize` (list: 1-1000, default 100; export: 1-5000, default 5000), `since` (ISO
8601: opted out at or after), `country` (ISO 3166 alpha-2), export `format` (`csv` | `ndjson`),
and `continuationToken` from the previous page's link. The list answers
`{"value": [...], "nextLink": URL}` (no nextLink on the last page); an export page carries
`Link: <URL>; rel="next"` instead. The paging convention and its helpers, shared by every paged
endpoint: `shared.api.paging`.

Paged, not streamed: the Functions Python worker hands the host a finished response body (HTTP
streaming needs the FastAPI extension and its own host setup, which the local host does not run),
so each response is one bounded page and memory stays flat whatever the list's size; the CLI
follows the links. The page token is bound to the sender and filters (and to list or export): an
altered token, or one from another sender or filter, is a 400.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from shared.api.paging import Page, link_header, next_link, open_page, page_size, with_next_link
from shared.api.params import sender_param
from shared.api.pipeline import Call, Endpoint, Target
from shared.api.wire import ApiResponse, validation_problem
from shared.domain.access import Permission
from shared.domain.model import EntryFilter, OptOutEntry
from shared.domain.sender import SenderId

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
EXPORT_PAGE_SIZE = 5000  # default and maximum of an export page (at most 5 Table queries)
CSV_COLUMNS = ("to", "country", "optedOutAt", "source")
_COUNTRY = re.compile(r"[A-Za-z]{2}")


class ExportFormat(StrEnum):
    CSV = "csv"
    NDJSON = "ndjson"

    @property
    def media_type(self) -> str:
        return "text/csv" if self is ExportFormat.CSV else "application/x-ndjson"


@dataclass(frozen=True)
class PageQuery:
    sender: SenderId
    flt: EntryFilter
    page: Page


def entry_to_wire(entry: OptOutEntry) -> dict[str, str]:
    return {
        "to": entry.recipient,
        "country": entry.country,
        "optedOutAt": entry.opted_out_at.isoformat(),
        "source": str(entry.source),
    }


def _since(raw: str | None, errors: dict[str, list[str]]) -> datetime | None:
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        errors["since"] = ["Must be an ISO 8601 date-time, e.g. 2026-01-01T00:00:00Z (+ as %2B)."]
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def _country(raw: str | None, errors: dict[str, list[str]]) -> str | None:
    if not raw:
        return None
    if not _COUNTRY.fullmatch(raw):
        errors["country"] = ["Must be an ISO 3166-1 alpha-2 code, e.g. US."]
        return None
    return raw.upper()


def parse_page_query(call: Call, default: int, maximum: int, kind: str) -> PageQuery | ApiResponse:
    params = call.request.params
    errors: dict[str, list[str]] = {}
    sender = sender_param(call.request.route_params.get("sender", ""), errors)
    flt = EntryFilter(_since(params.get("since"), errors), _country(params.get("country"), errors))
    size = page_size(params, default, maximum, errors)
    if errors or sender is None:
        return validation_problem(errors)
    scope = {
        "kind": kind,
        "sender": sender.key,
        "since": flt.since.isoformat() if flt.since else None,
        "country": flt.country,
    }
    page = open_page(call, scope, size)
    return page if isinstance(page, ApiResponse) else PageQuery(sender, flt, page)


def _next_link(call: Call, query: PageQuery, position: str | None, **extra: str) -> str | None:
    """The next page's URL: this request's path with the filters, size and a new token."""
    since, country = query.page.scope["since"], query.page.scope["country"]
    return next_link(call, query.page, position, since=since, country=country, **extra)


def list_target(call: Call) -> Target | ApiResponse:
    query = parse_page_query(call, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, "list")
    return query if isinstance(query, ApiResponse) else Target(sender=query.sender, value=query)


def handle_list(call: Call) -> ApiResponse:
    query: PageQuery = call.target.value
    page = call.services.listing().entries_page(
        query.sender, query.flt, start=query.page.start, size=query.page.size
    )
    body = {"value": [entry_to_wire(e) for e in page.entries]}
    return ApiResponse(200, with_next_link(body, _next_link(call, query, page.next_start)))


def _export_entries(call: Call, query: PageQuery) -> tuple[list[OptOutEntry], str | None]:
    """Up to `query.page.size` entries, one Table query per 1000."""
    entries: list[OptOutEntry] = []
    start, size = query.page.start, query.page.size
    while True:
        want = min(size - len(entries), MAX_PAGE_SIZE)
        page = call.services.listing().entries_page(query.sender, query.flt, start=start, size=want)
        entries += page.entries
        start = page.next_start
        if start is None or len(entries) >= size:
            return entries, start


def render(entries: list[OptOutEntry], fmt: ExportFormat) -> bytes:
    rows: Iterator[dict[str, str]] = (entry_to_wire(e) for e in entries)
    if fmt is ExportFormat.NDJSON:
        return "".join(json.dumps(r) + "\n" for r in rows).encode("utf-8")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def export_target(call: Call) -> Target | ApiResponse:
    raw_format = call.request.params.get("format") or ExportFormat.CSV
    if raw_format not in set(ExportFormat):
        return validation_problem({"format": ["Must be csv or ndjson."]})
    query = parse_page_query(call, EXPORT_PAGE_SIZE, EXPORT_PAGE_SIZE, "export")
    if isinstance(query, ApiResponse):
        return query
    return Target(sender=query.sender, value=(query, ExportFormat(raw_format)))


def handle_export(call: Call) -> ApiResponse:
    found: tuple[PageQuery, ExportFormat] = call.target.value
    query, fmt = found
    entries, position = _export_entries(call, query)
    headers = link_header(_next_link(call, query, position, format=fmt))
    return ApiResponse(200, headers=headers, body=render(entries, fmt), media_type=fmt.media_type)


ENDPOINTS = [
    Endpoint(
        name="sender_optouts_list",
        handler=handle_list,
        permission=Permission.READ,
        target=list_target,
        limit_body=False,
    ),
    Endpoint(
        name="sender_optouts_export",
        handler=handle_export,
        permission=Permission.READ,
        target=export_target,
        limit_body=False,
    ),
]
