"""`GET /sms/senders/{sender}/recipients/{recipient}[?at=ISO-TIME&basis=effective|received]`:
was the recipient opted out from the sender at `at` (default: now), with the history events that
decide it. Semantics in `shared/asof.py` and README "Evidence"."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.api.history import history_to_wire
from shared.api.params import phone_param, time_param
from shared.api.pipeline import Call, Endpoint
from shared.api.wire import ApiResponse, validation_problem
from shared.asof import AsOfAnswer, status_at
from shared.model import HistoryRecord, TimeBasis
from shared.phone import PhoneNumber
from shared.repositories import HistoryReader

PAGE = 1000  # history rows per storage request (the Table service's maximum)


def pair_history(
    history: HistoryReader, sender: PhoneNumber, recipient: PhoneNumber
) -> list[HistoryRecord]:
    """Every history row of one sender/recipient pair: a RowKey range query, paged."""
    rows, token = history.history_page(sender, recipient, page_size=PAGE)
    while token is not None:
        more, token = history.history_page(sender, recipient, page_size=PAGE, token=token)
        rows += more
    return rows


def answer_to_wire(answer: AsOfAnswer, sender: str, recipient: str) -> dict[str, Any]:
    """`decidingEvent` / `nextChange` are left out when there is none."""
    wire: dict[str, Any] = {
        "sender": sender,
        "recipient": recipient,
        "at": answer.at.isoformat(),
        "basis": answer.basis,
        "isOptedOut": answer.opted_out,
    }
    if answer.deciding is not None:
        wire["decidingEvent"] = history_to_wire(answer.deciding)
    if answer.next_change is not None:
        wire["nextChange"] = history_to_wire(answer.next_change)
    wire["events"] = [history_to_wire(r) for r in answer.events]
    return wire


def handle(call: Call) -> ApiResponse:
    params, route = call.request.params, call.request.route_params
    errors: dict[str, list[str]] = {}
    sender = phone_param(route.get("sender", ""), "sender", errors)
    recipient = phone_param(route.get("recipient", ""), "recipient", errors)
    at = time_param(params.get("at"), "at", errors)
    basis_raw = params.get("basis") or TimeBasis.EFFECTIVE
    if basis_raw not in set(TimeBasis):
        errors["basis"] = [f"Must be one of: {', '.join(TimeBasis)}."]
    if errors or sender is None or recipient is None:
        return validation_problem(errors)
    when = at or datetime.now(UTC)
    rows = pair_history(call.services.history(), sender, recipient)
    answer = status_at(rows, when, TimeBasis(basis_raw))
    return ApiResponse(200, answer_to_wire(answer, sender.e164, recipient.e164))


ENDPOINTS = [
    Endpoint(
        name="recipient_status",
        route="sms/senders/{sender}/recipients/{recipient}",
        methods=("GET",),
        handler=handle,
        limit_body=False,
    )
]
