"""The HTTP layer: ACS's wire format for the Opt-Out Management API, and the other endpoints.

The only module that knows ACS's paths' bodies, status codes and error shapes. It takes a plain
`ApiRequest` (function_app.py builds it from `func.HttpRequest`) and returns an `ApiResponse`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.acs_auth import AuthError, verify_request
from shared.model import (
    ConcurrencyConflict,
    HistoryRecord,
    InvalidPageToken,
    SenderProgram,
    StorageUnavailable,
)
from shared.phone import InvalidPhoneNumber, PhoneNumber, mask, parse_e164
from shared.poison import MAX_REPLAY
from shared.replies import TemplateError, check_template
from shared.repositories import HistoryReader, SenderPrograms
from shared.service import OptOutService
from shared.settings import Settings

log = logging.getLogger(__name__)

API_VERSIONS = frozenset(
    {
        "2024-12-10-preview",
        "2025-05-29-preview",
        "2025-08-01-preview",
        "2025-09-17",
        "2026-01-23",
    }
)
MAX_RECIPIENTS = 100
INVALID_RECIPIENT = "Invalid recipient phone number format"
PROBLEM_TYPE = "https://tools.ietf.org/html/rfc9110#section-15.5.1"


@dataclass(frozen=True)
class ApiRequest:
    method: str
    url: str
    headers: Mapping[str, str]  # case-insensitive lookup by lower-case name
    params: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def json_bytes(self) -> bytes:
        return b"" if self.body is None else json.dumps(self.body).encode("utf-8")


def error(status: int, code: str, message: str, **headers: str) -> ApiResponse:
    return ApiResponse(status, {"error": {"code": code, "message": message}}, dict(headers))


def validation_problem(errors: dict[str, list[str]]) -> ApiResponse:
    return ApiResponse(
        400,
        {
            "type": PROBLEM_TYPE,
            "title": "One or more validation errors occurred.",
            "status": 400,
            "errors": errors,
        },
    )


def storage_unavailable() -> ApiResponse:
    return error(
        503,
        "ServiceUnavailable",
        "Opt-out storage is temporarily unavailable. The request can be retried safely.",
        **{"Retry-After": "5"},
    )


def authenticate(request: ApiRequest, settings: Settings) -> ApiResponse | None:
    """None when the request is signed with a configured key, else the 401 to return."""
    try:
        verify_request(
            request.method,
            request.url,
            request.headers,
            request.body,
            settings.access_keys,
            max_skew_seconds=settings.clock_skew_seconds,
        )
    except AuthError as exc:
        log.warning("Request refused: %s", exc)
        return error(401, "Denied", str(exc))
    return None


def check_size(request: ApiRequest, settings: Settings) -> ApiResponse | None:
    if len(request.body) > settings.max_body_bytes:
        return error(
            413,
            "RequestEntityTooLarge",
            f"The request body exceeds {settings.max_body_bytes} bytes.",
        )
    return None


def check_content_type(request: ApiRequest) -> ApiResponse | None:
    """Bodies must be declared JSON (`application/json`, or a `+json` type), as ACS requires."""
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    ):
        return None
    return error(
        415,
        "UnsupportedMediaType",
        "The request body must be JSON, sent with 'Content-Type: application/json'.",
    )


def check_api_version(request: ApiRequest) -> ApiResponse | None:
    version = request.params.get("api-version")
    if version and "," in version and len(set(version.split(","))) == 1:
        version = version.split(",")[0]  # the same version given twice (?a=v&a=v)
    if version is None or version == "":
        return ApiResponse(
            400,
            {
                "error": {
                    "code": "ApiVersionUnspecified",
                    "message": "An API version is required, but was not specified.",
                    "innerError": None,
                }
            },
        )
    if version not in API_VERSIONS:
        return ApiResponse(
            400,
            {
                "error": {
                    "code": "InvalidApiVersion",
                    "message": (
                        f"The requested API version '{version[:40]}' is not supported. "
                        f"Supported versions: {', '.join(sorted(API_VERSIONS))}."
                    ),
                    "innerError": None,
                }
            },
        )
    return None


def parse_json_object(body: bytes) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None, {"$": ["The request body is not valid JSON."]}
    if not isinstance(data, dict):
        return None, {"$": ["The request body must be a JSON object."]}
    return data, {}


def _field(obj: Mapping[str, Any], name: str) -> tuple[bool, Any]:
    """Property lookup that ignores case, as ASP.NET's model binding does."""
    if name in obj:
        return True, obj[name]
    lowered = name.lower()
    for key, value in obj.items():
        if key.lower() == lowered:
            return True, value
    return False, None


@dataclass(frozen=True)
class OptOutRequest:
    sender: PhoneNumber
    recipients: list[str]  # `to` values exactly as sent, in request order


