"""Re-enqueueing Event Grid dead-lettered events (shared/inbound/deadletter.py).

Blobs are written exactly as Event Grid writes them (container/<SUBSCRIPTION>/<y>/<m>/<d>/<h>/
<guid>.json, a JSON array of events carrying deadLetterReason, deliveryAttempts,
lastDeliveryOutcome, publishTime, lastDeliveryAttemptTime), into a real Azurite; what lands on the
queue must be what the inbound handler parses.
"""

from __future__ import annotations

import contextlib
import copy
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError, ServiceRequestError
from azure.storage.blob import BlobServiceClient, ContainerClient
from azure.storage.queue import QueueClient
from hypothesis import given
from hypothesis import strategies as st

from devhost.inprocess import TEST_KEY, app_against, call
from devhost.testing import ACCOUNT, ACCOUNT_KEY, Azurite, free_port
from shared.domain.model import StorageUnavailable
from shared.inbound.deadletter import (
    DEADLETTER_CONTAINER,
    DEADLETTER_FIELDS,
    parse_deadletter_blob,
    replay_deadletters,
)
from shared.inbound.deadletter import _delete as delete_if_unchanged
from shared.inbound.events import MAX_MESSAGE_BYTES, parse_queue_message
from shared.platform.connections import BLOB_API_VERSION, QUEUE_API_VERSION

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SUBSCRIPTION = "sms-inbound-abc123"
WHEN = datetime(2026, 11, 9, 7, 5, tzinfo=UTC)


def sms_event(n: int, schema: str = "eventgrid", text: str = "STOP") -> dict[str, Any]:
    event = json.loads((FIXTURES / f"sms-received.{schema}.json").read_text(encoding="utf-8"))
    event["id"] = f"Incoming_dl_{n}"
    data = event["data"]
    key = {k.lower(): k for k in data}
    data[key["messageid"]] = f"Incoming_dl_{n}"
    data[key["from"]] = f"1425555{n:04d}"
    data[key["to"]] = "18005550100"
    data[key["message"]] = text
    return event


def deadlettered(event: dict[str, Any], schema: str = "eventgrid") -> dict[str, Any]:
    """The event as Event Grid writes it to the dead-letter blob."""
    fields = {
        "deadLetterReason": "MaxDeliveryAttemptsExceeded",
        "deliveryAttempts": 30,
        "lastDeliveryOutcome": "Unauthorized",
        "publishTime": "2026-11-08T07:00:01.0265758Z",
        "lastDeliveryAttemptTime": "2026-11-09T07:00:02.0465788Z",
    }
    if schema == "cloudevents":  # CloudEvents dead-letter fields are lower case
        fields = {k.lower(): v for k, v in fields.items() if k != "lastDeliveryAttemptTime"}
    return {**copy.deepcopy(event), **fields}


def blob_name(when: datetime = WHEN) -> str:
    # Upper-case subscription name, then the UTC date and hour without zero padding.
    return (
        f"{SUBSCRIPTION.upper()}/{when.year}/{when.month}/{when.day}/{when.hour}/"
        f"{uuid.uuid4()}.json"
    )


# --- Parsing (no storage) ----------------------------------------------------------------------


@pytest.mark.parametrize("schema", ["eventgrid", "cloudevents"])
def test_a_deadlettered_event_becomes_the_original_queue_message(schema: str) -> None:
    originals = [sms_event(1, schema), sms_event(2, schema, text="START")]
    data = json.dumps([deadlettered(e, schema) for e in originals]).encode()
    blob = parse_deadletter_blob(data)
    assert blob.unusable == 0
    assert [json.loads(e.message) for e in blob.events] == originals
    assert {e.reason for e in blob.events} == {"MaxDeliveryAttemptsExceeded"}
    assert {e.outcome for e in blob.events} == {"Unauthorized"}
    parsed = [parse_queue_message(e.message) for e in blob.events]
    assert [(p.message_id, p.recipient, p.sender, p.text) for p in parsed] == [
        ("Incoming_dl_1", "+14255550001", "+18005550100", "STOP"),
        ("Incoming_dl_2", "+14255550002", "+18005550100", "START"),
    ]


def test_items_that_cannot_be_enqueued_are_counted_not_dropped_silently() -> None:
    good = deadlettered(sms_event(1))
    huge = deadlettered(sms_event(2, text="x" * MAX_MESSAGE_BYTES))
    only_dl_fields = {"deadLetterReason": "TimeToLiveExceeded"}
    data = json.dumps([good, "not an event", 7, {}, only_dl_fields, huge]).encode()
    blob = parse_deadletter_blob(data)
    assert [json.loads(e.message)["id"] for e in blob.events] == ["Incoming_dl_1"]
    assert blob.unusable == 5


