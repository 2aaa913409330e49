"""`GET | PUT | DELETE /sms/senders/{sender}/program`: a sender's reply texts and options."""

from __future__ import annotations

from typing import Any

from shared.api.pipeline import Call, Endpoint, Target
from shared.api.wire import ApiResponse, error, parse_json_object, validation_problem
from shared.domain.access import Permission
from shared.domain.groups import parse_group
from shared.domain.model import Language, ReplyTexts, SenderProgram
from shared.domain.sender import InvalidSender, SenderId, parse_sender
from shared.keywords.sender_languages import parse_languages
from shared.optouts.programs import program_violations

# SenderProgram attribute -> wire name (property names are case-insensitive on input).
WIRE_NAMES = {
    "brand": "brand",
    "help_contact": "helpContact",
    "optout_text": "optOutText",
    "optin_text": "optInText",
    "help_text": "helpText",
    "plain_language_optout": "plainLanguageOptOut",
    "languages": "languages",
    "texts": "texts",
    "group": "group",
    "revoke_all": "revokeAll",
    "mirror_to_acs": "mirrorToAcs",
}
_BY_LOWER_WIRE = {wire.lower(): attr for attr, wire in WIRE_NAMES.items()}
_BOOLEANS = frozenset({"plain_language_optout", "revoke_all", "mirror_to_acs"})
_STRINGS = frozenset({"brand", "help_contact", "optout_text", "optin_text", "help_text"})
# ReplyTexts attribute -> wire name, inside `texts: {"fr": {...}}`.
TEXTS_WIRE_NAMES = {"optout_text": "optOutText", "optin_text": "optInText", "help_text": "helpText"}
_TEXTS_BY_LOWER = {wire.lower(): attr for attr, wire in TEXTS_WIRE_NAMES.items()}


def _texts_to_wire(texts: tuple[tuple[Language, ReplyTexts], ...]) -> dict[str, Any]:
    return {
        str(lang): {w: getattr(t, a) for a, w in TEXTS_WIRE_NAMES.items() if getattr(t, a)}
        for lang, t in texts
    }


def program_to_wire(program: SenderProgram) -> dict[str, Any]:
    wire: dict[str, Any] = {}
    for attr, name in WIRE_NAMES.items():
        value = getattr(program, attr)
        if attr == "texts":
            value = _texts_to_wire(value) or None
        elif attr == "languages" and value is not None:
            value = [str(lang) for lang in value]
        if value is not None:
            wire[name] = value
    return wire


def _parse_texts(raw: Any) -> tuple[tuple[Language, ReplyTexts], ...]:
    """`{"fr": {"optOutText": ..., ...}}` -> per-language texts; ValueError says what is wrong."""
    if not isinstance(raw, dict):
        raise ValueError('Must be an object of languages, e.g. {"fr": {"optOutText": "..."}}.')
    result: dict[Language, ReplyTexts] = {}
    for code, fields in raw.items():
        (lang,) = parse_languages([code])
        if lang in result or not isinstance(fields, dict):
            raise ValueError(f"{code!r}: must appear once, with an object of texts.")
        values: dict[str, str] = {}
        for key, value in fields.items():
            attr = _TEXTS_BY_LOWER.get(key.lower())
            if attr is None:
                allowed = ", ".join(TEXTS_WIRE_NAMES.values())
                raise ValueError(f"{code}.{key}: unknown; allowed: {allowed}.")
            if value is not None:
                if not isinstance(value, str) or not value.strip():
                    raise ValueError(f"{code}.{key}: must be a non-empty string.")
                values[attr] = value
        result[lang] = ReplyTexts(**values)
    return tuple(result.items())


def _parse_value(attr: str, value: Any) -> Any:
    """The domain value of one wire field; ValueError (the message for the client) if unusable."""
    if attr in _BOOLEANS:
        if not isinstance(value, bool):
            raise ValueError("Must be true or false.")
        return value
    if attr == "languages":
        return parse_languages(value)
    if attr == "texts":
        return _parse_texts(value)
    if attr == "group":
        return parse_group(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError("Must be a non-empty string.")
    return value


def _wire_path(path: str) -> str:
    """`texts.fr.help_text` -> `texts.fr.helpText`; `revoke_all` -> `revokeAll`."""
    head, _, rest = path.partition(".")
    if head == "texts" and rest:
        lang, _, attr = rest.partition(".")
        return f"texts.{lang}.{TEXTS_WIRE_NAMES.get(attr, attr)}"
    return WIRE_NAMES.get(head, head)


def parse_program(body: bytes) -> SenderProgram | ApiResponse:
    data, errors = parse_json_object(body)
    if data is None:
        return validation_problem(errors)
    values: dict[str, Any] = {}
    for key, value in data.items():
        attr = _BY_LOWER_WIRE.get(key.lower())
        if attr is None:
            errors[key] = [f"Unknown field. Allowed: {', '.join(WIRE_NAMES.values())}."]
        elif value is None and attr not in _BOOLEANS:
            continue
        else:
            try:
                values[attr] = _parse_value(attr, value)
            except ValueError as exc:
                errors[key] = [f"The group name {exc}." if attr == "group" else str(exc)]
    if errors:
        return validation_problem(errors)
    program = SenderProgram(**values)
    problems = program_violations(program)
    if problems:
        return validation_problem({_wire_path(p): [m] for p, m in problems.items()})
    return program


def _sender(call: Call) -> SenderId | ApiResponse:
    try:
        return parse_sender(call.request.route_params.get("sender", ""))
    except InvalidSender as exc:
        return validation_problem({"sender": [f"Invalid sender: {exc}"]})


def target(call: Call) -> Target | ApiResponse:
    """The sender, and for PUT the program in the body (400 for either)."""
    sender = _sender(call)
    if isinstance(sender, ApiResponse):
        return sender
    if call.request.method == "PUT":
        program = parse_program(call.request.body)
        if isinstance(program, ApiResponse):
            return program
        return Target(sender=sender, value=program)
    return Target(sender=sender)


def handle(call: Call) -> ApiResponse:
    sender = call.target.sender
    assert sender is not None  # `target` gave it
    repo = call.services.programs()
    method = call.request.method
    if method == "GET":
        program = repo.get_program(sender)
        if program is None:
            return error(404, "NotFound", "No program is stored for this sender.")
        return ApiResponse(200, {"sender": sender.key, **program_to_wire(program)})
    if method == "PUT":
        parsed: SenderProgram = call.target.value
        repo.put_program(sender, parsed)
        call.services.program_stored(sender.key)
        return ApiResponse(200, {"sender": sender.key, **program_to_wire(parsed)})
    if method == "DELETE":
        repo.delete_program(sender)
        call.services.program_stored(sender.key)
        return ApiResponse(204)
    return error(405, "MethodNotAllowed", "Use GET, PUT or DELETE.")


ENDPOINTS = [
    Endpoint(
        name="sender_program",
        handler=handle,
        permission={"GET": Permission.READ, "PUT": Permission.WRITE, "DELETE": Permission.WRITE},
        target=target,
        json_methods=frozenset({"PUT"}),
    )
]
