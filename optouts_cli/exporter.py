"""Export: the service's export pages written one after the other to a file (or stdout), so
the tool's memory holds one page at a time whatever the list's size."""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

from optouts_cli.client import Client, ExportFormat


def drop_first_line(body: bytes) -> bytes:
    """A CSV page without its header row (every page carries one, so each stands alone)."""
    _, sep, rest = body.partition(b"\n")
    return rest if sep else b""


def count_rows(body: bytes) -> int:
    """Rows in a page body: its lines (CSV fields here never hold line breaks)."""
    return body.count(b"\n")


def export(
    client: Client,
    sender: str,
    fmt: ExportFormat,
    out: BinaryIO,
    advance: Callable[[int], None],
    since: str | None = None,
    country: str | None = None,
    page_size: int | None = None,
) -> int:
    """Write every page to `out`; returns the number of rows written."""
    rows = 0
    for index, page in enumerate(client.export_pages(sender, fmt, since, country, page_size)):
        body = page
        if fmt is ExportFormat.CSV:
            body = drop_first_line(page)
            if index == 0:
                out.write(page[: len(page) - len(body)])  # the header, once
        out.write(body)
        rows += count_rows(body)
        advance(count_rows(body))
    return rows