@pytest.mark.parametrize("data", [b"", b"not json", b"\xff\xfe", b"[1, 2", b"null", b'"text"'])
def test_an_unreadable_blob_is_unusable(data: bytes) -> None:
    blob = parse_deadletter_blob(data)
    assert blob.events == ()
    assert blob.unusable == 1


def test_a_single_object_and_a_bom_are_accepted() -> None:
    data = "\ufeff".encode() + json.dumps(deadlettered(sms_event(3))).encode()
    blob = parse_deadletter_blob(data)
    assert [json.loads(e.message) for e in blob.events] == [sms_event(3)]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


@given(
    original=st.dictionaries(
        st.text(min_size=1, max_size=12).filter(lambda k: k.lower() not in DEADLETTER_FIELDS),
        json_values,
        min_size=1,
        max_size=6,
    ),
    extra=st.dictionaries(st.sampled_from(sorted(DEADLETTER_FIELDS)), json_values, max_size=6),
)
def test_stripping_the_deadletter_fields_gives_back_the_original(
    original: dict[str, Any], extra: dict[str, Any]
) -> None:
    blob = parse_deadletter_blob(json.dumps([{**original, **extra}]).encode())
    assert [json.loads(e.message) for e in blob.events] == [original]


# --- Replaying against Azurite -------------------------------------------------------------------


@pytest.fixture
def storage(azurite: Azurite) -> Iterator[tuple[ContainerClient, QueueClient]]:
    suffix = uuid.uuid4().hex[:8]
    blobs = BlobServiceClient.from_connection_string(
        azurite.connection_string, api_version=BLOB_API_VERSION
    )
    container = blobs.get_container_client(f"deadletter-{suffix}")
    container.create_container()
    queue = QueueClient.from_connection_string(
        azurite.connection_string, f"inbound-{suffix}", api_version=QUEUE_API_VERSION
    )
    queue.create_queue()
    yield container, queue
    container.delete_container()
    queue.delete_queue()


def put(container: ContainerClient, *events: dict[str, Any], hour: int = WHEN.hour) -> str:
    name = blob_name(WHEN.replace(hour=hour))
    container.upload_blob(name, json.dumps([deadlettered(e) for e in events]).encode())
    return name


def queued(queue: QueueClient) -> list[str]:
    return [m.content for m in queue.receive_messages(messages_per_page=32, max_messages=100)]


def blob_names(container: ContainerClient) -> set[str]:
    return {b.name for b in container.list_blobs()}


def test_replay_enqueues_every_event_then_deletes_the_blobs(storage: Any) -> None:
    container, queue = storage
    put(container, sms_event(1), sms_event(2))
    put(container, sms_event(3, "cloudevents"))
    result = replay_deadletters(container, queue)
    assert (result.replayed, result.blobs_deleted, result.blobs_kept) == (3, 2, ())
    assert blob_names(container) == set()
    ids = sorted(parse_queue_message(m).message_id for m in queued(queue))
    assert ids == ["Incoming_dl_1", "Incoming_dl_2", "Incoming_dl_3"]
    again = replay_deadletters(container, queue)
    assert (again.replayed, again.blobs_deleted) == (0, 0)


def test_a_blob_with_an_unusable_item_is_kept_but_its_stop_still_goes_through(
    storage: Any,
) -> None:
    container, queue = storage
    name = blob_name()
    content = [deadlettered(sms_event(1)), "garbage"]
    container.upload_blob(name, json.dumps(content).encode())
    result = replay_deadletters(container, queue)
    assert (result.replayed, result.blobs_deleted, result.blobs_kept) == (1, 0, (name,))
    assert blob_names(container) == {name}
    assert [parse_queue_message(m).text for m in queued(queue)] == ["STOP"]


def test_limit_counts_events_and_blobs_are_never_split(storage: Any) -> None:
    container, queue = storage
    for n in range(3):
        put(container, sms_event(2 * n), sms_event(2 * n + 1))
    first = replay_deadletters(container, queue, limit=3)
    assert (first.replayed, first.blobs_deleted) == (2, 1)  # a second blob would make 4 > 3
    tiny = replay_deadletters(container, queue, limit=1)
    assert (tiny.replayed, tiny.blobs_deleted) == (2, 1)  # the first blob is always done whole
    rest = replay_deadletters(container, queue, limit=1000)
    assert (rest.replayed, rest.blobs_deleted) == (2, 1)
    assert len(queued(queue)) == 6


def test_no_container_means_nothing_to_replay(azurite: Azurite) -> None:
    blobs = BlobServiceClient.from_connection_string(
        azurite.connection_string, api_version=BLOB_API_VERSION
    )
    queue = QueueClient.from_connection_string(
        azurite.connection_string, "unused", api_version=QUEUE_API_VERSION
    )
    result = replay_deadletters(blobs.get_container_client(f"none-{uuid.uuid4().hex[:8]}"), queue)
    assert (result.replayed, result.blobs_deleted, result.blobs_kept) == (0, 0, ())


