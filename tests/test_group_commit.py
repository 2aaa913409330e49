"""Group commit: concurrent writers of one partition share transactions, and each writer still
gets exactly the outcome of its own operations."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from shared.tables.group_commit import GroupCommit, Operation


class Conflict(Exception):
    pass


def op(row: str, partition: str = "p") -> Operation:
    return ("upsert", {"PartitionKey": partition, "RowKey": row})


class Table:
    """A transaction sink: records every transaction; one holding a `bad*` row fails whole. The
    first transaction can be held open, so that writers queue up behind it."""

    def __init__(self, hold_first: bool = False) -> None:
        self.transactions: list[list[str]] = []
        self.alone: list[str] = []
        self.rows: set[str] = set()
        self.release = threading.Event()
        self.entered = threading.Event()
        self._hold = hold_first
        self._lock = threading.Lock()

    def submit(self, ops: list[Operation]) -> None:
        if self._hold:
            self._hold = False
            self.entered.set()
            assert self.release.wait(10)
        rows = [o[1]["RowKey"] for o in ops]
        with self._lock:
            self.transactions.append(rows)
        assert len(rows) == len(set(rows)), "an entity twice in one transaction"
        if any(r.startswith("bad") for r in rows):
            raise Conflict(",".join(rows))
        self.rows.update(rows)

    def solo(self, row: str) -> Callable[[], None]:
        def run() -> None:
            with self._lock:
                self.alone.append(row)
            self.submit([op(row)])

        return run


def run_writers(gc: GroupCommit, table: Table, rows: list[str]) -> dict[str, Any]:
    """Start one writer per row while the first transaction is held; return each outcome."""
    outcomes: dict[str, Any] = {}

    def writer(row: str) -> None:
        try:
            gc.write("p", [op(row)], table.solo(row))
            outcomes[row] = "ok"
        except Conflict as exc:
            outcomes[row] = exc

    first = threading.Thread(target=writer, args=(rows[0],))
    first.start()
    assert table.entered.wait(10)
    others = [threading.Thread(target=writer, args=(r,)) for r in rows[1:]]
    for t in others:
        t.start()
    while sum(len(q) for q in gc._waiting.values()) < len(others):  # all queued behind it
        threading.Event().wait(0.01)
    table.release.set()
    for t in [first, *others]:
        t.join(10)
    return outcomes


def test_a_lone_writer_is_sent_alone_at_once() -> None:
    table = Table()
    gc = GroupCommit(table.submit)
    gc.write("p", [op("a")], table.solo("a"))
    assert table.alone == ["a"] and table.transactions == [["a"]]


def test_writers_that_queue_behind_a_transaction_share_the_next_one() -> None:
    table = Table(hold_first=True)
    gc = GroupCommit(table.submit)
    outcomes = run_writers(gc, table, ["a", "b", "c", "d"])
    assert outcomes == {r: "ok" for r in "abcd"}
    assert table.transactions[0] == ["a"]
    assert sorted(table.transactions[1]) == ["b", "c", "d"] and len(table.transactions) == 2
    assert table.rows == set("abcd")


def test_one_failing_write_fails_only_its_writer() -> None:
    table = Table(hold_first=True)
    gc = GroupCommit(table.submit)
    outcomes = run_writers(gc, table, ["a", "b", "bad", "c"])
    assert isinstance(outcomes.pop("bad"), Conflict)
    assert outcomes == {"a": "ok", "b": "ok", "c": "ok"}
    assert table.rows == {"a", "b", "c"}
    # The shared transaction failed whole; then each writer was sent alone.
    assert sorted(table.alone[-3:]) == ["b", "bad", "c"]


def test_the_same_entity_never_appears_twice_in_a_transaction() -> None:
    table = Table(hold_first=True)
    gc = GroupCommit(table.submit)
    outcomes: dict[int, str] = {}

    def writer(i: int) -> None:
        gc.write("p", [op("same"), op(f"own{i}")])
        outcomes[i] = "ok"

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    threads[0].start()
    assert table.entered.wait(10)
    for t in threads[1:]:
        t.start()
    while sum(len(q) for q in gc._waiting.values()) < 3:
        threading.Event().wait(0.01)
    table.release.set()
    for t in threads:
        t.join(10)
    assert outcomes == dict.fromkeys(range(4), "ok")
    assert all(t.count("same") == 1 for t in table.transactions)  # Table.submit asserts it too
    assert len(table.transactions) == 4


def test_transactions_stay_within_the_operation_limit() -> None:
    table = Table(hold_first=True)
    gc = GroupCommit(table.submit, max_operations=3)
    outcomes = run_writers(gc, table, [f"r{i}" for i in range(8)])
    assert set(outcomes.values()) == {"ok"}
    assert max(len(t) for t in table.transactions) <= 3
    assert table.rows == {f"r{i}" for i in range(8)}
    with pytest.raises(ValueError):
        gc.write("p", [op("x"), op("y"), op("z"), op("w")])


def test_partitions_do_not_wait_for_each_other() -> None:
    table = Table(hold_first=True)
    gc = GroupCommit(table.submit)
    held = threading.Thread(target=gc.write, args=("p", [op("a")]))
    held.start()
    assert table.entered.wait(10)
    gc.write("q", [op("b", "q")])  # returns although p's transaction is still open
    table.release.set()
    held.join(10)
    assert table.transactions == [["b"], ["a"]]
