"""`GET /sms/senders/{sender}/recipients/{recipient}[?at=ISO-TIME&basis=effective|received]`:
was the recipient opted out from the sender at `at` (default: now), with the history events that
decide it; for a revoke-all sender also through its group (`group`). Semantics in
`shared/evidence/asof.py` and docs/evidence.md."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.api.history import history_to_wire
from shared.api.params import phone_param, sender_param, time_param
from shared.api.pipeline import Call, Endpoint, Target
from shared.api.wire import ApiResponse, validation_problem
from shared.domain.access import Permission
from shared.domain.model import HistoryRecord, TimeBasis
from shared.domain.phone import PhoneNumber
from shared.domain.repositories import HistoryReader
from shared.domain.sender import SenderId, parse_sender
from shared.evidence.asof import AsOfAnswer, group_status_at, status_at
from shared.optouts.membership import membership_of

PAGE = 1000  # history rows per storage request (the Table service's maximum)


def pair_history(
    history: HistoryReader, sender: SenderId, recipient: PhoneNumber
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


def target(call: Call) -> Target | ApiResponse:
    params, route = call.request.params, call.request.route_params
    errors: dict[str, list[str]] = {}
    sender = sender_param(route.get("sender", ""), errors)
    recipient = phone_param(route.get("recipient", ""), "recipient", errors)
    at = time_param(params.get("at"), "at", errors)
    basis_raw = params.get("basis") or TimeBasis.EFFECTIVE
    if basis_raw not in set(TimeBasis):
        errors["basis"] = [f"Must be one of: {', '.join(TimeBasis)}."]
    if errors or sender is None or recipient is None:
        return validation_problem(errors)
    return Target(sender=sender, value=(recipient, at, TimeBasis(basis_raw)))


def handle(call: Call) -> ApiResponse:
    sender = call.target.sender
    assert sender is not None
    found: tuple[PhoneNumber, datetime | None, TimeBasis] = call.target.value
    recipient, at, basis = found
    when = at or datetime.now(UTC)
    history = call.services.history()
    rows = pair_history(history, sender, recipient)
    wire = answer_to_wire(status_at(rows, when, basis), sender.key, recipient.e164)
    group = membership_of(call.services.programs().get_program(sender)).revoke_all_group
    if group is not None:
        wire["group"] = _group_wire(call, group, sender, recipient, rows, when, basis)
        wire["isOptedOut"] = wire["isOptedOut"] or wire["group"]["isOptedOut"]
    return ApiResponse(200, wire)


def _group_wire(
    call: Call,
    group: str,
    sender: SenderId,
    recipient: PhoneNumber,
    own: list[HistoryRecord],
    when: datetime,
    basis: TimeBasis,
) -> dict[str, Any]:
    """Through the sender's revoke-all group: the keyword events sent to any of its senders
    (today's members: program changes are not kept, so a sender's events from before it joined
    count too)."""
    others = [s for s in call.services.programs().revoke_all_senders(group) if s != sender.key]
    rows = list(own)
    for other in others:
        rows += pair_history(call.services.history(), parse_sender(other), recipient)
    answer = group_status_at(rows, when, basis)
    wire = answer_to_wire(answer, sender.key, recipient.e164)
    return {"name": group, "senders": sorted([sender.key, *others]), **_group_fields(wire)}


def _group_fields(wire: dict[str, Any]) -> dict[str, Any]:
    keep = ("isOptedOut", "decidingEvent", "nextChange", "events")
    return {k: v for k, v in wire.items() if k in keep}


ENDPOINTS = [
    Endpoint(
        name="recipient_status",
        handler=handle,
        permission=Permission.READ,
        target=target,
        limit_body=False,
    )
]
