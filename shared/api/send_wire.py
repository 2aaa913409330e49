"""ACS's wire format for `POST /sms` (send), both ways: the caller's request and our answer, and
the request we forward to ACS and its answer.

The spec (`SendMessageRequest` -> 202 `SmsSendResponse`) is the same in every api-version the
clients use, except for optional fields inside `smsSendOptions`:

| api-version | who sends it | `smsSendOptions` |
| --- | --- | --- |
| `2021-03-07` | Python `azure-communication-sms` 1.1.x | `enableDeliveryReport`, `tag` |
| `2024-12-10-preview` | | + `deliveryReportTimeoutInSeconds` (60..43200) |
| `2025-05-29-preview` | JS 1.2.0-beta.4 | + `messagingConnect` `{apiKey, partner}` |
| `2025-08-01-preview`, `2025-09-17` | | as above |
| `2026-01-23` | | `messagingConnect` is `{partner, partnerParams}`; 400/401 bodies declared |

So one parser serves all: the known fields are checked, `smsSendOptions` (and any field we do
not know, at any level) is passed to ACS as sent, with the caller's api-version, and ACS applies
that version's rules. Property names are matched without case, as ACS (ASP.NET) does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from shared.domain.sender import InvalidSender, parse_sender
from shared.sending.records import OutgoingRecipient, SendRequest, SendResult

SEND_API_VERSIONS = frozenset(
    {
        "2021-03-07",
        "2024-12-10-preview",
        "2025-05-29-preview",
        "2025-08-01-preview",
        "2025-09-17",
        "2026-01-23",
    }
)
MAX_RECIPIENTS = 100
MAX_MESSAGE_LENGTH = 2048
REPORT_TIMEOUT_RANGE = (60, 43200)

Errors = dict[str, list[str]]
_TOP = ("from", "smsRecipients", "message", "smsSendOptions")
_RECIPIENT = ("to", "repeatabilityRequestId", "repeatabilityFirstSent")


def _split(obj: Mapping[str, Any], known: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(known fields by their canonical name, the other fields as sent); names without case."""
    canonical = {name.lower(): name for name in known}
    found: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in obj.items():
        name = canonical.get(key.lower())
        if name is None:
            extra[key] = value
        elif name not in found:
            found[name] = value
    return found, extra


def _optional_string(value: Any, path: str, errors: Errors) -> str | None:
    if value is None or isinstance(value, str):
        return value
    errors[path] = [f"The {path.rsplit('.', 1)[-1]} field must be a string."]
    return None


def _recipient(item: Any, i: int, errors: Errors) -> OutgoingRecipient | None:
    path = f"SmsRecipients[{i}]"
    if not isinstance(item, dict):
        errors[path] = ["Each recipient must be an object with a To field."]
        return None
    found, extra = _split(item, _RECIPIENT)
    to = found.get("to")
    if to is None or to == "":
        errors[f"{path}.To"] = ["The To field is required."]
    elif not isinstance(to, str):
        errors[f"{path}.To"] = ["The To field must be a string."]
    rid = _optional_string(
        found.get("repeatabilityRequestId"), f"{path}.RepeatabilityRequestId", errors
    )
    first = _optional_string(
        found.get("repeatabilityFirstSent"), f"{path}.RepeatabilityFirstSent", errors
    )
    if not isinstance(to, str) or not to:
        return None
    return OutgoingRecipient(to, rid, first, extra)


def _recipients(raw: Any, errors: Errors) -> list[OutgoingRecipient]:
    if raw is None:
        errors["SmsRecipients"] = ["The SmsRecipients field is required."]
        return []
    if not isinstance(raw, list):
        errors["SmsRecipients"] = ["The SmsRecipients field must be an array."]
        return []
    if not raw:
        errors["SmsRecipients"] = ["At least one recipient is required."]
    elif len(raw) > MAX_RECIPIENTS:
        errors["SmsRecipients"] = [
            f"Max of {MAX_RECIPIENTS} phone numbers are allowed in the To field."
        ]
        return []
    parsed = [_recipient(item, i, errors) for i, item in enumerate(raw)]
    return [r for r in parsed if r is not None]


