"""The change feed's rows in the OptOuts table: RowKey `~feed|<recipient>`, one per pair that
ever changed (see `shared/tables/feed.py`). Entity mapping and the conditional write, shared by
the feed adapter and `TableOptOuts.apply_keyword` (which writes the row in its transaction).
"""

from __future__ import annotations

import json

from shared.optout_events import FeedRow, OptOutChange
from shared.tables.base import Entity, Operation, replace_or_create, utc

FEED_PREFIX = "~feed|"
FEED_END = "~feed}"  # `}` follows `|`: the feed rows are the RowKeys in [FEED_PREFIX, FEED_END)


def feed_key(recipient: str) -> str:
    return FEED_PREFIX + recipient


def feed_to_entity(row: FeedRow) -> Entity:
    entity: Entity = {
        "PartitionKey": row.sender,
        "RowKey": feed_key(row.recipient),
        "Recipient": row.recipient,
        "Version": row.version,
        "Owed": json.dumps([c.to_record() for c in row.owed], separators=(",", ":")),
        "OwedCount": len(row.owed),
    }
    if row.owed_since is not None:
        entity["OwedSince"] = row.owed_since
    if row.opted_out is not None:
        entity["OptedOut"] = row.opted_out
    return entity


def feed_from_entity(sender: str, recipient: str, e: Entity | None) -> FeedRow:
    if e is None:
        return FeedRow(sender, recipient)
    return FeedRow(
        sender=e["PartitionKey"],
        recipient=e["Recipient"],
        version=int(e.get("Version") or 0),
        owed=tuple(OptOutChange.from_record(r) for r in json.loads(e.get("Owed") or "[]")),
        owed_since=utc(e.get("OwedSince")),
        opted_out=e.get("OptedOut"),
        etag=e.metadata["etag"],  # type: ignore[attr-defined]
    )


def feed_operation(row: FeedRow) -> Operation:
    """Write `row`, conditional on the ETag it was read with (create if there was none)."""
    return replace_or_create(feed_to_entity(row), row.etag)