def test_queue_unreachable_keeps_every_blob_and_says_so(storage: Any, azurite: Azurite) -> None:
    container, _ = storage
    name = put(container, sms_event(1))
    missing = QueueClient.from_connection_string(
        azurite.connection_string, f"missing-{uuid.uuid4().hex[:8]}", api_version=QUEUE_API_VERSION
    )
    with pytest.raises(StorageUnavailable):
        replay_deadletters(container, missing)
    assert blob_names(container) == {name}


class QueueFailingAfter:
    """The real queue, failing (as a network error would) from the n-th send on."""

    def __init__(self, queue: QueueClient, n: int) -> None:
        self.queue, self.left = queue, n

    def send_message(self, content: str) -> Any:
        if self.left == 0:
            raise ServiceRequestError("connection reset")
        self.left -= 1
        return self.queue.send_message(content)


def test_a_failure_midway_deletes_only_fully_enqueued_blobs(storage: Any) -> None:
    container, queue = storage
    # Hours 9 and 10: by name "10" < "9", so this also checks the replay goes oldest first.
    first = put(container, sms_event(1), hour=9)
    second = put(container, sms_event(2), sms_event(3), hour=10)
    result = replay_deadletters(container, QueueFailingAfter(queue, 2), limit=10)  # type: ignore[arg-type]
    assert (result.replayed, result.blobs_deleted) == (2, 1)
    assert blob_names(container) == {second} and first not in blob_names(container)
    # The next replay sends event 2 again: harmless, inbound processing dedupes by message id.
    retry = replay_deadletters(container, queue)
    assert (retry.replayed, retry.blobs_deleted) == (2, 1)
    ids = [parse_queue_message(m).message_id for m in queued(queue)]
    assert sorted(ids) == ["Incoming_dl_1", "Incoming_dl_2", "Incoming_dl_2", "Incoming_dl_3"]


def test_a_blob_changed_after_it_was_read_is_not_deleted(storage: Any) -> None:
    container, _ = storage
    name = put(container, sms_event(1))
    stale = str(container.get_blob_client(name).get_blob_properties().etag)
    container.upload_blob(name, b"[]", overwrite=True)
    assert delete_if_unchanged(container, name, stale) is False
    assert blob_names(container) == {name}
    fresh = str(container.get_blob_client(name).get_blob_properties().etag)
    assert delete_if_unchanged(container, name, fresh) is True
    assert delete_if_unchanged(container, name, fresh) is False  # already gone


# --- Through the app's HTTP function (in process) ----------------------------------------------


def test_storage_outage_during_replay_is_503(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()  # nothing listens there
    dead = (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
        f"QueueEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
        f"TableEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
    )
    env = {"AzureWebJobsStorage": dead, "OPTOUT_ACCESS_KEYS": TEST_KEY}
    with app_against(env, monkeypatch):
        status, res = call("POST", "sms/inbound/deadletter:replay", query="limit=5")
    assert status == 503
    assert res["error"]["code"] == "ServiceUnavailable"


def test_replay_through_the_function_reports_what_it_did(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs = BlobServiceClient.from_connection_string(
        azurite.connection_string, api_version=BLOB_API_VERSION
    )
    container = blobs.get_container_client(DEADLETTER_CONTAINER)
    with contextlib.suppress(ResourceExistsError):
        container.create_container()
    for existing in container.list_blobs():  # other tests may have left theirs
        container.delete_blob(existing.name)
    inbound = QueueClient.from_connection_string(
        azurite.connection_string, "sms-inbound", api_version=QUEUE_API_VERSION
    )
    with contextlib.suppress(ResourceExistsError):
        inbound.create_queue()
    kept = blob_name()
    container.upload_blob(kept, json.dumps([deadlettered(sms_event(1)), 42]).encode())
    put(container, sms_event(2), sms_event(3))
    env = {"AzureWebJobsStorage": azurite.connection_string, "OPTOUT_ACCESS_KEYS": TEST_KEY}
    with app_against(env, monkeypatch):
        unsigned, _ = call("POST", "sms/inbound/deadletter:replay", query="", key=None)
        status, res = call("POST", "sms/inbound/deadletter:replay", query="")
    try:
        assert unsigned == 401
        assert status == 200
        assert res == {"replayed": 3, "blobsDeleted": 1, "blobsKept": [kept]}
        assert len(queued(inbound)) == 3
    finally:  # leave the shared queue and container as found (the end-to-end tests use them)
        inbound.clear_messages()
        container.delete_blob(kept)
