"""Replies to keywords: the texts (CTIA-shaped defaults, per-sender overrides) and the sender.

Texts are templates with two placeholders, `{brand}` and `{help_contact}`. The opt-out
confirmation carries no marketing (FCC: one confirmation, no marketing); HELP gives brand,
contact, frequency and rates notice and STOP instructions (CTIA).
"""

from __future__ import annotations

import logging
import string
from typing import Any, Protocol

from shared.model import Action, ReplyStatus, SenderProgram
from shared.phone import mask
from shared.settings import Settings, SettingsError

log = logging.getLogger(__name__)

DEFAULT_OPTOUT_TEXT = (
    "{brand}: You are unsubscribed and will receive no more messages. Reply START to resubscribe."
)
DEFAULT_OPTIN_TEXT = (
    "{brand}: You are subscribed again. Msg frequency varies. Msg & data rates may apply. "
    "Reply HELP for help, STOP to cancel."
)
DEFAULT_HELP_TEXT = (
    "{brand}: For help, contact {help_contact}. Msg frequency varies. "
    "Msg & data rates may apply. Reply STOP to cancel."
)
PLACEHOLDERS = frozenset({"brand", "help_contact"})
MAX_TEXT_LENGTH = 640
MAX_REPLY_LENGTH = 1000  # a rendered reply; longer ones fall back to the default text
# ACS answers that retrying cannot fix (a bad or unreachable number): recorded as `failed`.
# Anything else (auth, throttling, outages) raises so that the host retries the message.
PERMANENT_STATUSES = frozenset({400, 404, 409, 422})


class ReplyFailed(Exception):
    """A reply could not be sent now (ACS unreachable, throttled, 5xx): retry later."""


class TemplateError(ValueError):
    pass


def _fields(text: str) -> list[tuple[str, str | None]]:
    """(literal, field) pieces of a template; TemplateError for anything but plain
    `{brand}` / `{help_contact}` fields (no format specs or conversions: `{brand:>99999}` would
    make a reply of any size)."""
    pieces: list[tuple[str, str | None]] = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise TemplateError(f"is not a valid template: {exc}") from exc
    for literal, name, spec, conversion in parsed:
        if name is not None and (spec or conversion):
            raise TemplateError("placeholders take no format spec or conversion")
        if name is not None and name not in PLACEHOLDERS:
            raise TemplateError(
                f"uses an unknown placeholder {{{name}}}; allowed: {{brand}}, {{help_contact}}"
            )
        pieces.append((literal, name))
    return pieces


def check_template(text: str) -> None:
    """Raise TemplateError unless `text` is a usable reply template."""
    if not text.strip():
        raise TemplateError("must not be empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise TemplateError(f"must be at most {MAX_TEXT_LENGTH} characters")
    _fields(text)


def render(template: str, values: dict[str, str]) -> str:
    return "".join(lit + (values[name] if name else "") for lit, name in _fields(template))


def reply_text(action: Action, settings: Settings, program: SenderProgram | None) -> str:
    p = program or SenderProgram()
    templates = {
        Action.OPT_OUT: (p.optout_text, settings.reply_optout_text, DEFAULT_OPTOUT_TEXT),
        Action.OPT_IN: (p.optin_text, settings.reply_optin_text, DEFAULT_OPTIN_TEXT),
        Action.HELP: (p.help_text, settings.reply_help_text, DEFAULT_HELP_TEXT),
    }
    values = {
        "brand": p.brand or settings.reply_brand,
        "help_contact": p.help_contact or settings.reply_help_contact,
    }
    for template in templates[action]:
        if not template:
            continue
        try:
            text = render(template, values)
        except TemplateError:
            log.error("A %s reply template is invalid; using the next one", action)
            continue
        if len(text) <= MAX_REPLY_LENGTH:
            return text
        log.error("A %s reply is over %d characters; using the next one", action, MAX_REPLY_LENGTH)
    return render(templates[action][-1], {k: v[:160] for k, v in values.items()})


class ReplySender(Protocol):
    def send(self, from_: str, to: str, text: str) -> ReplyStatus:
        """Send `text`; return the reply status to record (`sent`, `logged` or `failed`)."""
        ...


class LoggingReplySender:
    """Used when no ACS connection is configured: replies are logged (masked), not sent."""

    def send(self, from_: str, to: str, text: str) -> ReplyStatus:
        log.info(
            "Reply NOT sent (ACS_CONNECTION_STRING/ACS_ENDPOINT not set) from %s to %s: %d chars",
            mask(from_),
            mask(to),
            len(text),
        )
        return ReplyStatus.LOGGED


class AcsReplySender:
    def __init__(self, client: Any) -> None:
        self._client = client

    def send(self, from_: str, to: str, text: str) -> ReplyStatus:
        from azure.core.exceptions import AzureError, HttpResponseError

        try:
            results = self._client.send(from_=from_, to=[to], message=text)
        except HttpResponseError as exc:
            code = exc.status_code or 500
            if code in PERMANENT_STATUSES:
                log.error("ACS refused the reply to %s (HTTP %s): not retried", mask(to), code)
                return ReplyStatus.FAILED
            raise ReplyFailed(f"ACS send failed: HTTP {exc.status_code}") from exc
        except AzureError as exc:
            raise ReplyFailed(f"ACS send failed: {type(exc).__name__}") from exc
        result = results[0]
        if result.successful:
            return ReplyStatus.SENT
        status = result.http_status_code or 500
        if status not in PERMANENT_STATUSES:
            raise ReplyFailed(f"ACS send failed for the recipient: HTTP {status}")
        log.error("ACS refused the reply to %s (HTTP %s): not retried", mask(to), status)
        return ReplyStatus.FAILED


def parse_acs_connection_string(conn: str) -> tuple[str, str]:
    parts: dict[str, str] = {}
    for item in conn.split(";"):
        name, sep, value = item.partition("=")
        if sep:
            parts[name.strip().lower()] = value.strip()
    endpoint, key = parts.get("endpoint", ""), parts.get("accesskey", "")
    if not endpoint or not key:
        raise SettingsError("ACS_CONNECTION_STRING must be 'endpoint=...;accesskey=...'")
    return endpoint, key


def build_sms_client(settings: Settings, **options: Any) -> Any:
    """The official SmsClient for ACS_CONNECTION_STRING, else ACS_ENDPOINT + managed identity
    (replies and the send endpoint's upstream)."""
    from azure.communication.sms import SmsClient

    if settings.acs_connection_string:
        from azure.core.credentials import AzureKeyCredential

        endpoint, key = parse_acs_connection_string(settings.acs_connection_string)
        # Not SmsClient.from_connection_string: it forces https (reference §2). The SDK signs
        # the endpoint minus its scheme as the host, so a trailing slash would break the HMAC.
        return SmsClient(endpoint.rstrip("/"), AzureKeyCredential(key), **options)
    from azure.identity import DefaultAzureCredential

    return SmsClient(settings.acs_endpoint.rstrip("/"), DefaultAzureCredential(), **options)


def make_reply_sender(settings: Settings) -> ReplySender:
    if not settings.replies_enabled:
        return LoggingReplySender()
    options: dict[str, Any] = {"retry_total": 2, "connection_timeout": 5, "read_timeout": 20}
    return AcsReplySender(build_sms_client(settings, **options))
