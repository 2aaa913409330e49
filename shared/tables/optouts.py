"""The OptOuts table: OptOutEntries and KeywordStates on Azure Table Storage.

PartitionKey = sender (E.164). Two kinds of rows:
- RowKey = recipient: one per opted-out person (Sender, Recipient, Country, OptedOutAt, Source,
  MessageId). Opting in deletes the row, as ACS does.
- RowKey = `~state|<recipient>`: the newest keyword event applied for that person (time, message
  id), so that a late, older event cannot undo a newer one. `~` sorts after `+`, so the opt-out
  rows are exactly the RowKeys below `~`. A keyword change writes both rows in one entity-group
  transaction, conditional on their ETags.
- RowKey = `~feed|<recipient>`: the pair's change-feed row (shared/tables/feed.py), written in
  the same transaction as every change of the pair.
- RowKey = `~since|<opted-out time>|<recipient>`: the entry's time-first copy
  (`shared/tables/time_index.py`), created and deleted in the same transaction as the entry,
  which names it (`SinceKey`): a listing `since` a time is a RowKey range.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from azure.data.tables import TransactionOperation

from shared.domain.changes import FeedRow
from shared.domain.keyword_writes import KeywordState, KeywordWrite
from shared.domain.model import FeedScope, Source
from shared.domain.phone import PhoneNumber
from shared.domain.sender import SenderId
from shared.tables.base import (
    Entity,
    Operation,
    TableAdapter,
    if_unchanged,
    replace_or_create,
    upsert,
    utc,
)
from shared.tables.feed_rows import feed_from_entity, feed_key, feed_operation
from shared.tables.group_commit import GroupCommit
from shared.tables.owed_marks import mark_operations, shard_key
from shared.tables.time_index import SINCE_KEY, entry_with_index, since_key

STATE_PREFIX = "~state|"


def entry_to_entity(
    sender: SenderId, recipient: PhoneNumber, at: datetime, source: Source, message_id: str = ""
) -> Entity:
    entity: Entity = {
        "PartitionKey": sender.key,
        "RowKey": recipient.e164,
        "Sender": sender.key,
        "Recipient": recipient.e164,
        "Country": recipient.country,
        "OptedOutAt": at,
        "Source": str(source),
    }
    if message_id:
        entity["MessageId"] = message_id
    return entity


def state_to_entity(
    partition: str, recipient: PhoneNumber, event_at: datetime, message_id: str
) -> Entity:
    """The newest-event marker of a pair: a sender's (OptOuts) or a group's (GroupOptOuts)."""
    return {
        "PartitionKey": partition,
        "RowKey": STATE_PREFIX + recipient.e164,
        "Recipient": recipient.e164,
        "LastEventAt": event_at,
        "LastMessageId": message_id,
    }


def entry_copy_key(entry: Entity | None, row: FeedRow) -> str | None:
    """The RowKey of an entry's time-index copy: as the entry names it (None: written before
    the index, and not backfilled yet), or, not read, from the feed row that says the pair is
    opted out since its last change (a wrong guess fails the transaction, then it is read)."""
    if entry is not None:
        return entry.get(SINCE_KEY)
    if row.opted_out and row.last_change_at is not None:
        return since_key(row.last_change_at, row.recipient)
    return None


def state_from_entities(entry: Entity | None, state: Entity | None) -> KeywordState:
    return KeywordState(
        opted_out=entry is not None,
        opted_out_at=utc(entry.get("OptedOutAt")) if entry else None,
        opt_out_source=Source(entry["Source"]) if entry else None,
        last_event_at=utc(state.get("LastEventAt")) if state else None,
        last_message_id=state.get("LastMessageId") if state else None,
        entry_etag=entry.metadata["etag"] if entry else None,  # type: ignore[attr-defined]
        entry_index=entry.get(SINCE_KEY) if entry else None,
        state_etag=state.metadata["etag"] if state else None,  # type: ignore[attr-defined]
    )


def read_keyword_state(
    table: TableAdapter, partition: str, recipient: str, scope: FeedScope
) -> KeywordState:
    """A pair's entry, state row and feed row, in a sender's or a group's partition.

    The feed and state rows first (concurrently), then the entry: every change of the pair
    rewrites the feed row (and every keyword change the state row), so a change landing between
    the reads makes an ETag stale and the conditional write conflicts. Read all at once, a START
    could see "no entry" from before a concurrent STOP and the rows from after it, and leave
    the STOP's entry."""
    rows = table.get_many(partition, [feed_key(recipient), STATE_PREFIX + recipient])
    entry = table.get_or_none(partition, recipient)
    state = state_from_entities(entry, rows.get(STATE_PREFIX + recipient))
    feed = feed_from_entity(partition, recipient, rows.get(feed_key(recipient)), scope)
    return replace(state, feed=feed)


