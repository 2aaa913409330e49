"""Change events: CloudEvents 1.0 shape, stable ids, and the publishers (queue on Azurite, Event
Grid through a local double that speaks the topic's publish API)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from azure.core.messaging import CloudEvent
from azure.storage.queue import QueueClient
from hypothesis import given
from hypothesis import strategies as st

from devhost.testing import Azurite
from shared.domain.changes import OptOutChange
from shared.domain.model import ChangeKind
from shared.feed.publishers import (
    EventGridPublisher,
    FanoutPublisher,
    PublishFailed,
    QueuePublisher,
    event_grid_client,
    event_json,
    make_publisher,
    structured,
    to_cloud_event,
)
from shared.feed.settings import DEFAULT_EVENTS_QUEUE, FeedSettings
from shared.platform.connections import QUEUE_API_VERSION
from shared.platform.settings import SettingsError

T0 = datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=UTC)


def change(**over: Any) -> OptOutChange:
    fields: dict[str, Any] = {
        "kind": ChangeKind.ADDED,
        "sender": "+18005550100",
        "recipient": "+14255550123",
        "version": 3,
        "effective_at": T0 + timedelta(seconds=1),
        "source": "keyword",
        "country": "US",
        "keyword": "STOP",
        "message_id": "Incoming_1",
        "opted_out_at": T0,
        "actor": "keyword",
    }
    fields.update(over)
    return OptOutChange(**fields)


def test_event_has_every_cloudevents_attribute_and_the_data() -> None:
    body = json.loads(event_json(change(), "/sms-optout"))
    assert body == {
        "specversion": "1.0",
        "id": change().event_id,
        "source": "/sms-optout/senders/+18005550100",
        "type": "Sms.OptOut.Added",
        "subject": "+18005550100",
        "time": "2026-11-26T10:00:01.123456Z",
        "datacontenttype": "application/json",
        "sequence": "00000000000000000003",
        "data": {
            "sender": "+18005550100",
            "recipient": "+14255550123",
            "country": "US",
            "source": "keyword",
            "keyword": "STOP",
            "messageId": "Incoming_1",
            "optedOutAt": "2026-11-26T10:00:00.123456Z",
            "actor": "keyword",
        },
    }
    # It parses back as a CloudEvent (the Azure SDK's reader of structured JSON).
    parsed = CloudEvent.from_dict(body)
    assert (parsed.id, parsed.type, parsed.subject) == (body["id"], body["type"], body["subject"])
    assert parsed.extensions == {"sequence": "00000000000000000003"}


def test_removal_event_has_null_opt_out_fields() -> None:
    removed = change(kind=ChangeKind.REMOVED, keyword="", message_id="", opted_out_at=None)
    data = json.loads(event_json(removed, "/x"))["data"]
    assert json.loads(event_json(removed, "/x"))["type"] == "Sms.OptOut.Removed"
    assert (data["keyword"], data["messageId"], data["optedOutAt"]) == (None, None, None)


def test_id_is_stable_and_distinct_per_change() -> None:
    assert change().event_id == change().event_id
    assert uuid.UUID(change().event_id).version == 5
    others = {
        change(version=4).event_id,
        change(recipient="+14255550124").event_id,
        change(sender="+18005550101").event_id,
        change(effective_at=T0 + timedelta(seconds=2)).event_id,
    }
    assert change().event_id not in others and len(others) == 4
    # Fields that do not identify the change do not change the id.
    assert change(keyword="QUIT").event_id == change().event_id


times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(
    kind=st.sampled_from(ChangeKind),
    version=st.integers(min_value=1, max_value=10**15),
    effective=times,
    opted=st.none() | times,
    keyword=st.sampled_from(["", "STOP", "ARRÊT"]),
)
def test_record_round_trip_keeps_the_event_identical(
    kind: ChangeKind, version: int, effective: datetime, opted: datetime | None, keyword: str
) -> None:
    c = change(
        kind=kind, version=version, effective_at=effective, opted_out_at=opted, keyword=keyword
    )
    again = OptOutChange.from_record(json.loads(json.dumps(c.to_record())))
    assert again == c
    assert event_json(again, "/s") == event_json(c, "/s")


def test_sequence_sorts_as_text() -> None:
    seqs = [change(version=v).sequence for v in (1, 9, 10, 11, 100)]
    assert seqs == sorted(seqs)


def test_settings_defaults_and_validation() -> None:
    s = FeedSettings.from_env({})
    assert (s.queue_name, s.topic_enabled, s.event_source) == (
        DEFAULT_EVENTS_QUEUE,
        False,
        "/sms-optout",
    )
    s = FeedSettings.from_env(
        {
            "OPTOUT_EVENTS_QUEUE_NAME": "My-Events",
            "OPTOUT_EVENTS_TOPIC_ENDPOINT": "https://t.eastus2-1.eventgrid.azure.net/api/events",
        }
    )
    assert (s.queue_name, s.topic_enabled) == ("my-events", True)
    with pytest.raises(SettingsError):
        FeedSettings.from_env({"OPTOUT_EVENTS_QUEUE_NAME": "a_b"})
    with pytest.raises(SettingsError):
        FeedSettings.from_env({"OPTOUT_EVENTS_SWEEP_GRACE_SECONDS": "soon"})


# ---------------------------------------------------------------------------------------------
# The storage queue on Azurite


def _queue(azurite: Azurite, name: str) -> QueueClient:
    return QueueClient.from_connection_string(
        azurite.connection_string, name, api_version=QUEUE_API_VERSION
    )


def test_queue_publisher_creates_the_queue_and_sends_one_json_message_per_event(
    azurite: Azurite,
) -> None:
    name = f"ev{uuid.uuid4().hex[:12]}"
    queue = _queue(azurite, name)
    changes = [change(version=v) for v in (1, 2, 3)]
    QueuePublisher(queue, "/svc").publish(changes)
    bodies = [json.loads(m.content) for m in queue.receive_messages(max_messages=32)]
    assert [b["id"] for b in bodies] == [c.event_id for c in changes]
    assert all(b["source"] == "/svc/senders/+18005550100" for b in bodies)
    queue.delete_queue()  # deleted behind the publisher's back: it creates it again
    QueuePublisher(queue, "/svc").publish(changes[:1])
    assert len(list(queue.receive_messages(max_messages=32))) == 1


def test_queue_publisher_reports_an_unreachable_queue() -> None:
    dead = QueueClient.from_connection_string(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;",
        "q",
        retry_total=0,
        connection_timeout=1,
    )
    with pytest.raises(PublishFailed):
        QueuePublisher(dead, "/svc").publish([change()])


def test_make_publisher_is_the_queue_only_without_a_topic(azurite: Azurite) -> None:
    publisher = make_publisher(FeedSettings(), _queue(azurite, "unused"))
    assert isinstance(publisher, QueuePublisher)


# ---------------------------------------------------------------------------------------------
# Event Grid: a local double of a custom topic's publish endpoint


class TopicDouble:
    """Accepts what a custom topic (`aeg-sas-key`) or a namespace topic (`Authorization:
    SharedAccessKey ...`, POST /topics/<name>:publish) accepts, checking the key."""

    def __init__(self, key: str, fail: int = 0) -> None:
        self.key, self.fail = key, fail
        self.received: list[dict[str, Any]] = []
        self.attempts = 0
        self.content_types: list[str] = []
        self.paths: list[str] = []
        double = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                double.attempts += 1
                keys = {self.headers.get("aeg-sas-key"), self.headers.get("Authorization")}
                if not keys & {double.key, f"SharedAccessKey {double.key}"}:
                    self.send_response(401)
                elif double.fail:
                    double.fail -= 1
                    self.send_response(503)
                else:
                    double.paths.append(self.path)
                    double.content_types.append(self.headers.get("Content-Type", ""))
                    double.received.extend(json.loads(body))
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/events"

    @property
    def namespace_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def topic() -> Iterator[TopicDouble]:
    double = TopicDouble(key="topic-key")
    yield double
    double.server.shutdown()


def test_event_grid_publisher_sends_cloudevents_with_the_key(topic: TopicDouble) -> None:
    settings = FeedSettings(topic_endpoint=topic.endpoint, topic_key="topic-key")
    client = event_grid_client(settings, retry_total=0)
    changes = [change(version=v) for v in range(1, 121)]
    EventGridPublisher(client, "/svc").publish(changes)
    assert [e["id"] for e in topic.received] == [c.event_id for c in changes]
    assert topic.received[0] == structured(to_cloud_event(changes[0], "/svc"))
    assert len(topic.content_types) == 2  # batches of 100
    assert all("cloudevents-batch+json" in ct for ct in topic.content_types)


def test_event_grid_namespace_topic_gets_the_same_events(topic: TopicDouble) -> None:
    settings = FeedSettings(
        topic_endpoint=topic.namespace_endpoint, topic_name="optouts", topic_key="topic-key"
    )
    EventGridPublisher(event_grid_client(settings, retry_total=0), "/svc").publish([change()])
    assert topic.paths[0].startswith("/topics/optouts:publish?")
    assert topic.received == [structured(to_cloud_event(change(), "/svc"))]


@pytest.mark.parametrize("namespace", [False, True], ids=["custom topic", "namespace topic"])
def test_a_down_topic_costs_a_publish_two_quick_tries_not_5_seconds(
    azurite: Azurite, topic: TopicDouble, namespace: bool
) -> None:
    """The app's own publisher (`make_publisher`, as the runtime builds it) gives up after two
    tries ~0.2 s apart: the event stays owed for the sweep. With azure-core's defaults, which
    azure-eventgrid 4.22 silently kept for custom topics, each publish made 4 tries over ~5.6 s."""
    topic.fail = 100
    endpoint = topic.namespace_endpoint if namespace else topic.endpoint
    settings = FeedSettings(
        topic_endpoint=endpoint, topic_name="optouts" if namespace else "", topic_key="topic-key"
    )
    publisher = make_publisher(settings, _queue(azurite, f"ev{uuid.uuid4().hex[:12]}"))
    start = time.monotonic()
    with pytest.raises(PublishFailed):
        publisher.publish([change()])
    assert topic.attempts == 2
    assert time.monotonic() - start < 2.0


def test_fanout_fails_when_the_topic_fails(azurite: Azurite, topic: TopicDouble) -> None:
    topic.fail = 100  # down for longer than the client's own retries (2 tries)
    queue = _queue(azurite, f"ev{uuid.uuid4().hex[:12]}")
    settings = FeedSettings(topic_endpoint=topic.endpoint, topic_key="topic-key")
    publisher = make_publisher(settings, queue, {"retry_total": 1, "retry_backoff_factor": 0})
    assert isinstance(publisher, FanoutPublisher)
    with pytest.raises(PublishFailed):
        publisher.publish([change()])
    topic.fail = 0
    publisher.publish([change()])  # the retry: the queue sees the same id again
    ids = [json.loads(m.content)["id"] for m in queue.receive_messages(max_messages=32)]
    assert ids == [change().event_id] * 2
    assert [e["id"] for e in topic.received] == [change().event_id]
