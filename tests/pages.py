"""Test support: walk a paged endpoint the way a client does, through the registered functions
(`devhost.inprocess.call`, so every page is held to shared/openapi.json): GET the first page, then
each page's `nextLink` as it is, until a page comes without one."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from devhost.inprocess import call, call_link


def get_link(link: str, **headers: str) -> tuple[int, Any]:
    """GET a next link as it is; it must be an absolute URL on the app's host."""
    return call_link(link, headers=headers or None)


def link_query(link: str) -> dict[str, str]:
    """A link's query parameters (each given once), in order."""
    items = parse_qsl(urlsplit(link).query, keep_blank_values=True)
    assert len({name for name, _ in items}) == len(items), link
    return dict(items)


def walk(route: str, query: str) -> list[dict[str, Any]]:
    """Every page of `route?query`: the first, then each nextLink's, until one has none."""
    pages: list[dict[str, Any]] = []
    status, page = call("GET", route, query=query)
    while True:
        assert status == 200, page
        assert "nextPageToken" not in page  # one convention: nextLink only
        pages.append(page)
        if "nextLink" not in page:
            return pages
        assert isinstance(page["nextLink"], str), page
        status, page = get_link(page["nextLink"])
