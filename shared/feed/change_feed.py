"""The change feed: apply a change with the event it owes, publish owed events, sweep.

Knows neither Table entities nor the destinations' wire formats: it talks to a
`ChangeFeedStore` (`shared/tables/feed.py`), the outbox of group-wide changes (a `FeedOutbox`:
the GroupOptOuts table, `shared/tables/groups.py`) and an `EventPublisher`. Both outboxes work
alike; each feed row says which one it belongs to (`FeedRow.scope`).

Guarantees (docs/events.md):
- Nothing lost: a change is committed only together with the record that its event is owed
  (the outbox); the event is published after the commit and then cleared. If the process dies
  in between, or a destination is down, the event stays owed and the timer-triggered `sweep`
  (every 5 minutes and when the host starts) publishes it later. The sweep finds owed rows by
  key: the store marks each pair before changing it (`FeedOutbox.owed_rows`).
- At least once, stable ids: a publish that fails half-way, or a clear that fails, makes the
  same events go out again (same id, same bytes). Consumers dedupe on `id`.
- In order per recipient: a pair's owed events are published oldest first and cleared only
  after all were accepted, so an event is enqueued only after every earlier event of its
  sender/recipient. Transports may still reorder deliveries: each event's `sequence` is the
  pair's change count, so a consumer applies an event only if its sequence is greater than the
  last it applied for that sender/recipient (which also drops duplicates).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from shared.domain.changes import ChangesPartlyApplied, FeedRow, OptOutChange
from shared.domain.model import FeedScope, Source, StorageUnavailable
from shared.domain.phone import PhoneNumber
from shared.domain.repositories import ChangeFeedStore, FeedOutbox
from shared.domain.sender import SenderId
from shared.feed.publishers import EventPublisher, PublishFailed

log = logging.getLogger(__name__)

SWEEP_BATCH = 500


def utcnow() -> datetime:
    return datetime.now(UTC)


class ChangeFeed:
    def __init__(
        self,
        store: ChangeFeedStore,
        publisher: EventPublisher,
        *,
        groups: FeedOutbox | None = None,
        sweep_grace: timedelta = timedelta(seconds=30),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """`groups`: the outbox of group-wide changes; without it their events are left owed
        (nothing here publishes or sweeps them)."""
        self._store = store
        self._outboxes: dict[FeedScope, FeedOutbox] = {FeedScope.SENDER: store}
        if groups is not None:
            self._outboxes[FeedScope.GROUP] = groups
        self._publisher = publisher
        self._grace = sweep_grace
        self._clock = clock

    def apply(
        self,
        sender: SenderId,
        recipients: Sequence[PhoneNumber],
        *,
        opt_out: bool,
        source: Source,
        at: datetime | None = None,
        message_id: str = "",
        times: Mapping[str, datetime] | None = None,
        actor: str = "",
    ) -> list[OptOutChange]:
        """Opt recipients out (or in) and publish the events of what actually changed. A
        recipient already in that state changes nothing and gets no event. `times` (E.164 ->
        time) gives some recipients their own time (an import's opted-out-at); `actor` is who asked
        (the API key's name), carried by the change, its event and its history."""
        try:
            applied = self._store.apply(
                sender,
                recipients,
                opt_out=opt_out,
                at=at or self._clock(),
                source=source,
                message_id=message_id,
                times=times,
                actor=actor,
            )
        except ChangesPartlyApplied as exc:  # what was committed still publishes now
            self.publish([a.row for a in exc.applied])
            raise
        self.publish([a.row for a in applied])
        return [a.change for a in applied]

    def publish(self, rows: Sequence[FeedRow]) -> int:
        """Publish everything `rows` owe (oldest first per pair), then clear it. A destination
        failure leaves them owed for the sweep; returns how many events went out."""
        rows = [row for row in rows if row.scope in self._outboxes]
        changes = [c for row in rows for c in sorted(row.owed, key=lambda c: c.version)]
        if not changes:
            return 0
        try:
            self._publisher.publish(changes)
        except PublishFailed as exc:
            log.warning("%d event(s) stay owed; the sweep will retry: %s", len(changes), exc)
            return 0
        try:
            for scope, outbox in self._outboxes.items():
                if mine := [row for row in rows if row.scope is scope]:
                    outbox.clear(mine)
        except StorageUnavailable as exc:
            log.warning("Published events not cleared (they will go out again): %s", exc)
        return len(changes)

    def sweep(self) -> int:
        """Publish every event owed for longer than the grace period (the inline publisher's
        time to do it); returns how many were published."""
        cutoff = self._clock() - self._grace
        published = 0
        batch: list[FeedRow] = []
        for row in self._owed_rows(cutoff):
            batch.append(row)
            if len(batch) >= SWEEP_BATCH:
                published += self.publish(batch)
                batch = []
        published += self.publish(batch)
        if published:
            log.info("Sweep published %d owed event(s)", published)
        return published

    def _owed_rows(self, cutoff: datetime) -> Iterator[FeedRow]:
        for scope, outbox in self._outboxes.items():
            # One store may keep both scopes (the tests' in-memory fake): each row once.
            yield from (row for row in outbox.owed_rows(cutoff) if row.scope is scope)
