"""The change feed's outbox in the OptOuts table: ChangeFeedStore on Azure Table Storage.

Each sender/recipient pair that ever changed has a feed row in the sender's partition, RowKey
`~feed|<recipient>` (`~` sorts after every E.164 number, so the opt-out entries stay exactly
the RowKeys below `~` and listings never see it): `Version` (the pair's change count: the
order of its events), `Owed` (the changes whose events are not known to be published, JSON,
oldest first), `OwedCount` and `OwedSince`. Before a round of transactions, the pairs it may
leave owed are marked (`shared/tables/owed_marks.py`): that is how the sweep finds them by key.

A change writes the opt-out entry, its time-index copy (`shared/tables/time_index.py`) and the
feed row in ONE entity-group transaction, all conditional (entry and copy: create, or delete if
unchanged; feed row: create, or replace if unchanged): the change is never committed without
its event being owed, and of two writers of one pair only one wins; the other re-reads and
decides again (often it is then a no-op). Three operations per recipient: at most 33
recipients per transaction. Keyword changes add their feed row to the
transaction `TableOptOuts.apply_keyword` submits.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import accumulate

from azure.data.tables import TransactionOperation

from shared.domain.changes import Applied, ChangesPartlyApplied, FeedRow, OptOutChange
from shared.domain.model import ConcurrencyConflict, Source
from shared.domain.phone import PhoneNumber
from shared.domain.sender import SenderId
from shared.tables.base import (
    MAX_TRANSACTION_OPERATIONS,
    Entity,
    Operation,
    chunks,
    if_unchanged,
)
from shared.tables.feed_rows import feed_operation
from shared.tables.optouts import entry_copy_key, entry_to_entity
from shared.tables.outbox import MAX_CONFLICT_RETRIES, TableOutbox
from shared.tables.time_index import entry_with_index

log = logging.getLogger(__name__)

CHANGES_PER_TRANSACTION = MAX_TRANSACTION_OPERATIONS // 3  # entry, its time copy, feed row
BACKOFF_SECONDS = 0.005  # random back-off before retry n: up to 5 ms * 2**n
# A round's owed markers are written again before a commit more than this after them, so that
# every commit lands well within MARK_HOLD of its marker (shared/tables/owed_marks.py).
MARK_REFRESH_SECONDS = 60.0


@dataclass(frozen=True)
class _Request:
    sender: SenderId
    opt_out: bool
    source: Source
    message_id: str
    actor: str = ""

    def plan(
        self,
        recipient: PhoneNumber,
        entry: Entity | None,
        row: FeedRow,
        when: datetime,
        now: datetime,
    ) -> tuple[OptOutChange, FeedRow, list[Operation]]:
        """The change (at its effect time: `when`, raised past the pair's last change), the
        feed row owing it, and the operations that write them: the entry and its time-index
        copy (created, or deleted), then the feed row."""
        change = row.next_change(
            self.opt_out, when, str(self.source), country=recipient.country,
            message_id=self.message_id, actor=self.actor,
        )  # fmt: skip
        owing = row.appended(change, now)
        entry_ops: list[Operation]
        if self.opt_out:
            at = change.effective_at
            new = entry_to_entity(self.sender, recipient, at, self.source, self.message_id)
            named, copy = entry_with_index(new)
            entry_ops = [(TransactionOperation.CREATE, named), (TransactionOperation.CREATE, copy)]
        else:
            # Guessed from the feed row (no entry read): unconditional, but the feed row's
            # condition still serialises the pair, and a missing entry fails the transaction.
            key = {"PartitionKey": self.sender.key, "RowKey": recipient.e164}
            cond = if_unchanged(entry.metadata["etag"]) if entry is not None else {}
            entry_ops = [(TransactionOperation.DELETE, key, cond)]
            if copy_key := entry_copy_key(entry, row):
                entry_ops.append((TransactionOperation.DELETE, {**key, "RowKey": copy_key}))
        return change, owing, [*entry_ops, feed_operation(owing)]


class TableChangeFeed(TableOutbox):
    """ChangeFeedStore: API and import changes with their owed events (clearing and the sweep:
    `TableOutbox`)."""

    def apply(
        self,
        sender: SenderId,
        recipients: Sequence[PhoneNumber],
        *,
        opt_out: bool,
        at: datetime,
        source: Source,
        message_id: str = "",
        times: Mapping[str, datetime] | None = None,
        actor: str = "",
    ) -> list[Applied]:
        """Opt the recipients out (or in): what actually changes, each with its event owed.
        `times` (E.164 -> time) overrides `at` per recipient (an import's own times).

        The first round guesses, to save reads: an opt-out assumes new people (create entry and
        feed row, no reads at all); an opt-in of people whose feed row says "opted out" reads
        only the feed rows. A wrong guess fails its transaction (a conflict), and the later
        rounds read entries and feed rows and decide from them."""
        request = _Request(sender, opt_out, source, message_id, actor)
        pending = list({r.e164: r for r in recipients}.values())
        applied: list[Applied] = []
        for attempt in range(MAX_CONFLICT_RETRIES):
            if not pending:
                return applied
            if attempt:
                time.sleep(random.uniform(0, BACKOFF_SECONDS * 2**attempt))
            todo = self._to_change(sender, pending, opt_out, guess=attempt == 0)
            pending = []
            # After a second conflict, one transaction per recipient: the others of a contended
            # chunk then go through even while one pair keeps changing.
            size = CHANGES_PER_TRANSACTION if attempt < 2 else 1
            marked_at: float | None = None
            for i, chunk in enumerate(batches := chunks(todo, size)):
                if marked_at is None or time.monotonic() - marked_at > MARK_REFRESH_SECONDS:
                    # Before the commits (the sweep finds what they leave owed by these):
                    # one marker transaction per 100 pairs, written again for slow rounds.
                    self.mark_owed(sender.key, [r.e164 for b in batches[i:] for r, _, _ in b])
                    marked_at = time.monotonic()
                done = self._submit(request, chunk, at, times or {})
                if done is None:
                    log.info("Concurrent change for sender %s; reading again", sender.masked)
                    pending.extend(r for r, _, _ in chunk)
                else:
                    applied.extend(done)
        if pending:
            message = "too many concurrent changes of the same recipients"
            raise ChangesPartlyApplied(message, applied)
        return applied

    def _submit(
        self,
        request: _Request,
        chunk: Sequence[tuple[PhoneNumber, Entity | None, FeedRow]],
        at: datetime,
        times: Mapping[str, datetime],
    ) -> list[Applied] | None:
        """One transaction for `chunk`: the applied changes, or None on a conflict."""
        now = datetime.now(UTC)
        plans = [request.plan(r, e, row, times.get(r.e164, at), now) for r, e, row in chunk]
        try:
            results = self.submit([op for plan in plans for op in plan[2]])
        except ConcurrencyConflict:
            return None
        # Results are in operation order; each pair's feed row is its last operation.
        ends = list(accumulate(len(ops) for _, _, ops in plans))
        return [
            Applied(change, replace(row, etag=results[end - 1].get("etag")))
            for end, (change, row, _) in zip(ends, plans, strict=True)
        ]

    def _to_change(
        self, sender: SenderId, pending: Sequence[PhoneNumber], opt_out: bool, *, guess: bool
    ) -> list[tuple[PhoneNumber, Entity | None, FeedRow]]:
        """The recipients that must change, with their entry (None: absent, or not read) and
        feed row as read (or guessed). The entry, not the feed row, is the authority: a feed
        row is trusted only to say "opted out" for an opt-in, where a wrong guess fails the
        delete. Unchanged recipients cost one read: their feed row is not read."""
        if guess and opt_out:
            return [(r, None, FeedRow(sender.key, r.e164)) for r in pending]
        rows_by: dict[str, FeedRow] = {}
        if guess:
            rows_by = {
                row.recipient: row for row in self.feed_rows(sender.key, [r.e164 for r in pending])
            }
        # "Opted out" is trusted when the row knows its last change's time: the entry's time
        # (its time copy's key) then; else the entry is read.
        trusted = {k for k, row in rows_by.items() if row.opted_out and row.last_change_at}
        entries = self.get_many(sender.key, [r.e164 for r in pending if r.e164 not in trusted])
        changing = [r for r in pending if (r.e164 in trusted or r.e164 in entries) != opt_out]
        unread = [r.e164 for r in changing if r.e164 not in rows_by]
        rows_by.update((row.recipient, row) for row in self.feed_rows(sender.key, unread))
        return [(r, entries.get(r.e164), rows_by[r.e164]) for r in changing]
