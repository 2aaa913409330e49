"""Re-enqueueing Event Grid dead-lettered events onto `sms-inbound`.

Event Grid retries a delivery to the inbound queue for up to 24 hours (or 30 attempts); after
that, or at once on a 400/413 answer, it writes the event to the subscription's dead-letter
blob container instead of dropping it. Such an event may be a STOP, so an operator re-enqueues
the container once the cause is fixed.

The format is Event Grid's (docs: "Event Grid message delivery and retry", "Set dead-letter
location and retry policy"):

- blob names are `<SUBSCRIPTION NAME IN UPPER CASE>/<year>/<month>/<day>/<hour>/<guid>.json`
  (UTC, not zero-padded); the whole container is read, so the prefix does not matter;
- each blob holds a JSON array of one or more events, each the original event plus
  `deadLetterReason`, `deliveryAttempts`, `lastDeliveryOutcome`, `publishTime`,
  `lastDeliveryAttemptTime` (CloudEvents schema: the same names in lower case), and on newer
  service versions `lastHttpStatusCode`.

Each event goes back onto the queue exactly as Event Grid would have put it there (the event
object without the dead-letter fields), so the inbound handler needs no special case. A blob
is deleted only after every one of its events was enqueued, and only if nobody changed it in
between (ETag); a failure leaves it for the next replay. Inbound processing is idempotent per
message id, so an event enqueued twice (enqueued, then the blob not deleted) changes state and
is answered once. Items that can never be enqueued (not an event object, or larger than a queue
message) keep their blob in place for inspection: their good neighbours are still enqueued.

The clients are the caller's, and azure-core is imported by the first replay: importing this
module (the admin endpoints do) loads no SDK.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.domain.model import StorageUnavailable
from shared.inbound.events import MAX_MESSAGE_BYTES

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient
    from azure.storage.queue import QueueClient

log = logging.getLogger(__name__)

DEADLETTER_CONTAINER = "sms-inbound-deadletter"
MAX_REPLAY = 1000

# What Event Grid adds to a dead-lettered event, compared case-insensitively (Event Grid schema
# uses camelCase, CloudEvents lower case).
DEADLETTER_FIELDS = frozenset(
    {
        "deadletterreason",
        "deliveryattempts",
        "lastdeliveryoutcome",
        "lasthttpstatuscode",
        "publishtime",
        "lastdeliveryattempttime",
    }
)


@dataclass(frozen=True)
class DeadLetteredEvent:
    message: str  # the original event, as the queue message Event Grid would have written
    reason: str  # deadLetterReason, e.g. MaxDeliveryAttemptsExceeded, TimeToLiveExceeded
    outcome: str  # lastDeliveryOutcome, e.g. Unauthorized, NotFound, Forbidden


@dataclass(frozen=True)
class DeadLetterBlob:
    events: tuple[DeadLetteredEvent, ...]
    unusable: int  # items that can never be enqueued (the blob is kept for inspection)


@dataclass(frozen=True)
class ReplayResult:
    replayed: int  # events put on the inbound queue
    blobs_deleted: int
    blobs_kept: tuple[str, ...]  # blobs holding items that cannot be enqueued


def parse_deadletter_blob(data: bytes) -> DeadLetterBlob:
    """The events of one dead-letter blob. Never raises: what cannot be read is `unusable`."""
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        return DeadLetterBlob(events=(), unusable=1)
    items = doc if isinstance(doc, list) else [doc]
    events = [_event(item) for item in items]
    usable = tuple(e for e in events if e is not None)
    return DeadLetterBlob(events=usable, unusable=len(events) - len(usable))


def _event(item: Any) -> DeadLetteredEvent | None:
    if not isinstance(item, dict) or not item:
        return None
    original = {k: v for k, v in item.items() if k.lower() not in DEADLETTER_FIELDS}
    if not original:
        return None
    message = json.dumps(original, ensure_ascii=False, separators=(",", ":"))
    if len(message.encode("utf-8")) > MAX_MESSAGE_BYTES:
        return None
    meta = {k.lower(): v for k, v in item.items() if k.lower() in DEADLETTER_FIELDS}
    return DeadLetteredEvent(
        message=message,
        reason=str(meta.get("deadletterreason", "")),
        outcome=str(meta.get("lastdeliveryoutcome", "")),
    )


def replay_deadletters(
    container: ContainerClient, queue: QueueClient, limit: int = MAX_REPLAY
) -> ReplayResult:
    """Re-enqueue up to `limit` dead-lettered events, oldest blobs first, a blob always whole
    (the first one even when it holds more than `limit`, so that every call makes progress)."""
    from azure.core.exceptions import AzureError

    replayed, deleted, kept = 0, 0, []
    try:
        for name, etag, blob in _blobs(container):
            if replayed and replayed + len(blob.events) > limit:
                break
            for event in blob.events:
                queue.send_message(event.message)
                replayed += 1
            _log_reasons(name, blob)
            if blob.unusable:
                kept.append(name)
            elif _delete(container, name, etag):
                deleted += 1
            if replayed >= limit:
                break
    except AzureError as exc:
        log.error("Dead-letter replay stopped after %d event(s): %s", replayed, type(exc).__name__)
        if replayed == 0:
            raise StorageUnavailable(f"storage failed: {type(exc).__name__}") from exc
    log.info("Replayed %d dead-lettered event(s); %d blob(s) deleted", replayed, deleted)
    return ReplayResult(replayed=replayed, blobs_deleted=deleted, blobs_kept=tuple(kept))


def _blobs(container: ContainerClient) -> Iterator[tuple[str, str, DeadLetterBlob]]:
    """(name, etag, parsed content) of each blob; a blob that vanished meanwhile is skipped."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        listed = sorted(
            ((b.creation_time, _path_key(b.name)), b.name) for b in container.list_blobs()
        )
    except ResourceNotFoundError:
        return  # no container: nothing was ever dead-lettered
    for _, name in listed:
        try:
            download = container.download_blob(name)
            data = download.readall()
        except ResourceNotFoundError:
            continue  # replayed and deleted by a concurrent replay
        yield name, str(download.properties.etag), parse_deadletter_blob(data)


def _path_key(name: str) -> tuple[tuple[int, str], ...]:
    """Oldest first: the date parts of a name are not zero-padded (`.../2026/11/9/7/...`)."""
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in name.split("/"))


def _delete(container: ContainerClient, name: str, etag: str) -> bool:
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

    try:
        container.delete_blob(name, etag=etag, match_condition=MatchConditions.IfNotModified)
    except (ResourceNotFoundError, ResourceModifiedError):
        return False  # a concurrent replay got there first, or the blob changed: leave it
    return True


def _log_reasons(name: str, blob: DeadLetterBlob) -> None:
    reasons = sorted({f"{e.reason}/{e.outcome}" for e in blob.events})
    if blob.unusable:
        log.warning(
            "Dead-letter blob %s: %d item(s) cannot be enqueued; kept for inspection",
            name,
            blob.unusable,
        )
    log.info("Dead-letter blob %s: %d event(s), %s", name, len(blob.events), ", ".join(reasons))
