"""Applying opt-out changes together with the events they owe, and clearing published ones.

`apply` is what the API's add/remove and an import call: it learns what actually changes
(concurrent point reads of each recipient's entry and feed row; never an `or` of RowKeys), then
writes each real change as entry + feed row in one conditional transaction (50 recipients per
transaction). A recipient already in the requested state is a no-op: nothing is written and no
event is owed. A conflict (another writer changed the pair in between) re-reads that chunk's
recipients and decides again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from azure.core import MatchConditions

from shared.feed_store import (
    CHANGES_PER_TRANSACTION,
    FeedRow,
    TableFeed,
    feed_operation,
)
from shared.model import ConcurrencyConflict
from shared.optout_events import ChangeKind, OptOutChange
from shared.phone import PhoneNumber, mask
from shared.tables.base import MAX_TRANSACTION_OPERATIONS, chunks

log = logging.getLogger(__name__)

MAX_CONFLICT_RETRIES = 5


@dataclass(frozen=True)
class Applied:
    """A committed change and its pair's feed row as committed (ETag included), which owes
    this change's event and possibly older ones of the same pair."""

    change: OptOutChange
    row: FeedRow


@dataclass(frozen=True)
class _Pair:
    recipient: PhoneNumber
    entry_etag: str | None
    row: FeedRow


class TableChangeWriter:
    def __init__(self, feed: TableFeed) -> None:
        self._feed = feed

    # -- apply -------------------------------------------------------------------------------

    def apply(
        self,
        sender: PhoneNumber,
        recipients: Sequence[PhoneNumber],
        *,
        opt_out: bool,
        at: datetime,
        source: str,
        message_id: str = "",
        keyword: str = "",
        times: Mapping[str, datetime] | None = None,
    ) -> list[Applied]:
        """Opt the recipients out (or in); returns the changes actually made, in order.
        `times` (E.164 -> time) overrides `at` per recipient (an import's own opt-out times)."""
        pending = list({r.e164: r for r in recipients}.values())
        applied: list[Applied] = []
        for _ in range(MAX_CONFLICT_RETRIES):
            if not pending:
                return applied
            pairs = self._read(sender, pending)
            todo = [p for p in pairs if (p.entry_etag is not None) != opt_out]
            pending = []
            for chunk in chunks(todo, CHANGES_PER_TRANSACTION):
                planned = [
                    self._plan(
                        sender,
                        p,
                        opt_out,
                        (times or {}).get(p.recipient.e164, at),
                        source,
                        message_id,
                        keyword,
                    )
                    for p in chunk
                ]
                try:
                    results = self._feed.transact([op for _, ops in planned for op in ops])
                except ConcurrencyConflict:
                    log.info("Concurrent change for sender %s; reading again", mask(sender.e164))
                    pending.extend(p.recipient for p in chunk)
                    continue
                # Results are in operation order: each pair's feed row is its second operation.
                for i, (done, _) in enumerate(planned):
                    etag = results[i * 2 + 1].get("etag")
                    applied.append(replace(done, row=replace(done.row, etag=etag)))
        if pending:
            raise ConcurrencyConflict("too many concurrent changes of the same recipients")
        return applied

    def _read(self, sender: PhoneNumber, recipients: Sequence[PhoneNumber]) -> list[_Pair]:
        keys = [r.e164 for r in recipients]
        entries = self._feed.get_many([(sender.e164, k) for k in keys])
        rows = self._feed.feed_rows(sender.e164, keys)
        return [
            _Pair(r, e.metadata["etag"] if e is not None else None, row)
            for r, e, row in zip(recipients, entries, rows, strict=True)
        ]

    @staticmethod
    def _plan(
        sender: PhoneNumber,
        pair: _Pair,
        opt_out: bool,
        at: datetime,
        source: str,
        message_id: str,
        keyword: str,
    ) -> tuple[Applied, list[Any]]:
        r = pair.recipient
        change = OptOutChange(
            kind=ChangeKind.ADDED if opt_out else ChangeKind.REMOVED,
            sender=sender.e164,
            recipient=r.e164,
            version=pair.row.version + 1,
            effective_at=at,
            source=source,
            country=r.country,
            keyword=keyword,
            message_id=message_id,
            opted_out_at=at if opt_out else None,
        )
        row = pair.row.appended(change)
        key = {"PartitionKey": sender.e164, "RowKey": r.e164}
        entry_op: tuple[Any, ...]
        if opt_out:
            entry = {
                **key,
                "Sender": sender.e164,
                "Recipient": r.e164,
                "Country": r.country,
                "OptedOutAt": at,
                "Source": source,
            }
            if message_id:
                entry["MessageId"] = message_id
            entry_op = ("create", entry)
        else:
            cond = {"etag": pair.entry_etag, "match_condition": MatchConditions.IfNotModified}
            entry_op = ("delete", key, cond)
        return Applied(change, row), [entry_op, feed_operation(row)]

    # -- clear -------------------------------------------------------------------------------

    def clear(self, rows: Sequence[FeedRow]) -> None:
        """Forget the owed changes of `rows` (as read or committed, with their ETags), now that
        they are published. One conditional transaction per 100 rows of a sender; rows that
        changed since (a newer change, a concurrent clear) are re-read and cleared one by one,
        keeping whatever became owed since."""
        by_sender: dict[str, list[FeedRow]] = {}
        for row in rows:
            if row.owed:
                by_sender.setdefault(row.sender, []).append(row)
        for group in by_sender.values():
            for chunk in chunks(group, MAX_TRANSACTION_OPERATIONS):
                try:
                    self._feed.transact([feed_operation(r.without(r.owed)) for r in chunk])
                except ConcurrencyConflict:
                    for row in chunk:
                        self._clear_one(row)

    def _clear_one(self, published: FeedRow) -> None:
        for _ in range(MAX_CONFLICT_RETRIES):
            [now] = self._feed.feed_rows(published.sender, [published.recipient])
            if now.etag is None:
                return
            remaining = now.without(published.owed)
            if remaining.owed == now.owed:
                return  # already cleared by someone else
            try:
                self._feed.transact([feed_operation(remaining)])
                return
            except ConcurrencyConflict:
                continue
        log.warning(
            "Published events of %s stay owed; the sweep retries", mask(published.recipient)
        )

    def owed_rows(self, owed_before: datetime) -> Iterator[FeedRow]:
        return self._feed.owed_rows(owed_before)
