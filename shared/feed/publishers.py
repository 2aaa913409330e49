"""Publishing opt-out change events: CloudEvents 1.0, structured JSON, to a storage queue and,
when configured, an Event Grid custom topic or namespace topic.

Publishing is at least once: a publisher raises `PublishFailed` when any destination refused or
could not be reached, and the caller keeps the change owed (the outbox) and tries again later.
A retry sends the same event again (same id), so consumers dedupe on `id`.

azure-eventgrid (and azure-identity) are imported only when an Event Grid client is made, i.e.
when a topic is configured; the queue client comes from the caller.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.core.messaging import CloudEvent

from shared.domain.changes import OptOutChange
from shared.feed.settings import FeedSettings

if TYPE_CHECKING:
    from azure.eventgrid import EventGridPublisherClient
    from azure.storage.queue import QueueClient

log = logging.getLogger(__name__)

SPEC_VERSION = "1.0"
JSON_CONTENT_TYPE = "application/json"
# Event Grid accepts at most 1 MB per request; our events are < 1 KB, so 100 is far below.
EVENT_GRID_BATCH = 100
# The topic client's own retries and timeouts: fail fast, the outbox keeps the events owed
# (the sweep retries). azure-core's defaults (3 more tries, 0.8 s back-off doubling) held
# every inline publish ~5 s while a topic was down. Two tries at most, ~0.2 s apart.
EVENT_GRID_CLIENT_OPTIONS: dict[str, Any] = {
    "retry_total": 1,
    "retry_backoff_factor": 0.2,
    "connection_timeout": 3,
    "read_timeout": 5,
}


class PublishFailed(Exception):
    """A destination did not accept the events; they stay owed and are retried."""


def to_cloud_event(change: OptOutChange, service_source: str) -> CloudEvent:
    """The change as an `azure.core` CloudEvent (what `azure-eventgrid` sends)."""
    return CloudEvent(
        source=change.event_source(service_source),
        type=str(change.kind),
        data=change.data(),
        subject=change.partition,
        time=change.effective_at,
        id=change.event_id,
        datacontenttype=JSON_CONTENT_TYPE,
        extensions={"sequence": change.sequence},
    )


def structured(event: CloudEvent) -> dict[str, Any]:
    """The CloudEvents 1.0 JSON structured-mode form of an event (what the queue carries)."""
    body: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "subject": event.subject,
        "time": event.time.isoformat().replace("+00:00", "Z") if event.time else None,
        "datacontenttype": event.datacontenttype,
        **(event.extensions or {}),
        "data": event.data,
    }
    return {k: v for k, v in body.items() if v is not None}


def event_json(change: OptOutChange, service_source: str) -> str:
    return json.dumps(structured(to_cloud_event(change, service_source)), separators=(",", ":"))


class EventPublisher(Protocol):
    def publish(self, changes: Sequence[OptOutChange]) -> None:
        """Publish one event per change, in the given order; raise PublishFailed if any
        destination did not take them all."""
        ...


class QueuePublisher:
    """One message per event (its JSON text, not base64) on a storage queue, created if
    missing. Each sender/recipient's (or group/recipient's) events are sent one after the other,
    in the given order; different pairs in parallel."""

    def __init__(self, queue: QueueClient, service_source: str, parallel: int = 16) -> None:
        self._queue = queue
        self._source = service_source
        self._ready = False
        self._pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="events")

    def _ensure(self) -> None:
        if not self._ready:
            with contextlib.suppress(ResourceExistsError):
                self._queue.create_queue()
            self._ready = True

    def publish(self, changes: Sequence[OptOutChange]) -> None:
        if not changes:
            return
        pairs: dict[tuple[str, str, str], list[str]] = {}
        for change in changes:
            pairs.setdefault(change.stream, []).append(event_json(change, self._source))
        try:
            self._ensure()
            if len(pairs) == 1:  # one pair (a keyword event): no hand-off to another thread
                self._send_all(next(iter(pairs.values())))
            else:
                list(self._pool.map(self._send_all, pairs.values()))
        except AzureError as exc:
            raise PublishFailed(f"queue {self._queue.queue_name}: {type(exc).__name__}") from exc

    def _send_all(self, texts: list[str]) -> None:
        for text in texts:
            self._send(text)

    def _send(self, text: str) -> None:
        try:
            self._queue.send_message(text)
        except ResourceNotFoundError:
            # Deleted since we created it: create it again, once.
            self._ready = False
            self._ensure()
            self._queue.send_message(text)


class EventGridPublisher:
    """CloudEvents to an Event Grid custom topic or namespace topic (batched)."""

    def __init__(self, client: EventGridPublisherClient, service_source: str) -> None:
        self._client = client
        self._source = service_source

    def publish(self, changes: Sequence[OptOutChange]) -> None:
        events = [to_cloud_event(c, self._source) for c in changes]
        try:
            for i in range(0, len(events), EVENT_GRID_BATCH):
                self._client.send(events[i : i + EVENT_GRID_BATCH])
        except AzureError as exc:
            raise PublishFailed(f"Event Grid: {type(exc).__name__}") from exc


class FanoutPublisher:
    """Every destination gets every event; a failure of any one raises (so the change stays
    owed, and the destinations that took it see it again, with the same id)."""

    def __init__(self, publishers: Sequence[EventPublisher]) -> None:
        self._publishers = list(publishers)

    def publish(self, changes: Sequence[OptOutChange]) -> None:
        for publisher in self._publishers:
            publisher.publish(changes)


def event_grid_client(settings: FeedSettings, **client_kwargs: Any) -> EventGridPublisherClient:
    """A key when `OPTOUT_EVENTS_TOPIC_KEY` is set (local), otherwise the managed identity.
    `client_kwargs` (retries, timeouts, transport) apply to both kinds of topic.

    azure-eventgrid 4.22's `EventGridPublisherClient` drops them for a basic (custom) topic: it
    wraps the basic-tier client without passing them on. That wrapped client is the SDK's own
    basic-tier publisher (`azure.eventgrid._legacy`, the 4.x client, same `send`): it is built
    directly here, with them (tests/test_feed_events.py proves they apply)."""
    from azure.eventgrid import EventGridPublisherClient

    credential: Any
    if settings.topic_key:
        from azure.core.credentials import AzureKeyCredential

        credential = AzureKeyCredential(settings.topic_key)
    else:
        from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

        credential = (
            ManagedIdentityCredential(client_id=settings.client_id)
            if settings.client_id
            else DefaultAzureCredential()
        )
    kwargs: dict[str, Any] = dict(client_kwargs)
    if settings.topic_name:
        kwargs["namespace_topic"] = settings.topic_name
        return EventGridPublisherClient(settings.topic_endpoint, credential, **kwargs)
    from azure.eventgrid._legacy import EventGridPublisherClient as BasicTopicClient

    return BasicTopicClient(settings.topic_endpoint, credential, **kwargs)  # type: ignore[return-value]


def make_publisher(
    settings: FeedSettings,
    queue: QueueClient,
    client_kwargs: Mapping[str, Any] | None = None,
    *,
    parallel: int = 16,
) -> EventPublisher:
    publishers: list[EventPublisher] = [QueuePublisher(queue, settings.event_source, parallel)]
    if settings.topic_enabled:
        options = {**EVENT_GRID_CLIENT_OPTIONS, **(client_kwargs or {})}
        client = event_grid_client(settings, **options)
        publishers.append(EventGridPublisher(client, settings.event_source))
    return publishers[0] if len(publishers) == 1 else FanoutPublisher(publishers)
