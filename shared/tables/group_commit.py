"""Group commit: concurrent writes to one partition share one entity group transaction.

A burst of keyword events for one sender (a campaign's STOPs) runs on several worker threads at
once, and each event writes a few entities of that sender's partition. Sent one by one, every
write is a request (billed, and the costliest part of an event). `GroupCommit.write` lets the
threads that write to the same partition at the same moment share a transaction instead:

- A thread that finds no transaction in flight for its partition becomes the leader: it sends
  its own operations together with those queued behind it (oldest first, at most
  `max_operations`, each entity at most once), and the others wait for the outcome. Nothing
  waits on a timer: with no concurrency every write is sent at once, alone.
- A writer that is alone in its batch is sent the way it would be without group commit (its
  `alone` callable: e.g. a single-entity insert, cheaper than a transaction of one).
- A transaction is atomic, so one failing operation (a conflict, a duplicate) fails them all.
  The leader then sends each writer again alone, so every writer gets the outcome its own
  operations would have had alone (its exception or success); writers never see each other's
  failures.

Each writer's operations are still conditional on their own ETags, so sharing a transaction
changes what is billed, never what is written.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Operation = tuple[Any, ...]  # ("create" | "update" | "upsert" | "delete", entity[, options])
MAX_OPERATIONS = 100  # an entity group transaction's limit


def _entity_key(op: Operation) -> tuple[str, str]:
    entity = op[1]
    return str(entity["PartitionKey"]), str(entity["RowKey"])


Results = Sequence[Any] | None  # a transaction's per-operation results (their new ETags)


@dataclass(eq=False)
class _Write:
    operations: Sequence[Operation]
    alone: Callable[[], Results]
    done: bool = False
    error: BaseException | None = None
    results: list[Any] = field(default_factory=list)
    keys: frozenset[tuple[str, str]] = field(init=False)

    def __post_init__(self) -> None:
        self.keys = frozenset(_entity_key(op) for op in self.operations)


class GroupCommit:
    """Shares transactions between concurrent writers of one partition.

    `submit(operations)` sends one entity group transaction (raising on failure) and returns
    its per-operation results; `write` calls it with the combined operations of the writers
    that wait at that moment, and returns each writer the results of its own operations."""

    def __init__(
        self,
        submit: Callable[[list[Operation]], Results],
        max_operations: int = MAX_OPERATIONS,
    ) -> None:
        self._submit = submit
        self._max = max_operations
        self._cond = threading.Condition()
        self._waiting: dict[str, list[_Write]] = {}
        self._busy: set[str] = set()

    def write(
        self,
        partition: str,
        operations: Sequence[Operation],
        alone: Callable[[], Results] | None = None,
    ) -> list[Any]:
        """Apply `operations` (one partition, each entity once) atomically, or by calling
        `alone` (default: a transaction of just them) when no other writer joins; raise what
        sending them alone raises. Returns their results (what `alone` returned, alone)."""
        if len(operations) > self._max:
            raise ValueError(f"at most {self._max} operations per transaction")
        me = _Write(operations, alone or (lambda: self._submit(list(operations))))
        with self._cond:
            self._waiting.setdefault(partition, []).append(me)
            while not me.done and partition in self._busy:
                self._cond.wait()
            lead = not me.done
            if lead:
                self._busy.add(partition)
        if lead:
            self._lead(partition, me)
        if me.error is not None:
            raise me.error
        return me.results

    def _lead(self, partition: str, me: _Write) -> None:
        """Send batches (oldest writes first) until `me` is done, then hand over."""
        try:
            while not me.done:
                with self._cond:
                    batch = self._take(partition)
                try:
                    self._commit(batch)
                finally:
                    with self._cond:
                        self._cond.notify_all()
        finally:
            with self._cond:
                self._busy.discard(partition)
                self._cond.notify_all()

    def _take(self, partition: str) -> list[_Write]:
        """The oldest waiting writes that fit in one transaction (each entity at most once)."""
        queue = self._waiting[partition]
        batch: list[_Write] = []
        keys: set[tuple[str, str]] = set()
        count = 0
        for w in queue:
            if count + len(w.operations) > self._max:
                break
            if keys.isdisjoint(w.keys):
                batch.append(w)
                keys |= w.keys
                count += len(w.operations)
        remaining = [w for w in queue if w not in batch]
        if remaining:
            self._waiting[partition] = remaining
        else:
            del self._waiting[partition]
        return batch

    def _commit(self, batch: list[_Write]) -> None:
        try:
            self._commit_or_split(batch)
        except BaseException as exc:  # interrupted: nobody in the batch may wait forever
            for w in batch:
                if not w.done:
                    w.error, w.done = exc, True
            raise

    def _commit_or_split(self, batch: list[_Write]) -> None:
        if len(batch) > 1:
            try:
                results = list(self._submit([op for w in batch for op in w.operations]) or [])
            except Exception:
                pass  # one operation failed them all: each write is sent again alone, below
            else:
                start = 0
                for w in batch:
                    w.results = results[start : start + len(w.operations)]
                    start += len(w.operations)
                    w.done = True
                return
        for w in batch:
            try:
                w.results = list(w.alone() or [])
            except Exception as exc:
                w.error = exc
            w.done = True
