"""`GET | PUT | DELETE /sms/senders/{sender}/program`: a sender's reply texts and options."""

from __future__ import annotations

from typing import Any

from shared.api.pipeline import Call, Endpoint
from shared.api.wire import ApiResponse, error, parse_json_object, validation_problem
from shared.model import SenderProgram
from shared.programs import program_violations
from shared.sender import InvalidSender, SenderId, parse_sender

# SenderProgram attribute -> wire name (property names are case-insensitive on input).
WIRE_NAMES = {
    "brand": "brand",
    "help_contact": "helpContact",
    "optout_text": "optOutText",
    "optin_text": "optInText",
    "help_text": "helpText",
    "plain_language_optout": "plainLanguageOptOut",
}
_BY_LOWER_WIRE = {wire.lower(): attr for attr, wire in WIRE_NAMES.items()}


def program_to_wire(program: SenderProgram) -> dict[str, Any]:
    return {
        wire: getattr(program, attr)
        for attr, wire in WIRE_NAMES.items()
        if getattr(program, attr) is not None
    }


def _check_type(attr: str, value: Any) -> str | None:
    if attr == "plain_language_optout":
        return None if isinstance(value, bool) else "Must be true or false."
    if not isinstance(value, str) or not value.strip():
        return "Must be a non-empty string."
    return None


def parse_program(body: bytes) -> SenderProgram | ApiResponse:
    data, errors = parse_json_object(body)
    if data is None:
        return validation_problem(errors)
    values: dict[str, Any] = {}
    keys: dict[str, str] = {}  # attribute -> the property name as sent
    for key, value in data.items():
        attr = _BY_LOWER_WIRE.get(key.lower())
        if attr is None:
            errors[key] = [f"Unknown field. Allowed: {', '.join(WIRE_NAMES.values())}."]
        elif value is None and attr != "plain_language_optout":
            continue
        elif problem := _check_type(attr, value):
            errors[key] = [problem]
        else:
            values[attr], keys[attr] = value, key
    program = SenderProgram(**values)
    for attr, problem in program_violations(program).items():
        errors[keys[attr]] = [problem]
    return validation_problem(errors) if errors else program


def _sender(call: Call) -> SenderId | ApiResponse:
    try:
        return parse_sender(call.request.route_params.get("sender", ""))
    except InvalidSender as exc:
        return validation_problem({"sender": [f"Invalid sender: {exc}"]})


def handle(call: Call) -> ApiResponse:
    sender = _sender(call)
    if isinstance(sender, ApiResponse):
        return sender
    repo = call.services.programs()
    method = call.request.method
    if method == "GET":
        program = repo.get_program(sender)
        if program is None:
            return error(404, "NotFound", "No program is stored for this sender.")
        return ApiResponse(200, {"sender": sender.key, **program_to_wire(program)})
    if method == "PUT":
        parsed = parse_program(call.request.body)
        if isinstance(parsed, ApiResponse):
            return parsed
        repo.put_program(sender, parsed)
        return ApiResponse(200, {"sender": sender.key, **program_to_wire(parsed)})
    if method == "DELETE":
        repo.delete_program(sender)
        return ApiResponse(204)
    return error(405, "MethodNotAllowed", "Use GET, PUT or DELETE.")


ENDPOINTS = [
    Endpoint(
        name="sender_program",
        route="sms/senders/{sender}/program",
        methods=("GET", "PUT", "DELETE"),
        handler=handle,
        json_methods=frozenset({"PUT"}),
    )
]
