"""The mirror into ACS's own opt-out database (docs/acs-mirror.md), fed by the change feed.

- `MirrorPublisher` is one more destination of the feed's publish: for each change of a sender
  whose program has `mirrorToAcs` on (a group-wide change: each such sender of the group), it
  notes a pending item in the sender's mirror journal and nudges the `optout-mirror` queue.
  Like every destination it is at least once: if the journal or the queue fails, the change
  stays owed in the outbox and the sweep publishes it again. The change itself is committed
  before and never waits for ACS.
- `MirrorDrainer` runs on the queue's message (and on the sweep's nudges): one drainer per
  sender at a time (a lease), oldest pending items first, up to 100 recipients a batch. For
  each batch it reads the pairs' *current* state (the same membership `check` answers) and
  pushes it with `POST /sms/optouts:add` / `:remove`: ACS never gets an older state of a pair
  after a newer one (changes made meanwhile stay pending and go in a later batch), and pushing
  a state again is harmless (both calls are idempotent). A failed call is retried with
  exponential back-off (a delayed nudge); after `max_tries` failures in a row the batch is
  poisoned, and so is at once a recipient ACS refuses (a 4xx of its own).

Knows no Azure and no ACS wire format: the journal, the state lookup, the ACS calls and the
nudges come in through the protocols below.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from shared.domain.changes import OptOutChange
from shared.domain.mirror import MirrorItem, MirrorState
from shared.domain.model import ConcurrencyConflict, FeedScope, StorageUnavailable
from shared.domain.phone import mask
from shared.domain.repositories import MirrorJournal, SenderPrograms
from shared.domain.sender import InvalidSender, parse_sender
from shared.feed.publishers import PublishFailed
from shared.platform.ttl_memo import TtlMemo

log = logging.getLogger(__name__)

MIRROR_QUEUE = "optout-mirror"
ACS_BATCH = 100  # recipients per ACS opt-out call (its maximum)
LEASE = timedelta(seconds=60)
WORK_PER_LEASE = timedelta(seconds=40)  # then the lease is given back and a nudge goes
MAX_TRIES = 10
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 300.0
# How long an instance trusts a sender's switch (docs/acs-mirror.md#turning-it-on).
MIRRORED_CACHE_SECONDS = 10.0


def utcnow() -> datetime:
    return datetime.now(UTC)


# -- ACS's opt-out API, as the mirror and reconcile use it ----------------------------------------


@dataclass(frozen=True)
class AcsItem:
    """ACS's answer for one recipient of an add / remove / check."""

    to: str
    status: int
    opted_out: bool | None = None  # check only
    error: str = ""


class AcsOptOutsFailed(Exception):
    """The call as a whole failed (ACS unreachable, 5xx, refused our credentials, ...):
    `reason` names it (an `UpstreamFailure` value), `status` is ACS's HTTP status if any."""

    def __init__(self, reason: str, detail: str = "", status: int | None = None) -> None:
        super().__init__(f"ACS opt-out API: {reason}" + (f" ({detail})" if detail else ""))
        self.reason = reason
        self.status = status


class AcsOptOuts(Protocol):
    def call(self, action: str, sender: str, recipients: Sequence[str]) -> list[AcsItem]:
        """`POST /sms/optouts:<action>` (add, remove, check) for at most 100 recipients; one
        item per recipient, in order. AcsOptOutsFailed when the call as a whole failed."""
        ...


# -- noting changes (a feed destination) -------------------------------------------------------