def _options(raw: Any, errors: Errors) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        errors["SmsSendOptions"] = ["The SmsSendOptions field must be an object."]
        return None
    found, _ = _split(raw, ("enableDeliveryReport", "tag", "deliveryReportTimeoutInSeconds"))
    if not isinstance(found.get("enableDeliveryReport"), bool):
        errors["SmsSendOptions.EnableDeliveryReport"] = [
            "The EnableDeliveryReport field is required (true or false)."
        ]
    _optional_string(found.get("tag"), "SmsSendOptions.Tag", errors)
    timeout = found.get("deliveryReportTimeoutInSeconds")
    low, high = REPORT_TIMEOUT_RANGE
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int) or not low <= timeout <= high
    ):
        errors["SmsSendOptions.DeliveryReportTimeoutInSeconds"] = [
            f"Must be a whole number of seconds from {low} to {high}."
        ]
    return dict(raw)


def parse_send_body(body: bytes, api_version: str) -> SendRequest | Errors:
    """The caller's `SendMessageRequest`, or validation errors by field (ASP.NET's names)."""
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {"$": ["The request body is not valid JSON."]}
    if not isinstance(data, dict):
        return {"$": ["The request body must be a JSON object."]}
    found, extra = _split(data, _TOP)
    errors: Errors = {}
    sender = None
    raw_from = found.get("from")
    if raw_from is None or raw_from == "":
        errors["From"] = ["The From field is required."]
    else:
        try:
            sender = parse_sender(raw_from)
        except InvalidSender as exc:
            errors["From"] = [f"Invalid sender: {exc}"]
    recipients = _recipients(found.get("smsRecipients"), errors)
    message = found.get("message")
    if message is None:
        errors["Message"] = ["The Message field is required."]
    elif not isinstance(message, str):
        errors["Message"] = ["The Message field must be a string."]
    elif len(message) > MAX_MESSAGE_LENGTH:
        errors["Message"] = [f"The Message field must be at most {MAX_MESSAGE_LENGTH} characters."]
    options = _options(found.get("smsSendOptions"), errors)
    if errors or sender is None or not isinstance(message, str):
        return errors
    return SendRequest(sender, message, tuple(recipients), api_version, options, extra)


# -- answers -----------------------------------------------------------------------------------


def result_to_wire(result: SendResult) -> dict[str, Any]:
    item: dict[str, Any] = {"to": result.to}
    if result.message_id is not None:
        item["messageId"] = result.message_id
    item["httpStatusCode"] = result.status
    if result.repeatability_result is not None:
        item["repeatabilityResult"] = str(result.repeatability_result)
    item["successful"] = result.successful
    if result.error_message is not None:
        item["errorMessage"] = result.error_message
    return item


# -- the forwarded call ------------------------------------------------------------------------


def request_to_wire(request: SendRequest) -> dict[str, Any]:
    """The body forwarded to ACS: the caller's fields (and repeatability values) unchanged."""
    body: dict[str, Any] = {
        "from": request.sender.display,
        "smsRecipients": [
            {
                "to": r.to,
                **(
                    {"repeatabilityRequestId": r.repeatability_request_id}
                    if r.repeatability_request_id is not None
                    else {}
                ),
                **(
                    {"repeatabilityFirstSent": r.repeatability_first_sent}
                    if r.repeatability_first_sent is not None
                    else {}
                ),
                **r.extra,
            }
            for r in request.recipients
        ],
        "message": request.message,
    }
    if request.options is not None:
        body["smsSendOptions"] = dict(request.options)
    body.update(request.extra)
    return body


def results_from_wire(data: Any) -> list[SendResult]:
    """ACS's `SmsSendResponse`; ValueError when it is not one."""
    if not isinstance(data, dict):
        raise ValueError("not an object")
    found, _ = _split(data, ("value",))
    items = found.get("value")
    if not isinstance(items, list):
        raise ValueError("no value array")
    results = []
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("an item is not an object")
        f, _ = _split(
            item,
            (
                "to",
                "messageId",
                "httpStatusCode",
                "repeatabilityResult",
                "successful",
                "errorMessage",
            ),
        )
        if not isinstance(f.get("to"), str) or not isinstance(f.get("httpStatusCode"), int):
            raise ValueError("an item lacks to or httpStatusCode")
        results.append(
            SendResult(
                f["to"],
                f["httpStatusCode"],
                f.get("successful") is True,
                f.get("messageId"),
                f.get("repeatabilityResult"),
                f.get("errorMessage"),
            )
        )
    return results
