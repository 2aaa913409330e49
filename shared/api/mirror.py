"""The mirror into ACS (docs/acs-mirror.md), seen from HTTP:

- `GET /sms/senders/{sender}/mirror`: is the sender mirrored, and its lag: the oldest change
  not yet in ACS, how many are pending (counted up to 1000), the poisoned ones, the last error.
- `POST /sms/senders/{sender}/optouts:reconcile[?fix=true][&maxpagesize=N]`: one bounded page
  of the comparison with ACS's `check` (`shared.optouts.reconcile`), and with `fix` what was
  done; `nextLink` to the next page. Numbers come masked, as in the logs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.api.paging import next_link, open_page, page_size, with_next_link
from shared.api.params import Errors, sender_param
from shared.api.pipeline import Call, Endpoint, Target
from shared.api.wire import ApiResponse, error, validation_problem
from shared.domain.access import Permission
from shared.domain.model import UpstreamFailure
from shared.domain.phone import mask
from shared.domain.sender import SenderId
from shared.feed.mirror import AcsOptOutsFailed
from shared.optouts.reconcile import DEFAULT_PAGE, MAX_PAGE
from shared.platform.settings import SettingsError

STATUS_COUNT_LIMIT = 1000
POISONED_SHOWN = 20
RETRY_AFTER_SECONDS = "10"
_UNAVAILABLE = {UpstreamFailure.UNREACHABLE, UpstreamFailure.UNAVAILABLE, UpstreamFailure.TIMEOUT}


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _sender(call: Call, errors: Errors) -> SenderId | None:
    return sender_param(call.request.route_params.get("sender", ""), errors)


def status_target(call: Call) -> Target | ApiResponse:
    errors: Errors = {}
    sender = _sender(call, errors)
    if sender is None:
        return validation_problem(errors)
    return Target(sender=sender)


def status(call: Call) -> ApiResponse:
    sender = call.target.sender
    assert sender is not None  # `status_target` gave it
    program = call.services.programs().get_program(sender)
    journal = call.services.mirror_journal()
    pending = journal.pending(sender.key, STATUS_COUNT_LIMIT)
    poisoned = journal.poisoned(sender.key, STATUS_COUNT_LIMIT)
    state = journal.state(sender.key)
    oldest = pending[0].changed_at if pending else None
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "sender": sender.key,
        "mirrorToAcs": bool(program and program.mirror_to_acs),
        "pending": len(pending),
        "pendingCountCapped": len(pending) >= STATUS_COUNT_LIMIT,
        "oldestPendingAt": _iso(oldest),
        "lagSeconds": round(max((now - oldest).total_seconds(), 0.0), 3) if oldest else 0.0,
        "poisoned": len(poisoned),
        "poisonedItems": [
            {"to": mask(i.recipient), "changedAt": _iso(i.changed_at), "reason": i.reason}
            for i in poisoned[:POISONED_SHOWN]
        ],
        "failedTries": state.tries,
        "lastError": state.last_error or None,
        "lastErrorAt": _iso(state.last_error_at),
        "lastMirroredAt": _iso(state.last_mirrored_at),
    }
    return ApiResponse(200, {k: v for k, v in body.items() if v is not None})


def _fix_param(raw: str | None, errors: Errors) -> bool:
    value = (raw or "false").strip().lower()
    if value not in ("true", "false"):
        errors["fix"] = ["Must be true or false."]
    return value == "true"


def acs_failure(exc: AcsOptOutsFailed) -> ApiResponse:
    """ACS could not be asked: 503 to retry when it is down or slow, 502 naming the upstream
    when it refused this service's credentials or failed (as `POST /sms` does)."""
    if exc.reason in _UNAVAILABLE:
        return error(
            503,
            "ServiceUnavailable",
            f"ACS's opt-out API could not be reached ({exc.reason}); try again.",
            **{"Retry-After": RETRY_AFTER_SECONDS},
        )
    if exc.reason == UpstreamFailure.AUTH_FAILED:
        message = "ACS refused this service's credentials (upstream: ACS opt-out API)."
    else:
        message = f"ACS's opt-out API failed (upstream: {exc.reason}, HTTP {exc.status})."
    return error(502, "BadGateway", message)


def reconcile_target(call: Call) -> Target | ApiResponse:
    """The sender, `fix`, the page size and the page (400 for any of them)."""
    errors: Errors = {}
    sender = _sender(call, errors)
    params = call.request.params
    fix = _fix_param(params.get("fix"), errors)
    size = page_size(params, DEFAULT_PAGE, MAX_PAGE, errors)
    if sender is None or errors:
        return validation_problem(errors)
    scope = {"endpoint": "reconcile", "sender": sender.key, "fix": str(fix).lower()}
    page = open_page(call, scope, size)
    if isinstance(page, ApiResponse):
        return page
    return Target(sender=sender, value=(fix, page))


def reconcile(call: Call) -> ApiResponse:
    sender = call.target.sender
    assert sender is not None  # `reconcile_target` gave it
    fix, page = call.target.value
    try:
        reconciler = call.services.reconciler()
    except SettingsError:
        return error(
            409,
            "AcsNotConfigured",
            "This service has no ACS resource configured (ACS_CONNECTION_STRING or "
            "ACS_ENDPOINT): there is nothing to reconcile with.",
        )
    try:
        result = reconciler.run(sender, fix=fix, token=page.start, size=page.size)
    except AcsOptOutsFailed as exc:
        return acs_failure(exc)
    body: dict[str, Any] = {
        "sender": sender.key,
        "fix": fix,
        "checked": result.checked,
        "missingInAcs": [mask(r) for r in result.missing_in_acs],
        "missingHere": [mask(r) for r in result.missing_here],
        "fixed": [{"to": mask(r), "action": str(action)} for r, action in result.fixes],
    }
    link = next_link(call, page, result.next_token, fix=str(fix).lower())
    return ApiResponse(200, with_next_link(body, link))


ENDPOINTS = [
    Endpoint(
        name="sender_mirror_status",
        handler=status,
        permission=Permission.READ,
        target=status_target,
    ),
    Endpoint(
        name="sender_optouts_reconcile",
        handler=reconcile,
        permission=Permission.ADMIN,
        target=reconcile_target,
    ),
]
