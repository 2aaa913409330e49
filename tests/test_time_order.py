"""Per pair, time never goes backwards (issue 19, item 3), against Azurite under concurrency.

Eight clients change ten recipients of one sender at once, through the API's service (add and
remove) and through keywords whose SMS timestamps are a little in the past (as a carrier's
are). Conflicts make changes wait and commit later than they were asked for. Then, for every
pair:
- the change events' `time` order is their `sequence` order (strictly increasing);
- the history rows that say a change was made carry the same times;
- as-of at now, from the history, is what `check` says.

Before the fix each change took its time before the conditional commit (and the history
placed changes at the time its row was written, and recorded no-ops as changes), so a change
that lost a race and committed later kept an earlier time: this test failed on that code.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from azure.data.tables import TableServiceClient

from devhost.testing import Azurite
from shared.domain.changes import OptOutChange
from shared.domain.model import ConcurrencyConflict, HistoryRecord
from shared.domain.phone import PhoneNumber, parse_e164
from shared.domain.sender import parse_sender
from shared.evidence.asof import status_at
from shared.feed.change_feed import ChangeFeed
from shared.inbound.events import InboundSms
from shared.inbound.processor import InboundProcessor
from shared.optouts.service import OptOutService
from shared.tables import TableStore
from tests.fakes import FakeReplies
from tests.test_inbound import SETTINGS

SENDER = parse_sender("+18005550142")
PEOPLE = [parse_e164(f"+1425555{n:04d}") for n in range(7100, 7110)]
CLIENTS = 8
CALLS = 200


class Recording:
    """An EventPublisher that keeps every change it is given (its event: `time` is
    `effective_at`, `sequence` is `version`)."""

    def __init__(self) -> None:
        self.changes: list[OptOutChange] = []
        self._lock = threading.Lock()

    def publish(self, changes: Sequence[OptOutChange]) -> None:
        with self._lock:
            self.changes.extend(changes)


def history_of(store: TableStore, person: PhoneNumber) -> list[HistoryRecord]:
    rows, token = [], None
    while True:
        page, token = store.history.history_page(SENDER, person, token=token)
        rows += page
        if token is None:
            return rows


def test_time_order_is_sequence_order_and_as_of_now_is_check(azurite: Azurite) -> None:
    name = f"Order{uuid.uuid4().hex[:8]}"
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    store = TableStore(service, name, name + "H", name + "P")
    store.ensure_tables()
    published = Recording()
    feed = ChangeFeed(store.feed, published, sweep_grace=timedelta(0))
    api = OptOutService(store.optouts, store.history, feed)
    inbound = InboundProcessor(
        store.optouts, store.history, store.programs, FakeReplies(), SETTINGS, feed=feed
    )
    rng = random.Random(19)
    jobs = [(n, rng.random(), rng.sample(PEOPLE, rng.choice((1, 2)))) for n in range(CALLS)]

    def run(job: tuple[int, float, list[PhoneNumber]]) -> None:
        n, dice, who = job
        for _ in range(20):  # the host (or the client) retries what gave up on conflicts
            try:
                if dice < 0.35:
                    api.add(SENDER, who)
                elif dice < 0.7:
                    api.remove(SENDER, who)
                else:  # a keyword sent a few milliseconds ago
                    text = "STOP" if dice < 0.85 else "START"
                    sent = datetime.now(UTC) - timedelta(milliseconds=rng.uniform(0, 30))
                    inbound.handle(
                        InboundSms(f"m{n}", f"e{n}", SENDER.key, who[0].e164, text, sent)
                    )
                return
            except ConcurrencyConflict:
                continue
        raise AssertionError("gave up")

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(run, jobs))

    now = datetime.now(UTC) + timedelta(seconds=1)
    checked = store.optouts.opted_out(SENDER, PEOPLE)
    by_pair: dict[str, list[OptOutChange]] = {}
    for change in {c.event_id: c for c in published.changes}.values():
        by_pair.setdefault(change.recipient, []).append(change)
    backwards, disagree, histories = [], [], {}
    for person in PEOPLE:
        changes = sorted(by_pair.get(person.e164, []), key=lambda c: c.version)
        assert [c.version for c in changes] == list(range(1, len(changes) + 1))
        times = [c.effective_at for c in changes]
        if any(later <= earlier for earlier, later in pairwise(times)):
            backwards.append(person.e164)
        histories[person.e164] = history = history_of(store, person)
        if status_at(history, now).opted_out != (person.e164 in checked):
            disagree.append(person.e164)
    assert backwards == [], "a later change (by sequence) stamped earlier"
    assert disagree == [], "as-of at now says otherwise than check"
    for person, history in histories.items():  # the rows of changes carry the changes' times
        times = [c.effective_at for c in sorted(by_pair.get(person, []), key=lambda c: c.version)]
        assert sorted(r.effective_at for r in history if r.effective_at is not None) == times
    assert sum(len(v) for v in by_pair.values()) > 50  # the clients did change things
