"""`POST /sms/senders/{sender}/optouts:import[?importId=]`: bulk import of opt-outs.

Body: CSV (`text/csv`), a JSON array (`application/json`) or NDJSON (`application/x-ndjson`),
parsed by shared.optouts.importfile (header, separators, quoting, line numbers: see there), at most
MAX_IMPORT_ROWS data rows and MAX_IMPORT_BODY_BYTES (413 beyond: split the file, as the CLI
does). Response 200:

    {"importId": "...", "received": 5, "added": 3, "alreadyOptedOut": 1, "invalid": 1,
     "duplicates": 0, "errors": [{"line": 4, "reason": "..."}]}

`importId` (letters, digits, `-`, `_`; at most 64) ties the requests of one file together: a
request sent again with the same id counts its entries as added, not as already opted out.
"""

from __future__ import annotations

import logging

from shared.api.params import sender_param
from shared.api.pipeline import Call, Endpoint, Target
from shared.api.wire import ApiResponse, error, validation_problem
from shared.domain.access import Permission
from shared.optouts.importfile import (
    MAX_IMPORT_ROWS,
    ImportFileError,
    ImportFormat,
    ImportTooLarge,
    ParsedImport,
    parse_import,
)
from shared.optouts.imports import IMPORT_ID, ImportReport, new_import_id

log = logging.getLogger(__name__)

MAX_IMPORT_BODY_BYTES = 4 * 1024 * 1024
MEDIA_TYPES = {
    "text/csv": ImportFormat.CSV,
    "application/csv": ImportFormat.CSV,
    "application/json": ImportFormat.JSON,
    "application/x-ndjson": ImportFormat.NDJSON,
    "application/jsonl": ImportFormat.NDJSON,
}


def report_to_wire(report: ImportReport) -> dict[str, object]:
    return {
        "importId": report.import_id,
        "received": report.received,
        "added": report.added,
        "alreadyOptedOut": report.already_opted_out,
        "invalid": report.invalid,
        "duplicates": report.duplicates,
        "errors": [{"line": e.line, "reason": e.reason} for e in report.errors],
    }


def _too_large(message: str) -> ApiResponse:
    return error(413, "RequestEntityTooLarge", message)


def target(call: Call) -> Target | ApiResponse:
    """The whole file is parsed here (400/413/415 before the sender scope's 403)."""
    request = call.request
    errors: dict[str, list[str]] = {}
    sender = sender_param(request.route_params.get("sender", ""), errors)
    import_id = request.params.get("importId") or new_import_id()
    if not IMPORT_ID.fullmatch(import_id):
        errors["importId"] = ["At most 64 letters, digits, '-' or '_'."]
    if errors or sender is None:
        return validation_problem(errors)
    if len(request.body) > MAX_IMPORT_BODY_BYTES:
        return _too_large(f"An import request may carry at most {MAX_IMPORT_BODY_BYTES} bytes.")
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    fmt = MEDIA_TYPES.get(media)
    if fmt is None:
        return error(
            415,
            "UnsupportedMediaType",
            "Send the file as text/csv, application/json or application/x-ndjson.",
        )
    try:
        parsed = parse_import(request.body, fmt, max_rows=MAX_IMPORT_ROWS)
    except ImportTooLarge as exc:
        return _too_large(str(exc))
    except ImportFileError as exc:
        return validation_problem({"body": [str(exc)]})
    return Target(sender=sender, value=(parsed, import_id))


def handle(call: Call) -> ApiResponse:
    sender = call.target.sender
    assert sender is not None
    found: tuple[ParsedImport, str] = call.target.value
    parsed, import_id = found
    report = call.services.imports().run(sender, parsed, import_id, actor=call.actor)
    log.info(
        "optouts:import sender=%s rows=%d added=%d already=%d invalid=%d",
        sender.masked,
        report.received,
        report.added,
        report.already_opted_out,
        report.invalid,
    )
    return ApiResponse(200, report_to_wire(report))


ENDPOINTS = [
    Endpoint(
        name="sender_optouts_import",
        handler=handle,
        permission=Permission.WRITE,
        target=target,
        limit_body=False,  # its own, larger limit (a file of up to MAX_IMPORT_ROWS rows)
    )
]
