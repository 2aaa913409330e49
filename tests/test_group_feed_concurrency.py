"""Group-wide events under concurrency and what they cost, on Azurite: concurrent STOP/START
texts for the same people to several senders of one revoke-all group, replayed from the
events queue by `sequence`, give exactly the group table's final state; and the exact storage
requests of a revoke-all STOP."""

from __future__ import annotations

import contextlib
import random
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueClient

from devhost.inprocess import StorageRecorder
from devhost.testing import Azurite
from shared.domain.model import ConcurrencyConflict
from shared.domain.phone import parse_e164
from shared.domain.sender import parse_sender
from shared.feed.change_feed import ChangeFeed
from shared.feed.publishers import QueuePublisher
from shared.inbound.bursts import Bursts
from shared.inbound.events import InboundSms
from shared.inbound.processor import InboundProcessor
from shared.inbound.program_cache import CachedPrograms
from shared.platform.connections import QUEUE_API_VERSION
from shared.tables import TableStore
from tests.fakes import FakeReplies
from tests.test_group_feed_azurite import drain
from tests.test_groups_azurite import GROUPED, SETTINGS, T0, A, B

C = "+18005550113"


def rig(azurite: Azurite, recorder: StorageRecorder | None = None) -> tuple[Any, ...]:
    suffix = uuid.uuid4().hex[:8]
    hook = {"raw_request_hook": recorder} if recorder is not None else {}
    service = TableServiceClient.from_connection_string(azurite.connection_string, **hook)
    names = (f"CcO{suffix}", f"CcH{suffix}", f"CcP{suffix}")
    store = TableStore(service, *names, groups_table=f"CcG{suffix}")
    store.ensure_tables()
    queue = QueueClient.from_connection_string(
        azurite.connection_string, f"cc-{suffix}", api_version=QUEUE_API_VERSION, **hook
    )
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()
    feed = ChangeFeed(
        store.feed, QueuePublisher(queue, "/sms-optout"), groups=store.groups,
        sweep_grace=timedelta(0),
    )  # fmt: skip
    for sender in (A, B, C):
        store.programs.put_program(parse_sender(sender), GROUPED)
    return store, queue, feed


def replayed(events: list[dict[str, Any]]) -> dict[str, tuple[int, str]]:
    """Each person's group events deduplicated by id and applied by `sequence`, as a consumer
    would: (the last sequence, its type). Each sequence must follow the last without a gap,
    and the queue must hold each event's first copy after its predecessor's."""
    replay: dict[str, tuple[int, str]] = {}
    for e in sorted({e["id"]: e for e in events}.values(), key=lambda e: e["sequence"]):
        assert (e["subject"], e["source"]) == ("contoso", "/sms-optout/groups/contoso")
        person = e["data"]["recipient"]
        last = replay.get(person, (0, ""))[0]
        assert int(e["sequence"]) == last + 1, "a gap or a repeat in a group pair's sequence"
        replay[person] = (last + 1, e["type"])
    seen: Counter[str] = Counter()
    for e in events:  # in queue order
        person, seq = e["data"]["recipient"], int(e["sequence"])
        if seq > seen[person]:
            assert seq == seen[person] + 1, "enqueued out of order"
            seen[person] = seq
    return replay


