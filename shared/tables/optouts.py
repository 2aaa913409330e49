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
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from azure.data.tables import TransactionOperation

from shared.group_commit import GroupCommit
from shared.model import ChangeKind, ConcurrencyConflict, KeywordState, Source
from shared.optout_events import FeedRow
from shared.phone import PhoneNumber
from shared.sender import SenderId
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
    sender: SenderId, recipient: PhoneNumber, event_at: datetime, message_id: str
) -> Entity:
    return {
        "PartitionKey": sender.key,
        "RowKey": STATE_PREFIX + recipient.e164,
        "Recipient": recipient.e164,
        "LastEventAt": event_at,
        "LastMessageId": message_id,
    }


def state_from_entities(entry: Entity | None, state: Entity | None) -> KeywordState:
    return KeywordState(
        opted_out=entry is not None,
        opted_out_at=utc(entry.get("OptedOutAt")) if entry else None,
        opt_out_source=Source(entry["Source"]) if entry else None,
        last_event_at=utc(state.get("LastEventAt")) if state else None,
        last_message_id=state.get("LastMessageId") if state else None,
        entry_etag=entry.metadata["etag"] if entry else None,  # type: ignore[attr-defined]
        state_etag=state.metadata["etag"] if state else None,  # type: ignore[attr-defined]
    )


def _unique(numbers: Iterable[PhoneNumber]) -> list[PhoneNumber]:
    """Each number once (a transaction may hold each entity once)."""
    return list({n.e164: n for n in numbers}.values())


class TableOptOuts(TableAdapter):
    """OptOutEntries + KeywordStates (one table: a keyword change writes both kinds of row).

    Keyword changes for one sender that run at the same moment (a campaign's STOPs) share their
    transactions (`shared.group_commit`): one request for several events, each event's
    operations still conditional on its own ETags."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.transactions = GroupCommit(
            lambda ops: self.call(lambda: self._table.submit_transaction(ops))
        )

    def add(self, sender: SenderId, recipients: Sequence[PhoneNumber], at: datetime) -> None:
        self.transact(
            [upsert(entry_to_entity(sender, r, at, Source.API)) for r in _unique(recipients)]
        )

    def remove(self, sender: SenderId, recipients: Sequence[PhoneNumber]) -> None:
        # Optimistic: delete them all in one transaction (the usual case: they are opted out).
        # A delete of a missing entity fails the whole transaction, so then read which exist
        # (concurrent point reads) and delete only those: idempotent.
        candidates = _unique(recipients)
        for _ in range(2):
            try:
                self.transact([_delete(sender, r) for r in candidates])
                return
            except ConcurrencyConflict:
                present = self.opted_out(sender, candidates)
                candidates = [r for r in candidates if r.e164 in present]
        # Still racing with other writers: single deletes, which cannot conflict.
        list(self._pool.map(lambda r: self.delete(sender.key, r.e164), candidates))

    def opted_out(self, sender: SenderId, recipients: Sequence[PhoneNumber]) -> set[str]:
        return set(self.get_many(sender.key, (r.e164 for r in recipients)))

    def keyword_state(self, sender: SenderId, recipient: PhoneNumber) -> KeywordState:
        # The feed and state rows first (concurrently), then the entry: every change of the
        # pair rewrites the feed row (and every keyword change the state row), so a change
        # landing between the reads makes an ETag stale and the conditional write conflicts.
        # Read all at once, a START could see "no entry" from before a concurrent STOP and the
        # rows from after it, and leave the STOP's entry.
        rows = self.get_many(sender.key, [feed_key(recipient.e164), STATE_PREFIX + recipient.e164])
        entry = self.get_or_none(sender.key, recipient.e164)
        state = state_from_entities(entry, rows.get(STATE_PREFIX + recipient.e164))
        feed = feed_from_entity(sender.key, recipient.e164, rows.get(feed_key(recipient.e164)))
        return replace(state, feed=feed)

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
        marker = state_to_entity(sender, recipient, event_at, message_id)
        ops: list[Operation] = [replace_or_create(marker, state.state_etag)]
        if opt_out:
            entry = entry_to_entity(sender, recipient, event_at, Source.KEYWORD, message_id)
            ops.append(replace_or_create(entry, state.entry_etag))
        elif state.entry_etag:
            ops.append(_delete(sender, recipient, if_unchanged(state.entry_etag)))
        feed = state.feed or FeedRow(sender.key, recipient.e164)
        if opt_out != state.opted_out:  # a change of state: its event is owed
            kind = ChangeKind.ADDED if opt_out else ChangeKind.REMOVED
            change = feed.next_change(
                kind,
                event_at,
                str(Source.KEYWORD),
                country=recipient.country,
                keyword=keyword,
                message_id=message_id,
            )
            feed = feed.appended(change, datetime.now(UTC))
        # Written even when unchanged: its ETag guards the pair against concurrent API changes.
        feed = replace(feed, opted_out=opt_out)
        ops.append(feed_operation(feed))
        results = self.transactions.write(sender.key, ops)
        return replace(feed, etag=results[-1].get("etag"))


def _delete(sender: SenderId, recipient: PhoneNumber, condition: dict | None = None) -> Operation:
    key = {"PartitionKey": sender.key, "RowKey": recipient.e164}
    return (TransactionOperation.DELETE, key, condition or {})
