"""Owed markers: how the change feed's sweep finds owed events by key, not by scanning.

A pair's events are owed in its feed row (`~feed|<recipient>`, in the sender's or the group's
partition: `shared/tables/feed_rows.py`). To find those rows without a query across
partitions (a table scan on the real service), every write that may leave events owed first
writes a marker, in the same table, in one of `OWED_SHARDS` internal partitions:

    PartitionKey `~owed|<shard>` (shard: CRC-32 of the sender's or group's key, mod OWED_SHARDS)
    RowKey       `<sender or group>|<recipient>`      properties: Partition, Recipient

- Written BEFORE the change's transaction (an upsert; one transaction per change transaction,
  of at most 50 pairs for the API, one pair for a keyword, shared by concurrent keyword writes
  of a shard: `GroupCommit`). A crash after the commit therefore always leaves a marker.
- The sweep reads the shards by key (`PartitionKey eq`: OWED_SHARDS queries when nothing was
  written lately), point-reads the feed rows the markers name, publishes what is owed, and
  deletes the markers of pairs that owe nothing once they are older than MARK_HOLD (conditional
  on their ETag). So its cost follows what was changed or is owed since the last sweeps, never
  what is stored.
- Why the hold: a marker is written before its commit, so "nothing owed" may only mean "not
  committed yet". Every commit attempt is preceded by its own marker write (a retry writes it
  again), and an attempt lands well within MARK_HOLD of it (its requests time out in about a
  minute), so a marker older than that whose pair owes nothing announces nothing any more.
- No hot spot: a sender's markers go to one shard, whose write rate is the sender's own change
  rate (its own partition takes the same) plus a 1/OWED_SHARDS share of everyone else's.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import timedelta

from azure.data.tables import TransactionOperation, UpdateMode

from shared.tables.base import Entity, Operation

OWED_PREFIX = "~owed|"
OWED_SHARDS = 16
MARK_HOLD = timedelta(minutes=5)


def shard_key(partition: str) -> str:
    """The internal partition holding `partition`'s markers (stable across processes)."""
    return f"{OWED_PREFIX}{zlib.crc32(partition.encode()) % OWED_SHARDS:02d}"


def shard_keys() -> list[str]:
    return [f"{OWED_PREFIX}{n:02d}" for n in range(OWED_SHARDS)]


def mark_entity(partition: str, recipient: str) -> Entity:
    return {
        "PartitionKey": shard_key(partition),
        "RowKey": f"{partition}|{recipient}",
        "Partition": partition,
        "Recipient": recipient,
    }


def mark_operations(partition: str, recipients: Sequence[str]) -> list[Operation]:
    """Upserts of the markers of `partition`'s `recipients` (all in one shard partition)."""
    return [
        (TransactionOperation.UPSERT, mark_entity(partition, r), {"mode": UpdateMode.REPLACE})
        for r in dict.fromkeys(recipients)
    ]