def keyword_operations(
    state: KeywordState,
    opt_out: bool,
    marker: Entity,
    entry: Entity,
    feed: FeedRow,
    *,
    indexed: bool = True,
) -> list[Operation]:
    """A keyword event's one transaction, all conditional on `state`: the newest-event marker,
    the entry created (an opt-out of someone not opted out) or deleted (an opt-in of someone
    opted out), with its time-index copy (`indexed`: a sender's entries; a group's have none),
    and the feed row. An entry already as asked is left as it is: no change."""
    ops: list[Operation] = [replace_or_create(marker, state.state_etag)]
    if opt_out and not state.opted_out:
        entry = {**entry, "OptedOutAt": feed.last_change_at or entry["OptedOutAt"]}
        if indexed:
            named, copy = entry_with_index(entry)
            ops += [replace_or_create(named, None), replace_or_create(copy, None)]
        else:
            ops.append(replace_or_create(entry, None))
    elif not opt_out and state.entry_etag:
        key = {"PartitionKey": entry["PartitionKey"], "RowKey": entry["RowKey"]}
        ops.append((TransactionOperation.DELETE, key, if_unchanged(state.entry_etag)))
        if indexed and state.entry_index:
            ops.append((TransactionOperation.DELETE, {**key, "RowKey": state.entry_index}))
    ops.append(feed_operation(feed))
    return ops


def _unique(numbers: Iterable[PhoneNumber]) -> list[PhoneNumber]:
    """Each number once (a transaction may hold each entity once)."""
    return list({n.e164: n for n in numbers}.values())


class TableOptOuts(TableAdapter):
    """OptOutEntries + KeywordStates (one table: a keyword change writes both kinds of row).

    Keyword changes for one sender that run at the same moment (a campaign's STOPs) share their
    transactions (`shared.tables.group_commit`): one request for several events, each event's
    operations still conditional on its own ETags."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.transactions = GroupCommit(self.submit)

    def add(self, sender: SenderId, recipients: Sequence[PhoneNumber], at: datetime) -> None:
        """Without the change feed (its contract only; the API goes through
        `TableChangeFeed`): entries and their time copies, those already opted out kept."""
        present = self.opted_out(sender, recipients)
        new = [r for r in _unique(recipients) if r.e164 not in present]
        pairs = [entry_with_index(entry_to_entity(sender, r, at, Source.API)) for r in new]
        self.transact([upsert(e) for pair in pairs for e in pair])

    def remove(self, sender: SenderId, recipients: Sequence[PhoneNumber]) -> None:
        """Without the change feed (its contract only): the entries that exist, read first,
        each deleted with its time copy; idempotent."""
        found = self.get_many(sender.key, (r.e164 for r in _unique(recipients)))
        ops: list[Operation] = []
        for number, entry in found.items():
            ops.append(_delete(sender, number, if_unchanged(entry.metadata["etag"])))
            if copy := entry.get(SINCE_KEY):
                ops.append(_delete(sender, copy))
        self.transact(ops)

    def opted_out(self, sender: SenderId, recipients: Sequence[PhoneNumber]) -> set[str]:
        return set(self.get_many(sender.key, (r.e164 for r in recipients)))

    def keyword_state(self, sender: SenderId, recipient: PhoneNumber) -> KeywordState:
        return read_keyword_state(self, sender.key, recipient.e164, FeedScope.SENDER)

    def apply_keyword(
        self,
        sender: SenderId,
        recipient: PhoneNumber,
        state: KeywordState,
        *,
        opt_out: bool,
        event_at: datetime,
        message_id: str,
        keyword: str = "",
    ) -> FeedRow:
        write = KeywordWrite(opt_out, event_at, message_id, keyword)
        empty = FeedRow(sender.key, recipient.e164)
        feed = write.feed_row(state.feed or empty, state.opted_out, recipient.country)
        # the newest-event marker keeps the SMS's own time (the ordering rule's)
        marker = state_to_entity(sender.key, recipient, event_at, message_id)
        entry = entry_to_entity(sender, recipient, event_at, Source.KEYWORD, message_id)
        if feed.version != (state.feed or empty).version:  # a change: mark it before (outbox.py)
            marks = mark_operations(sender.key, [recipient.e164])
            self.transactions.write(shard_key(sender.key), marks)
        results = self.transactions.write(
            sender.key, keyword_operations(state, opt_out, marker, entry, feed)
        )
        return replace(feed, etag=results[-1].get("etag"))


def _delete(sender: SenderId, row_key: str, condition: dict | None = None) -> Operation:
    key = {"PartitionKey": sender.key, "RowKey": row_key}
    return (TransactionOperation.DELETE, key, condition or {})
