"""One paging convention for every paged endpoint, Azure's (REST API guidelines): the client
asks for at most `maxpagesize` items and GETs each page's `nextLink` as it is, until a page
comes without one.

- `maxpagesize`: each endpoint has its range and default. Endpoints that used to take `pageSize`
  still accept it, deprecated, as an alias: given both with different values is a 400.
- `continuationToken`: the continuation token, only ever taken from a nextLink (`pageToken`,
  its deprecated alias, is still read: given both with different values is a 400). It is sealed
  (`shared.optouts.pagetoken`: encrypted, so no phone number shows in a URL, and authenticated)
  and bound to a scope (the endpoint, its sender or group, its filters): an altered token, or one
  issued for another request, is a 400.
- nextLink: this request's absolute URL (scheme, host, path) with the filters, `maxpagesize` and
  a new `continuationToken`; absent on the last page. A page that is not JSON (CSV, NDJSON)
  carries the same URL in `Link: <URL>; rel="next"`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from shared.api.pipeline import Call
from shared.api.wire import ApiResponse, validation_problem
from shared.domain.model import InvalidPageToken

SIZE = "maxpagesize"
LEGACY_SIZE = "pageSize"  # deprecated alias of maxpagesize (history, group list, report)
TOKEN = "continuationToken"
LEGACY_TOKEN = "pageToken"  # deprecated alias of continuationToken (every paged endpoint)
Errors = dict[str, list[str]]
Scope = Mapping[str, str | None]


@dataclass(frozen=True)
class Page:
    """What one paged request asks for: its size, where it starts (the position sealed in its
    continuation token; None on the first page), the scope its tokens are bound to and the
    query parameter its token came in (named in a 400 about it)."""

    size: int
    start: str | None
    scope: Scope
    token_name: str = TOKEN


def _whole(raw: str, maximum: int) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= maximum else None


def page_size(
    params: Mapping[str, str], default: int, maximum: int, errors: Errors, *, legacy: bool = False
) -> int:
    """`maxpagesize` (or, with `legacy`, its deprecated alias `pageSize`), 1 to `maximum`;
    `default` when neither is given. A wrong value, or two that differ, is noted in `errors`."""
    given = {SIZE: params.get(SIZE) or None}
    if legacy:
        given[LEGACY_SIZE] = params.get(LEGACY_SIZE) or None
    sizes: dict[str, int] = {}
    for name, raw in given.items():
        if raw is None:
            continue
        value = _whole(raw, maximum)
        if value is None:
            errors[name] = [f"Must be a whole number from 1 to {maximum}."]
        else:
            sizes[name] = value
    if len(set(sizes.values())) > 1:
        errors[SIZE] = [
            f"Conflicts with {LEGACY_SIZE}, its deprecated alias: give only {SIZE} "
            "(or both with the same value)."
        ]
    if errors.keys() & given.keys() or not sizes:
        return default
    return next(iter(sizes.values()))


def _given_token(params: Mapping[str, str]) -> tuple[str, str | None] | ApiResponse:
    """The continuation token and the parameter it came in (`continuationToken`, or its
    deprecated alias `pageToken`); a 400 when both are given and differ."""
    token, legacy = params.get(TOKEN) or None, params.get(LEGACY_TOKEN) or None
    if token and legacy and token != legacy:
        return validation_problem(
            {
                TOKEN: [
                    f"Conflicts with {LEGACY_TOKEN}, its deprecated alias: give only {TOKEN} "
                    "(or follow nextLink as it is)."
                ]
            }
        )
    return (LEGACY_TOKEN, legacy) if legacy and not token else (TOKEN, token)


def open_page(call: Call, scope: Scope, size: int) -> Page | ApiResponse:
    """The page this request asks for, or the 400 for a token not issued for `scope`."""
    given = _given_token(call.request.params)
    if isinstance(given, ApiResponse):
        return given
    name, token = given
    try:
        start = call.services.page_tokens().open(token, scope) if token else None
    except InvalidPageToken:
        return validation_problem(
            {name: ["Invalid page token for this request (follow nextLink as it is)."]}
        )
    return Page(size, start, scope, name)


def next_link(call: Call, page: Page, position: str | None, **query: str | None) -> str | None:
    """The URL of the page at `position` (None: there is none): this request's path with
    `query` (its filters; None and "" left out), `maxpagesize` and a token for `position`."""
    if position is None:
        return None
    parts = urlsplit(call.request.url)
    params = {name: value for name, value in query.items() if value}
    params[SIZE] = str(page.size)
    params[TOKEN] = call.services.page_tokens().issue(page.scope, position)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(params), ""))


def link_header(link: str | None) -> dict[str, str]:
    """The headers that carry `link` on a page that is not JSON."""
    return {"Link": f'<{link}>; rel="next"'} if link else {}


def with_next_link(body: dict[str, object], link: str | None) -> dict[str, object]:
    """`body` with `nextLink`, unless this is the last page."""
    return {**body, "nextLink": link} if link else body
