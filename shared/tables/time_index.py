"""Time-first index rows: a sender's entries and history rows found by time with a RowKey range
(the intra-partition secondary index pattern, reference §11), so a time window reads what is
in it, never the whole partition.

Each indexed row has a full copy in the same partition whose RowKey starts with the time:
- history: `~time|<event time>|<recipient>|<event id hash>` beside `<recipient>|<event
  time>|<event id hash>` (`shared/tables/history.py`);
- entries: `~since|<opted-out time>|<recipient>` beside the entry `<recipient>`
  (`shared/tables/optouts.py`, `shared/tables/feed.py`); the entry names its copy in `SinceKey`,
  so that whoever deletes the entry deletes the copy in the same transaction.

The copy is written in the same entity-group transaction as the row, by the one function here
that turns a write of a row into the write of its copy (`copy_operation`): whatever properties
a row gains, its copy has them too. `~` sorts after `+`, so the copies stay out of every
recipient range. Rows written before the index existed are indexed once by the backfill
(`shared/tables/backfill.py`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from azure.data.tables import TransactionOperation, UpdateMode

from shared.tables.base import Entity, Operation

KEY_TIME_FORMAT = "%Y%m%dT%H%M%S.%fZ"  # fixed width: text order is time order
HISTORY_TIME_PREFIX = "~time|"
HISTORY_TIME_END = "~time}"  # `}` follows `|`
SINCE_PREFIX = "~since|"
SINCE_END = "~since}"
SINCE_KEY = "SinceKey"  # an entry's property: the RowKey of its time-index copy


def key_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime(KEY_TIME_FORMAT)


def since_key(opted_out_at: datetime, recipient: str) -> str:
    return f"{SINCE_PREFIX}{key_time(opted_out_at)}|{recipient}"


def history_time_key(row_key: str) -> str:
    """The history row `<recipient>|<time>|<hash>`'s copy: `~time|<time>|<recipient>|<hash>`."""
    recipient, when, digest = row_key.split("|", 2)
    return f"{HISTORY_TIME_PREFIX}{when}|{recipient}|{digest}"


def copy_operation(op: Operation, copy_key: str) -> Operation:
    """The same write for the row's copy at `copy_key`. An update of the row (a merge of a few
    properties, perhaps conditional on the row's ETag) becomes an unconditional merge-upsert
    of the copy: the row's condition already guards the transaction, and a row indexed only
    later by the backfill may not have its copy yet."""
    kind, entity, *rest = op
    copy = {**entity, "RowKey": copy_key}
    if kind == TransactionOperation.UPDATE:
        mode = rest[0].get("mode", UpdateMode.MERGE) if rest else UpdateMode.MERGE
        return (TransactionOperation.UPSERT, copy, {"mode": mode})
    if kind == TransactionOperation.DELETE:
        return (
            TransactionOperation.DELETE,
            {"PartitionKey": entity["PartitionKey"], "RowKey": copy_key},
        )
    return (kind, copy, *rest)


def entry_with_index(entry: Entity) -> tuple[Entity, Entity]:
    """An entry as written (naming its copy) and its time-index copy."""
    key = since_key(entry["OptedOutAt"], entry["RowKey"])
    named = {**entry, SINCE_KEY: key}
    return named, {**named, "RowKey": key}
