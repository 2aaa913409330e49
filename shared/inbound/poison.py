"""Replaying parked inbound messages: `sms-inbound-poison` back to `sms-inbound`.

A message lands in the poison queue after `maxDequeueCount` failed tries: a malformed event, or
a valid one that met a long storage or ACS outage. The second kind must not be lost (it may be
a STOP), so an operator replays the queue once the cause is fixed. Processing is idempotent, so
a message moved twice (sent, then not deleted) is harmless; a malformed one simply parks again.
The queue SDK is the caller's; azure-core's errors are imported by the first replay.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from shared.domain.model import StorageUnavailable

if TYPE_CHECKING:
    from azure.storage.queue import QueueServiceClient

log = logging.getLogger(__name__)

INBOUND_QUEUE = "sms-inbound"
POISON_QUEUE = INBOUND_QUEUE + "-poison"
MAX_REPLAY = 1000


def replay_poison(service: QueueServiceClient, limit: int = MAX_REPLAY) -> int:
    """Move up to `limit` messages from the poison queue back to the inbound queue."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError

    source = service.get_queue_client(POISON_QUEUE)
    target = service.get_queue_client(INBOUND_QUEUE)
    moved = 0
    try:
        for message in source.receive_messages(
            messages_per_page=min(32, limit), visibility_timeout=120, max_messages=limit
        ):
            target.send_message(message.content)
            source.delete_message(message)
            moved += 1
    except ResourceNotFoundError:
        pass  # no poison queue yet: nothing was ever parked
    except AzureError as exc:
        log.error("Replay stopped after %d messages: %s", moved, type(exc).__name__)
        if moved == 0:
            raise StorageUnavailable(f"queue storage failed: {type(exc).__name__}") from exc
    log.info("Replayed %d message(s) from %s to %s", moved, POISON_QUEUE, INBOUND_QUEUE)
    return moved
