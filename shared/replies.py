"""Replies to keywords: the texts (CTIA-shaped defaults, per-sender overrides) and the sender.

Texts are templates with two placeholders, `{brand}` and `{help_contact}`. The opt-out
confirmation carries no marketing (FCC: one confirmation, no marketing); HELP gives brand,
contact, frequency and rates notice and STOP instructions (CTIA).
"""

from __future__ import annotations

import logging
import string
from collections.abc import Sequence
from typing import Any, Protocol

from shared.group_send import GroupSend
from shared.language_packs import ENGLISH, PACKS
from shared.model import Action, Language, ReplyStatus, SenderProgram
from shared.phone import mask
from shared.settings import (
    ACS_CONNECTION_STRING,
    Settings,
    SettingsError,
    parse_acs_connection_string,
)

log = logging.getLogger(__name__)

# The English defaults (each language's are in its pack, `shared/language_packs.py`).
DEFAULT_OPTOUT_TEXT = ENGLISH.optout_text
DEFAULT_OPTIN_TEXT = ENGLISH.optin_text
DEFAULT_HELP_TEXT = ENGLISH.help_text
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


def _templates(
    action: Action, settings: Settings, p: SenderProgram, language: Language
) -> list[str | None]:
    """The candidate templates, best first: the program's text for that language; for English
    also the program's top-level texts and the REPLY_*_TEXT settings; last, the pack's own."""
    candidates = [p.texts_for(language).for_action(action)]
    if language is Language.EN:
        candidates += {
            Action.OPT_OUT: [p.optout_text, settings.reply_optout_text],
            Action.OPT_IN: [p.optin_text, settings.reply_optin_text],
            Action.HELP: [p.help_text, settings.reply_help_text],
        }[action]
    return [*candidates, PACKS[language].template(action)]


def reply_text(
    action: Action,
    settings: Settings,
    program: SenderProgram | None,
    language: Language = Language.EN,
) -> str:
    """The reply to a keyword in `language` (the language of the keyword that matched)."""
    p = program or SenderProgram()
    templates = _templates(action, settings, p, language)
    values = {
        "brand": p.brand or settings.reply_brand,
        "help_contact": p.help_contact or settings.reply_help_contact,
    }
    for template in templates:
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
    return render(templates[-1], {k: v[:160] for k, v in values.items()})


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
    """Sends through azure-communication-sms. Concurrent replies with the same sender and text
    share one request (`shared.group_send`); each recipient still gets its own outcome."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._group: GroupSend[ReplyStatus] = GroupSend(self._send_many)

    def send(self, from_: str, to: str, text: str) -> ReplyStatus:
        return self._group.send(from_, to, text)

    def _send_many(
        self, key: tuple[str, str], recipients: Sequence[str]
    ) -> dict[str, ReplyStatus | Exception]:
        from azure.core.exceptions import AzureError, HttpResponseError

        from_, text = key
        try:
            results = self._client.send(from_=from_, to=list(recipients), message=text)
        except HttpResponseError as exc:
            code = exc.status_code or 500
            if code in PERMANENT_STATUSES and len(recipients) > 1:
                # Refused as a whole (nothing sent), perhaps for one recipient: each alone.
                return {to: self._send_many(key, [to])[to] for to in recipients}
            if code in PERMANENT_STATUSES:
                log.error(
                    "ACS refused the reply to %s (HTTP %s): not retried", mask(recipients[0]), code
                )
                return {recipients[0]: ReplyStatus.FAILED}
            return dict.fromkeys(recipients, ReplyFailed(f"ACS send failed: HTTP {code}"))
        except AzureError as exc:
            return dict.fromkeys(recipients, ReplyFailed(f"ACS send failed: {type(exc).__name__}"))
        # One result per recipient, in request order.
        return {to: _outcome(to, result) for to, result in zip(recipients, results, strict=False)}


def _outcome(to: str, result: Any) -> ReplyStatus | Exception:
    if result.successful:
        return ReplyStatus.SENT
    status = result.http_status_code or 500
    if status not in PERMANENT_STATUSES:
        return ReplyFailed(f"ACS send failed for the recipient: HTTP {status}")
    log.error("ACS refused the reply to %s (HTTP %s): not retried", mask(to), status)
    return ReplyStatus.FAILED


class UnavailableReplySender:
    """ACS is configured but unusable (a malformed connection string): the keyword is still
    applied and recorded, and each reply fails for now, so its claim is given back and the
    host retries it (after the fix, replaying the poison queue sends what is missing)."""

    def __init__(self, reason: str) -> None:
        self._reason = reason

    def send(self, from_: str, to: str, text: str) -> ReplyStatus:
        raise ReplyFailed(f"replies cannot be sent: {self._reason}")


def make_reply_sender(settings: Settings) -> ReplySender:
    if not settings.replies_enabled:
        return LoggingReplySender()
    from azure.communication.sms import SmsClient

    from shared.http_transport import pooled_transport

    # One connection per concurrent invocation (the default pool keeps 10).
    options: dict[str, Any] = {
        "retry_total": 2,
        "transport": pooled_transport(connection_timeout=5, read_timeout=20),
    }
    if settings.acs_connection_string:
        from azure.core.credentials import AzureKeyCredential

        try:
            endpoint, key = parse_acs_connection_string(settings.acs_connection_string)
        except SettingsError as exc:
            return UnavailableReplySender(f"{ACS_CONNECTION_STRING} {exc}")
        # Not SmsClient.from_connection_string: it forces https (reference §2). The SDK signs
        # the endpoint minus its scheme as the host, so a trailing slash would break the HMAC.
        client = SmsClient(endpoint.rstrip("/"), AzureKeyCredential(key), **options)
    else:
        from azure.identity import DefaultAzureCredential

        client = SmsClient(settings.acs_endpoint.rstrip("/"), DefaultAzureCredential(), **options)
    return AcsReplySender(client)
