"""`POST /sms/inbound/poison:replay[?limit=N]`: parked inbound messages back to the queue."""

from __future__ import annotations

from shared.api.pipeline import Call, Endpoint
from shared.api.wire import ApiResponse, validation_problem
from shared.poison import MAX_REPLAY


def replay(call: Call) -> ApiResponse:
    raw = call.request.params.get("limit", str(MAX_REPLAY))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_REPLAY:
        return validation_problem({"limit": [f"Must be a whole number from 1 to {MAX_REPLAY}."]})
    return ApiResponse(200, {"replayed": call.services.replay_poison_messages(int(raw))})


ENDPOINTS = [
    Endpoint(
        name="inbound_poison_replay",
        route="sms/inbound/poison:replay",
        methods=("POST",),
        handler=replay,
    )
]
