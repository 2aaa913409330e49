"""A burst of STOPs to one sender, delivered at least once and concurrently, against Azurite and
the ACS double: shared transactions (group commit) and shared ACS requests (group send) keep
the guarantees: everyone is opted out, everyone gets exactly one reply, each event has one
history row, and the storage requests per event stay well under the unshared cost."""

from __future__ import annotations

import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from azure.data.tables import TableServiceClient

from devhost.acs_double import AcsDouble
from devhost.inprocess import StorageRecorder
from devhost.testing import Azurite
from shared.domain.phone import parse_e164
from shared.domain.sender import parse_sender
from shared.inbound.events import InboundSms
from shared.inbound.processor import InboundProcessor
from shared.inbound.program_cache import CachedPrograms
from shared.inbound.reply_sender import make_reply_sender
from shared.platform.settings import Settings
from shared.tables import TableStore

BUSINESS = "+18005550100"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
PEOPLE = [f"+1425556{i:04d}" for i in range(60)]


def stop(person: str, n: int) -> InboundSms:
    return InboundSms(
        message_id=f"Incoming_{uuid.uuid4().hex}",
        event_id=f"evt-{n}",
        sender=BUSINESS,
        recipient=person,
        text="STOP",
        received_at=T0 + timedelta(seconds=n),
    )


def test_a_burst_with_duplicates_is_applied_and_answered_exactly_once(azurite: Azurite) -> None:
    suffix = uuid.uuid4().hex[:8]
    recorder = StorageRecorder()
    service = TableServiceClient.from_connection_string(
        azurite.connection_string, raw_request_hook=recorder
    )
    store = TableStore(service, f"BurstOptOuts{suffix}", f"BurstHistory{suffix}", f"Burst{suffix}")
    store.ensure_tables()
    acs = AcsDouble().start()
    try:
        settings = Settings(access_keys=(), acs_connection_string=acs.connection_string)
        proc = InboundProcessor(
            store.optouts,
            store.history,
            CachedPrograms(store.programs),
            make_reply_sender(settings),
            settings,
        )
        events = [stop(p, i) for i, p in enumerate(PEOPLE)]
        deliveries = events + random.Random(7).sample(events, 20)  # 20 delivered twice
        random.Random(8).shuffle(deliveries)
        recorder.clear()
        failed: list[tuple[InboundSms, BaseException]] = []
        lock = threading.Lock()

        def deliver(event: InboundSms) -> None:
            try:
                proc.handle(event)
            except Exception as exc:  # a copy meeting a live claim: the host retries it later
                with lock:
                    failed.append((event, exc))

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(deliver, deliveries))
        requests = recorder.count
        assert {type(exc).__name__ for _, exc in failed} <= {"ReplyInProgress"}
        for event, _ in failed:  # the host's retries, once the claims are done
            assert proc.handle(event).outcome == "duplicate"
    finally:
        acs.stop()
    assert sorted(s.to for s in acs.sent) == sorted(PEOPLE)  # one reply each, no more
    assert acs.requests < len(PEOPLE)  # replies shared requests
    assert store.optouts.opted_out(parse_sender(BUSINESS), [parse_e164(p) for p in PEOPLE]) == set(
        PEOPLE
    )
    rows, _ = store.history.history_page(parse_sender(BUSINESS), page_size=1000)
    assert len(rows) == len(PEOPLE) and {r.reply_status for r in rows} == {"sent"}
    # Under 5 a delivery, duplicates included: the owed marker each change writes first (for the
    # change feed's sweep, shared by concurrent changes of the sender) added up to one to 4.
    assert requests < 5 * len(deliveries)