@pytest.mark.parametrize("seed", range(3))
def test_concurrent_group_changes_replay_to_the_group_table(azurite: Azurite, seed: int) -> None:
    store, queue, feed = rig(azurite)
    rng = random.Random(seed)
    people = [f"+1425556{seed}{i:03d}" for i in range(5)]
    jobs = [
        (n, rng.choice((A, B, C)), rng.choice(("STOP", "START")), rng.choice(people))
        for n in range(60)
    ]
    rng.shuffle(jobs)  # texts run out of order: older ones arrive late

    def run(job: tuple[int, str, str, str]) -> None:
        n, sender, text, person = job
        at = T0 + timedelta(seconds=n)
        processor = InboundProcessor(
            store.optouts, store.history, CachedPrograms(store.programs), FakeReplies(),
            SETTINGS, feed=feed, groups=store.groups,
        )  # fmt: skip
        for _ in range(10):  # a lost race raises, and the host delivers the message again
            with contextlib.suppress(ConcurrencyConflict):
                processor.handle(InboundSms(f"m{n}", f"e{n}", sender, person, text, at))
                return
        raise AssertionError("never applied")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(run, jobs))
    feed.sweep()
    events = [e for e in drain(queue) if e["type"].startswith("Sms.OptOut.Group")]
    replay = replayed(events)
    out = {p for p, (_, kind) in replay.items() if kind == "Sms.OptOut.GroupAdded"}
    numbers = [parse_e164(p) for p in people]
    assert out == store.groups.group_opted_out("contoso", numbers)
    # ... which is what each person's newest text said (the group's own ordering).
    newest = {p: max((j for j in jobs if j[3] == p), default=None) for p in people}
    assert out == {p for p, j in newest.items() if j is not None and j[2] == "STOP"}
    rows = store.groups.feed_rows("contoso", people)
    assert {r.recipient: r.version for r in rows if r.version} == {
        p: v for p, (v, _) in replay.items()
    }
    assert all(not r.owed for r in rows)


def by_kind(recorder: StorageRecorder) -> Counter[str]:
    kinds: Counter[str] = Counter()
    for method, path, flt in recorder.requests:
        kind = "event" if path.endswith("/messages") else "transaction"
        kind = {"GET": "query" if flt else "read", "PATCH": "history"}.get(method, kind)
        kinds["history" if "/CcH" in path else kind] += 1
    return kinds


def test_what_a_revoke_all_stop_costs(azurite: Azurite) -> None:
    """Exact requests of a STOP to a revoke-all sender (programs cached, not in a burst)."""
    recorder = StorageRecorder()
    store, queue, feed = rig(azurite, recorder)
    programs = CachedPrograms(store.programs)
    for sender in (B, C):
        programs.get_program(parse_sender(sender))  # read once per 30 s: not counted here
    processor = InboundProcessor(
        store.optouts, store.history, programs, FakeReplies(), SETTINGS,
        feed=feed, groups=store.groups, bursts=Bursts(window=0),
    )  # fmt: skip

    def cost(sender: str, text: str, n: int, person: str = "+14255550123") -> Counter[str]:
        recorder.clear()
        processor.handle(InboundSms(f"m{n}", f"e{n}", sender, person, text, T0 + timedelta(n)))
        return by_kind(recorder)

    first = cost(A, "STOP", 1, "+14255550999")  # reads the program and the group's senders
    assert first["query"] == 1 and first["event"] == 2
    # sender: feed+state rows, entry, owed marker, transaction, event, clear; the same in the
    # group's partition; the history row (its creation claims the reply) and the reply status:
    # two transactions too (each writes the row and its time copy, `shared/tables/history.py`).
    assert cost(A, "STOP", 2) == {"read": 6, "transaction": 6 + 2, "event": 2}
    assert cost(B, "STOP", 3) == {"read": 6, "transaction": 4 + 2, "event": 1}
    # no change, no owed marker: the state rows only
    assert cost(A, "STOP", 4) == {"read": 6, "transaction": 2 + 2}
    # C never had its own entry: its START changes only the group-wide one (and the state rows)
    assert cost(C, "START", 5) == {"read": 6, "transaction": 4 + 2, "event": 1}
    assert cost(A, "START", 6) == {"read": 6, "transaction": 4 + 2, "event": 1}
    assert [(e["type"], e["subject"]) for e in drain(queue)] == [
        ("Sms.OptOut.Added", A),  # the first STOP, another person
        ("Sms.OptOut.GroupAdded", "contoso"),
        ("Sms.OptOut.Added", A),
        ("Sms.OptOut.GroupAdded", "contoso"),
        ("Sms.OptOut.Added", B),
        ("Sms.OptOut.GroupRemoved", "contoso"),
        ("Sms.OptOut.Removed", A),
    ]
