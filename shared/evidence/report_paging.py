"""The compliance report's paging position: where the history scan stopped, the window it scans
and the totals so far, so that each page costs one storage query and the server keeps no state
(and memory stays flat however long the window is). The last page (no next link) carries the
totals of the whole window.

The position is compact JSON, sealed into the nextLink's page token by the HTTP layer (encrypted
and authenticated, bound to the sender), so clients can neither read nor alter it: a report's
totals are the service's. Decoding still checks every field and the sender (InvalidPageToken).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from shared.domain.model import InvalidPageToken
from shared.evidence.compliance import ReportTotals


@dataclass(frozen=True)
class ReportCursor:
    sender: str
    start: datetime
    end: datetime
    store_token: str | None = None  # the history store's token for the next storage page
    totals: ReportTotals = field(default_factory=ReportTotals)


def encode_cursor(cursor: ReportCursor) -> str:
    data = {
        "s": cursor.sender,
        "from": cursor.start.isoformat(),
        "to": cursor.end.isoformat(),
        "page": cursor.store_token,
        "totals": cursor.totals.to_dict(),
    }
    return json.dumps(data, separators=(",", ":"))


def decode_cursor(position: str, sender: str) -> ReportCursor:
    """The cursor `encode_cursor` wrote for one of `sender`'s report pages."""
    try:
        data = json.loads(position)
        page = data["page"]
        if data["s"] != sender or not isinstance(page, str):  # issued only mid-scan
            raise ValueError("another sender's token")
        start, end = datetime.fromisoformat(data["from"]), datetime.fromisoformat(data["to"])
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("naive time")
        return ReportCursor(sender, start, end, page, ReportTotals.from_dict(data["totals"]))
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise InvalidPageToken("invalid page token") from exc