def parse_optout_body(body: bytes) -> OptOutRequest | ApiResponse:
    data, errors = parse_json_object(body)
    if data is None:
        return validation_problem(errors)
    sender: PhoneNumber | None = None
    has_from, raw_from = _field(data, "from")
    if not has_from or raw_from is None or raw_from == "":
        errors["From"] = ["The From field is required."]
    elif not isinstance(raw_from, str):
        errors["From"] = ["The From field must be a string in E.164 format."]
    else:
        try:
            sender = parse_e164(raw_from)
        except InvalidPhoneNumber:
            errors["From"] = ["Invalid sender phone number format: expected E.164."]
    recipients: list[str] = []
    has_rcpt, raw_rcpt = _field(data, "recipients")
    if not has_rcpt or raw_rcpt is None:
        errors["Recipients"] = ["The Recipients field is required."]
    elif not isinstance(raw_rcpt, list):
        errors["Recipients"] = ["The Recipients field must be an array."]
    elif not 1 <= len(raw_rcpt) <= MAX_RECIPIENTS:
        errors["Recipients"] = [
            f"The Recipients field must contain between 1 and {MAX_RECIPIENTS} items."
        ]
    else:
        for i, item in enumerate(raw_rcpt):
            if not isinstance(item, dict):
                errors[f"Recipients[{i}]"] = ["Each recipient must be an object with a To field."]
                continue
            has_to, to = _field(item, "to")
            if not has_to or to is None or to == "":
                errors[f"Recipients[{i}].To"] = ["The To field is required."]
            elif not isinstance(to, str):
                errors[f"Recipients[{i}].To"] = ["The To field must be a string."]
            else:
                recipients.append(to)
    if errors or sender is None:
        return validation_problem(errors)
    return OptOutRequest(sender, recipients)


def handle_optouts(
    action: str, request: ApiRequest, settings: Settings, service: OptOutService
) -> ApiResponse:
    """POST /sms/optouts:{add|remove|check}?api-version=..."""
    for gate in (
        lambda: check_size(request, settings),
        lambda: check_api_version(request),
        lambda: authenticate(request, settings),
        lambda: check_content_type(request),
    ):
        refusal = gate()
        if refusal is not None:
            return refusal
    parsed = parse_optout_body(request.body)
    if isinstance(parsed, ApiResponse):
        return parsed

    numbers: dict[str, PhoneNumber | None] = {}
    for to in parsed.recipients:
        if to not in numbers:
            try:
                numbers[to] = parse_e164(to)
            except InvalidPhoneNumber:
                numbers[to] = None
    valid = [n for n in numbers.values() if n is not None]
    operations: dict[str, Callable[[], set[str] | None]] = {
        "add": lambda: service.add(parsed.sender, valid),
        "remove": lambda: service.remove(parsed.sender, valid),
        "check": lambda: service.check(parsed.sender, valid),
    }
    try:
        opted_out = operations[action]()
    except (StorageUnavailable, ConcurrencyConflict) as exc:
        log.error("optouts:%s failed for sender %s: %s", action, mask(parsed.sender), exc)
        return storage_unavailable()

    items: list[dict[str, Any]] = []
    for to in parsed.recipients:
        number = numbers[to]
        if number is None:
            items.append({"to": to, "httpStatusCode": 400, "errorMessage": INVALID_RECIPIENT})
        elif action == "check":
            items.append(
                {"to": to, "isOptedOut": number.e164 in (opted_out or set()), "httpStatusCode": 200}
            )
        else:
            items.append({"to": to, "httpStatusCode": 200})
    log.info(
        "optouts:%s sender=%s recipients=%d valid=%d",
        action,
        mask(parsed.sender),
        len(parsed.recipients),
        len(valid),
    )
    return ApiResponse(200, {"value": items})


def handle_health(ping: Callable[[], None]) -> ApiResponse:
    try:
        ping()
    except StorageUnavailable as exc:
        log.error("Health check: table storage unreachable: %s", exc)
        return ApiResponse(503, {"status": "unhealthy", "storage": "unreachable"})
    return ApiResponse(200, {"status": "healthy", "storage": "reachable"})


# -- per-sender reply programs: GET | PUT | DELETE /sms/senders/{sender}/program ---------------

_WIRE_NAMES = {
    "brand": "brand",
    "help_contact": "helpContact",
    "optout_text": "optOutText",
    "optin_text": "optInText",
    "help_text": "helpText",
    "plain_language_optout": "plainLanguageOptOut",
}
# The text fields, by lower-cased wire name (property names are case-insensitive).
PROGRAM_FIELDS = {
    wire.lower(): attr for attr, wire in _WIRE_NAMES.items() if attr != "plain_language_optout"
}
_TEMPLATE_FIELDS = ("optout_text", "optin_text", "help_text")


class _SenderStore(SenderPrograms, HistoryReader, Protocol):
    pass


# handle_program / handle_history: (request, sender from the route, settings, store)
SenderHandler = Callable[[ApiRequest, str, Settings, _SenderStore], ApiResponse]


def program_to_wire(program: SenderProgram) -> dict[str, Any]:
    return {
        wire: getattr(program, attr)
        for attr, wire in _WIRE_NAMES.items()
        if getattr(program, attr) is not None
    }


