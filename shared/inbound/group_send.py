"""Group send: concurrent replies with the same sender and text share one ACS request.

A burst of STOPs to one sender is answered with one text (the sender's opt-out confirmation),
and ACS takes up to 100 recipients per send request. `GroupSend.send` lets the threads that send
the same text from the same number at the same moment share a request, with the leader pattern
of `shared.tables.group_commit`: a thread that finds no request in flight for its (sender, text)
sends its own recipient together with those queued behind it; nothing waits on a timer, so a lone
reply goes out at once, alone.

Each recipient's reply was claimed before it joined (the exactly-once guarantee does not
change), appears at most once per request, and gets its own outcome: ACS answers per recipient.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

R = TypeVar("R")
Key = tuple[str, str]  # (sender, text)
MAX_RECIPIENTS = 100  # per ACS send request

# Sends one request: the outcome (a result, or the exception to raise) for each recipient.
SendMany = Callable[[Key, Sequence[str]], dict[str, "R | Exception"]]


@dataclass(eq=False)
class _Reply(Generic[R]):
    to: str
    done: bool = False
    result: R | None = None
    error: Exception | None = None


class GroupSend(Generic[R]):
    def __init__(self, send_many: SendMany[R], max_recipients: int = MAX_RECIPIENTS) -> None:
        self._send_many = send_many
        self._max = max_recipients
        self._cond = threading.Condition()
        self._waiting: dict[Key, list[_Reply[R]]] = {}
        self._busy: set[Key] = set()

    def send(self, from_: str, to: str, text: str) -> R:
        key, me = (from_, text), _Reply[R](to)
        with self._cond:
            self._waiting.setdefault(key, []).append(me)
            while not me.done and key in self._busy:
                self._cond.wait()
            lead = not me.done
            if lead:
                self._busy.add(key)
        if lead:
            self._lead(key, me)
        if me.error is not None:
            raise me.error
        return me.result  # type: ignore[return-value]

    def _lead(self, key: Key, me: _Reply[R]) -> None:
        try:
            while not me.done:
                with self._cond:
                    batch = self._take(key)
                try:
                    self._deliver(key, batch)
                finally:
                    with self._cond:
                        self._cond.notify_all()
        finally:
            with self._cond:
                self._busy.discard(key)
                self._cond.notify_all()

    def _take(self, key: Key) -> list[_Reply[R]]:
        """The oldest waiting replies, each recipient once, at most `max_recipients`."""
        queue, batch, seen = self._waiting[key], [], set()
        for r in queue:
            if len(batch) < self._max and r.to not in seen:
                batch.append(r)
                seen.add(r.to)
        rest = [r for r in queue if r not in batch]
        if rest:
            self._waiting[key] = rest
        else:
            del self._waiting[key]
        return batch

    def _deliver(self, key: Key, batch: list[_Reply[R]]) -> None:
        try:
            outcomes = self._send_many(key, [r.to for r in batch])
        except Exception as exc:
            outcomes = dict.fromkeys((r.to for r in batch), exc)
        except BaseException:  # interrupted: nobody in the batch may wait forever
            for r in batch:
                r.error, r.done = RuntimeError("interrupted"), True
            raise
        for r in batch:
            outcome = outcomes.get(r.to, RuntimeError("no result for the recipient"))
            if isinstance(outcome, Exception):
                r.error = outcome
            else:
                r.result = outcome
            r.done = True
