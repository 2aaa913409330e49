"""The compliance report's page token: where the history scan stopped, the window it scans and
the totals so far, so that each page costs one storage query and the server keeps no state (and
memory stays flat however long the window is). The last page (no next token) carries the totals
of the whole window.

The token is opaque to clients, base64url JSON; one that was altered or belongs to another
sender is refused (InvalidPageToken -> 400). It is not signed: it only carries what the caller
may read anyway, and altering it can only change the caller's own report.
"""

from __future__ import annotations

import base64
import binascii
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
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def decode_cursor(token: str, sender: str) -> ReportCursor:
    """The cursor in `token`, which must be one of `sender`'s report tokens."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        page = data["page"]
        if data["s"] != sender or not isinstance(page, str):  # issued only mid-scan
            raise ValueError("another sender's token")
        start, end = datetime.fromisoformat(data["from"]), datetime.fromisoformat(data["to"])
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("naive time")
        return ReportCursor(sender, start, end, page, ReportTotals.from_dict(data["totals"]))
    except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error) as exc:
        raise InvalidPageToken("invalid page token") from exc
