"""The change feed's rows: RowKey `~feed|<recipient>`, one per pair that ever changed, in the
sender's partition of OptOuts (see `shared/tables/feed.py`) or the group's partition of
GroupOptOuts (`shared/tables/groups.py`). Entity mapping and the conditional write, shared by
the outbox (`shared/tables/outbox.py`) and the keyword transactions that write the row.
"""

from __future__ import annotations

import json

from shared.domain.changes import FeedRow, OptOutChange
from shared.domain.model import FeedScope
from shared.tables.base import Entity, Operation, replace_or_create, utc

FEED_PREFIX = "~feed|"
FEED_END = "~feed}"  # `}` follows `|`: the feed rows are the RowKeys in [FEED_PREFIX, FEED_END)


def feed_key(recipient: str) -> str:
    return FEED_PREFIX + recipient


def feed_to_entity(row: FeedRow) -> Entity:
    entity: Entity = {
        "PartitionKey": row.partition,
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
    if row.last_change_at is not None:
        entity["LastChangeAt"] = row.last_change_at
    return entity


def feed_from_entity(
    partition: str, recipient: str, e: Entity | None, scope: FeedScope = FeedScope.SENDER
) -> FeedRow:
    if e is None:
        return FeedRow(partition, recipient, scope=scope)
    return FeedRow(
        partition=e["PartitionKey"],
        recipient=e["Recipient"],
        version=int(e.get("Version") or 0),
        owed=tuple(OptOutChange.from_record(r) for r in json.loads(e.get("Owed") or "[]")),
        owed_since=utc(e.get("OwedSince")),
        opted_out=e.get("OptedOut"),
        last_change_at=utc(e.get("LastChangeAt")),
        etag=e.metadata["etag"],  # type: ignore[attr-defined]
        scope=scope,
    )


def feed_operation(row: FeedRow) -> Operation:
    """Write `row`, conditional on the ETag it was read with (create if there was none)."""
    return replace_or_create(feed_to_entity(row), row.etag)