def parse_program(body: bytes) -> SenderProgram | ApiResponse:
    data, errors = parse_json_object(body)
    if data is None:
        return validation_problem(errors)
    values: dict[str, Any] = {}
    for key, value in data.items():
        lowered = key.lower()
        if lowered == "plainlanguageoptout":
            if not isinstance(value, bool):
                errors[key] = ["Must be true or false."]
            else:
                values["plain_language_optout"] = value
        elif lowered in PROGRAM_FIELDS:
            attr = PROGRAM_FIELDS[lowered]
            if value is None:
                continue
            if not isinstance(value, str) or not value.strip():
                errors[key] = ["Must be a non-empty string."]
                continue
            if attr in _TEMPLATE_FIELDS:
                try:
                    check_template(value)
                except TemplateError as exc:
                    errors[key] = [f"The text {exc}."]
                    continue
                if attr == "help_text" and "stop" not in value.lower():
                    errors[key] = ["HELP text must tell how to opt out (CTIA): mention STOP."]
                    continue
            elif len(value) > 160:
                errors[key] = ["Must be at most 160 characters."]
                continue
            values[attr] = value
        else:
            errors[key] = [f"Unknown field. Allowed: {', '.join(_WIRE_NAMES.values())}."]
    if errors:
        return validation_problem(errors)
    return SenderProgram(**values)


def handle_program(
    request: ApiRequest, sender_raw: str, settings: Settings, repo: SenderPrograms
) -> ApiResponse:
    refusal = check_size(request, settings) or authenticate(request, settings)
    if refusal is not None:
        return refusal
    try:
        sender = parse_e164(sender_raw)
    except InvalidPhoneNumber:
        return validation_problem({"sender": ["Invalid sender phone number format: E.164."]})
    try:
        if request.method == "GET":
            program = repo.get_program(sender)
            if program is None:
                return error(404, "NotFound", "No program is stored for this sender.")
            return ApiResponse(200, {"sender": sender.e164, **program_to_wire(program)})
        if request.method == "PUT":
            parsed = check_content_type(request) or parse_program(request.body)
            if isinstance(parsed, ApiResponse):
                return parsed
            repo.put_program(sender, parsed)
            return ApiResponse(200, {"sender": sender.e164, **program_to_wire(parsed)})
        if request.method == "DELETE":
            repo.delete_program(sender)
            return ApiResponse(204)
    except StorageUnavailable as exc:
        log.error("program %s failed for sender %s: %s", request.method, mask(sender), exc)
        return storage_unavailable()
    return error(405, "MethodNotAllowed", "Use GET, PUT or DELETE.")


def handle_replay(
    request: ApiRequest, settings: Settings, replay: Callable[[int], int]
) -> ApiResponse:
    """POST /sms/inbound/poison:replay[?limit=N]: parked inbound messages back to the queue."""
    refusal = check_size(request, settings) or authenticate(request, settings)
    if refusal is not None:
        return refusal
    raw = request.params.get("limit", str(MAX_REPLAY))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_REPLAY:
        return validation_problem({"limit": [f"Must be a whole number from 1 to {MAX_REPLAY}."]})
    try:
        moved = replay(int(raw))
    except StorageUnavailable:
        return storage_unavailable()
    return ApiResponse(200, {"replayed": moved})


def history_to_wire(record: HistoryRecord) -> dict[str, Any]:
    return {
        "recipient": record.recipient,
        "action": record.action,
        "source": record.source,
        "outcome": record.outcome,
        "eventTime": record.event_at.isoformat(),
        "recordedAt": record.recorded_at.isoformat() if record.recorded_at else None,
        "messageId": record.message_id,
        "keyword": record.keyword or None,
        "replyStatus": record.reply_status,
    }


def handle_history(
    request: ApiRequest, sender_raw: str, settings: Settings, store: HistoryReader
) -> ApiResponse:
    """GET /sms/senders/{sender}/history[?recipient=&pageSize=&pageToken=]: the audit trail."""
    refusal = authenticate(request, settings)
    if refusal is not None:
        return refusal
    errors: dict[str, list[str]] = {}
    sender = recipient = None
    try:
        sender = parse_e164(sender_raw)
    except InvalidPhoneNumber:
        errors["sender"] = ["Invalid sender phone number format: E.164."]
    if request.params.get("recipient"):
        try:
            recipient = parse_e164(request.params["recipient"])
        except InvalidPhoneNumber:
            errors["recipient"] = ["Invalid recipient phone number format: E.164."]
    size = request.params.get("pageSize", "100")
    if not (size.isascii() and size.isdigit() and 1 <= int(size) <= 1000):
        errors["pageSize"] = ["Must be a whole number from 1 to 1000."]
    if errors or sender is None:
        return validation_problem(errors)
    try:
        rows, token = store.history_page(
            sender, recipient, page_size=int(size), token=request.params.get("pageToken") or None
        )
    except InvalidPageToken:
        return validation_problem({"pageToken": ["Invalid page token."]})
    except StorageUnavailable:
        return storage_unavailable()
    return ApiResponse(200, {"value": [history_to_wire(r) for r in rows], "nextPageToken": token})