class MirroredSenders:
    """Which senders are mirrored, from their programs, each remembered for `ttl` seconds: a
    sender that is not mirrored costs a program read per `ttl` per instance, not one per change.
    `forget` (a program stored here) makes this instance read it again at once; another
    instance sees the switch within `ttl`."""

    def __init__(
        self,
        programs: SenderPrograms,
        ttl: float = MIRRORED_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._programs = programs
        self._known: TtlMemo[bool] = TtlMemo(ttl, clock)

    def forget(self, sender: str) -> None:
        self._known.forget(sender)

    def _is_mirrored(self, key: str) -> bool:
        try:
            sender = parse_sender(key)
        except InvalidSender:
            return False  # never remembered: no program is read for it

        def load() -> bool:
            program = self._programs.get_program(sender)
            return bool(program is not None and program.mirror_to_acs)

        return self._known.get(key, load)

    def mirrored(self, senders: Sequence[str]) -> set[str]:
        return {key for key in dict.fromkeys(senders) if self._is_mirrored(key)}


def _senders_of(change: OptOutChange) -> tuple[str, ...]:
    return change.senders if change.scope is FeedScope.GROUP else (change.sender,)


class MirrorPublisher:
    """EventPublisher: pending items for mirrored senders, and a nudge per sender."""

    def __init__(
        self,
        senders: MirroredSenders,
        journal: MirrorJournal,
        nudge: Callable[[str, float], None],
    ) -> None:
        self._senders = senders
        self._journal = journal
        # (sender, delay in seconds); StorageUnavailable when the queue cannot take it
        self._nudge = nudge

    def publish(self, changes: Sequence[OptOutChange]) -> None:
        try:
            mirrored = self._senders.mirrored([s for c in changes for s in _senders_of(c)])
            if not mirrored:
                return
            items: dict[str, list[MirrorItem]] = {}
            for change in changes:
                for sender in _senders_of(change):
                    if sender in mirrored:
                        item = MirrorItem(change.recipient, change.effective_at, change.version)
                        items.setdefault(sender, []).append(item)
            for sender, noted in items.items():
                self._journal.note(sender, noted)
                self._nudge(sender, 0.0)
        except StorageUnavailable as exc:  # the nudge raises it too (runtime's queue)
            raise PublishFailed(f"mirror: {exc}") from exc


# -- draining a sender's pending items into ACS ------------------------------------------------


@dataclass(frozen=True)
class DrainResult:
    pushed: int = 0  # recipients whose state ACS took
    poisoned: int = 0
    retry_in: float | None = None  # failed: nudge again after this many seconds
    busy: bool = False  # another drainer holds the sender (it looks again before it stops)
    more: bool = False  # stopped with items left (its lease time used): nudge again now


def retry_delay(tries: int) -> float:
    return min(FIRST_RETRY_SECONDS * 2 ** max(tries - 1, 0), MAX_RETRY_SECONDS)


class MirrorDrainer:
    def __init__(
        self,
        journal: MirrorJournal,
        opted_out: Callable[[str, Sequence[str]], set[str]],
        acs: AcsOptOuts,
        *,
        max_tries: int = MAX_TRIES,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._journal = journal
        self._opted_out = opted_out  # (sender, recipients) -> those opted out (membership)
        self._acs = acs
        self._max_tries = max_tries
        self._clock = clock

    def drain(self, sender: str) -> DrainResult:
        """Push the sender's pending items to ACS, while its lease lasts."""
        total = DrainResult()
        while True:
            state = self._journal.state(sender)
            if self._backing_off(state):
                return replace(total, busy=True)  # a delayed nudge is owed
            state = self._claim(sender, state)
            if state is None:
                return replace(total, busy=True)
            try:
                result, state = self._drain_claimed(sender, state)
            except BaseException:
                with contextlib.suppress(Exception):  # else the lease runs out in a minute
                    self._release(sender, self._journal.state(sender))
                raise
            total = DrainResult(
                total.pushed + result.pushed,
                total.poisoned + result.poisoned,
                result.retry_in,
                more=result.more,
            )
            self._release(sender, state)
            if result.retry_in is not None or result.more:
                return total
            # Looked again after letting go: a nudge that found the lease held was dropped.
            if not self._journal.pending(sender, 1):
                return total

    def _backing_off(self, state: MirrorState) -> bool:
        if not state.tries or state.last_error_at is None:
            return False
        return self._clock() < state.last_error_at + timedelta(seconds=retry_delay(state.tries))

    def _claim(self, sender: str, state: MirrorState) -> MirrorState | None:
        now = self._clock()
        if state.lease_until is not None and state.lease_until > now:
            return None
        holder = uuid.uuid4().hex
        try:
            return self._journal.save_state(
                sender, replace(state, lease_until=now + LEASE, holder=holder)
            )
        except ConcurrencyConflict:
            return None

    def _record(self, sender: str, state: MirrorState) -> MirrorState:
        """Store the drain's outcome so far, keeping the lease (one write per ACS batch)."""
        try:
            return self._journal.save_state(sender, state)
        except ConcurrencyConflict:  # taken over after our lease ran out: theirs now
            log.warning("Mirror lease of %s was taken over", mask(sender))
            return state

    def _release(self, sender: str, state: MirrorState) -> None:
        try:
            self._journal.save_state(sender, replace(state, lease_until=None, holder=""))
        except ConcurrencyConflict:  # taken over after our lease ran out: theirs now
            log.warning("Mirror lease of %s was taken over", mask(sender))

    def _drain_claimed(self, sender: str, state: MirrorState) -> tuple[DrainResult, MirrorState]:
        started = self._clock()
        pushed = poisoned = 0
        while True:
            if self._clock() - started > WORK_PER_LEASE:
                return DrainResult(pushed, poisoned, more=True), state
            items = self._journal.pending(sender, ACS_BATCH)
            if not items:
                return DrainResult(pushed, poisoned), state
            # Up to 100 items: distinct recipients are at most 100 (one ACS call each way).
            try:
                ok, refused = self._push(sender, items)
            except AcsOptOutsFailed as exc:
                return self._failed(sender, state, items, str(exc), pushed, poisoned)
            done = [i for i in items if i.recipient in ok]
            bad = [i for i in items if i.recipient in refused]
            # The outcome is stored before the items go: whoever sees them gone (the status,
            # a test) sees the failed tries reset and when this batch reached ACS too.
            state = self._record(sender, replace(state, tries=0, last_mirrored_at=self._clock()))
            if done:
                self._journal.done(sender, done)
            for recipient, reason in refused.items():
                log.error("Mirror: ACS refused %s for good: %s", mask(recipient), reason)
                self._journal.poison(sender, [i for i in bad if i.recipient == recipient], reason)
            pushed += len(ok)
            poisoned += len(refused)
            left = {i.recipient for i in items} - ok - set(refused)
            if left:  # ACS failed for some (a 5xx item): retried like a failed call
                return self._failed(
                    sender, state, [i for i in items if i.recipient in left],
                    f"ACS failed for {len(left)} recipient(s)", pushed, poisoned,
                )  # fmt: skip

    def _push(self, sender: str, items: Sequence[MirrorItem]) -> tuple[set[str], dict[str, str]]:
        recipients = list(dict.fromkeys(i.recipient for i in items))
        opted_out = self._opted_out(sender, recipients)
        ok: set[str] = set()
        refused: dict[str, str] = {}
        for action, group in (
            ("add", [r for r in recipients if r in opted_out]),
            ("remove", [r for r in recipients if r not in opted_out]),
        ):
            if not group:
                continue
            answers = {a.to: a for a in self._acs.call(action, sender, group)}
            for recipient in group:
                answer = answers.get(recipient)
                if answer is None or answer.status >= 500:
                    continue
                if answer.status >= 400:
                    refused[recipient] = f"HTTP {answer.status}: {answer.error}"[:500]
                else:
                    ok.add(recipient)
        log.info(
            "Mirror %s: %d pushed (%d opted out), %d refused",
            mask(sender), len(ok), len(opted_out & ok), len(refused),
        )  # fmt: skip
        return ok, refused

    def _failed(
        self,
        sender: str,
        state: MirrorState,
        items: Sequence[MirrorItem],
        reason: str,
        pushed: int,
        poisoned: int,
    ) -> tuple[DrainResult, MirrorState]:
        tries = state.tries + 1
        now = self._clock()
        state = replace(state, tries=tries, last_error=reason[:500], last_error_at=now)
        if tries >= self._max_tries:
            log.error("Mirror %s: %d item(s) poisoned after %d tries: %s",
                      mask(sender), len(items), tries, reason)  # fmt: skip
            state = self._record(sender, replace(state, tries=0))  # before the items go
            self._journal.poison(sender, items, f"{tries} tries: {reason}")
            return DrainResult(pushed, poisoned + len(items), retry_in=0.0), state
        delay = retry_delay(tries)
        log.warning("Mirror %s: try %d failed (%s); again in %.0f s", mask(sender), tries, reason,
                    delay)  # fmt: skip
        return DrainResult(pushed, poisoned, retry_in=delay), state
