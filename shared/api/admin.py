"""Operator replays of inbound events that did not get through, HMAC-authenticated like the API:

- `POST /sms/inbound/poison:replay[?limit=N]`: parked messages (5 failed tries) back to the queue;
- `POST /sms/inbound/deadletter:replay[?limit=N]`: events Event Grid could not deliver to the
  queue (dead-lettered to blobs) onto the queue.

Both are safe to repeat: inbound processing is idempotent per message id.
"""

from __future__ import annotations

from collections.abc import Callable

from shared.api.pipeline import Call, Endpoint, Target
from shared.api.wire import ApiResponse, validation_problem
from shared.domain.access import Permission
from shared.inbound import deadletter, poison


def _limit(call: Call, maximum: int) -> int | ApiResponse:
    raw = call.request.params.get("limit", str(maximum))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= maximum:
        return validation_problem({"limit": [f"Must be a whole number from 1 to {maximum}."]})
    return int(raw)


def limit_target(maximum: int) -> Callable[[Call], Target | ApiResponse]:
    """The `limit` (400 if wrong); a replay has no sender: the permission decides alone."""

    def target(call: Call) -> Target | ApiResponse:
        limit = _limit(call, maximum)
        return limit if isinstance(limit, ApiResponse) else Target(value=limit)

    return target


def replay(call: Call) -> ApiResponse:
    limit: int = call.target.value
    return ApiResponse(200, {"replayed": call.services.replay_poison_messages(limit)})


def replay_deadletters(call: Call) -> ApiResponse:
    limit: int = call.target.value
    result = call.services.replay_deadletters(limit)
    body = {
        "replayed": result.replayed,
        "blobsDeleted": result.blobs_deleted,
        "blobsKept": list(result.blobs_kept),
    }
    return ApiResponse(200, body)


ENDPOINTS = [
    Endpoint(
        name="inbound_poison_replay",
        handler=replay,
        permission=Permission.ADMIN,
        target=limit_target(poison.MAX_REPLAY),
    ),
    Endpoint(
        name="inbound_deadletter_replay",
        handler=replay_deadletters,
        permission=Permission.ADMIN,
        target=limit_target(deadletter.MAX_REPLAY),
    ),
]
