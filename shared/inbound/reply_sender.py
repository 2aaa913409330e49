"""Sending the replies to keywords: through ACS (azure-communication-sms, imported on first use),
logged when no ACS is configured, or failing (to be retried) when ACS is misconfigured. The texts
are in `shared/keywords/replies.py`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from shared.domain.delivery import CONFIRMATION_TAG
from shared.domain.model import Reply, ReplyStatus
from shared.domain.phone import mask
from shared.inbound.group_send import GroupSend
from shared.platform.settings import (
    ACS_CONNECTION_STRING,
    Settings,
    SettingsError,
    parse_acs_connection_string,
)

log = logging.getLogger(__name__)

# ACS answers that retrying cannot fix (a bad or unreachable number): recorded as `failed`.
# Anything else (auth, throttling, outages) raises so that the host retries the message.
PERMANENT_STATUSES = frozenset({400, 404, 409, 422})


class ReplyFailed(Exception):
    """A reply could not be sent now (ACS unreachable, throttled, 5xx): retry later."""


class ReplySender(Protocol):
    def send(self, from_: str, to: str, text: str) -> Reply:
        """Send `text`; return the reply status to record (`sent`, `logged` or `failed`) and,
        when ACS accepted it, its message id."""
        ...


class LoggingReplySender:
    """Used when no ACS connection is configured: replies are logged (masked), not sent."""

    def send(self, from_: str, to: str, text: str) -> Reply:
        log.info(
            "Reply NOT sent (ACS_CONNECTION_STRING/ACS_ENDPOINT not set) from %s to %s: %d chars",
            mask(from_),
            mask(to),
            len(text),
        )
        return Reply(ReplyStatus.LOGGED)


class AcsReplySender:
    """Sends through azure-communication-sms. Concurrent replies with the same sender and text
    share one request (`shared.inbound.group_send`); each recipient still gets its own outcome.
    Each asks ACS for a delivery report, tagged `CONFIRMATION_TAG`: the report comes back on the
    `sms-delivery-reports` queue and is recorded on the keyword's history row
    (`shared.inbound.delivery_reports`)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._group: GroupSend[Reply] = GroupSend(self._send_many)

    def send(self, from_: str, to: str, text: str) -> Reply:
        return self._group.send(from_, to, text)

    def _send_many(
        self, key: tuple[str, str], recipients: Sequence[str]
    ) -> dict[str, Reply | Exception]:
        from azure.core.exceptions import AzureError, HttpResponseError

        from_, text = key
        try:
            results = self._client.send(
                from_=from_,
                to=list(recipients),
                message=text,
                enable_delivery_report=True,
                tag=CONFIRMATION_TAG,
            )
        except HttpResponseError as exc:
            code = exc.status_code or 500
            if code in PERMANENT_STATUSES and len(recipients) > 1:
                # Refused as a whole (nothing sent), perhaps for one recipient: each alone.
                return {to: self._send_many(key, [to])[to] for to in recipients}
            if code in PERMANENT_STATUSES:
                log.error(
                    "ACS refused the reply to %s (HTTP %s): not retried", mask(recipients[0]), code
                )
                return {recipients[0]: Reply(ReplyStatus.FAILED)}
            return dict.fromkeys(recipients, ReplyFailed(f"ACS send failed: HTTP {code}"))
        except AzureError as exc:
            return dict.fromkeys(recipients, ReplyFailed(f"ACS send failed: {type(exc).__name__}"))
        # One result per recipient, in request order.
        return {to: _outcome(to, result) for to, result in zip(recipients, results, strict=False)}


def _outcome(to: str, result: Any) -> Reply | Exception:
    if result.successful:
        return Reply(ReplyStatus.SENT, getattr(result, "message_id", None) or "")
    status = result.http_status_code or 500
    if status not in PERMANENT_STATUSES:
        return ReplyFailed(f"ACS send failed for the recipient: HTTP {status}")
    log.error("ACS refused the reply to %s (HTTP %s): not retried", mask(to), status)
    return Reply(ReplyStatus.FAILED)


class UnavailableReplySender:
    """ACS is configured but unusable (a malformed connection string): the keyword is still
    applied and recorded, and each reply fails for now, so its claim is given back and the
    host retries it (after the fix, replaying the poison queue sends what is missing)."""

    def __init__(self, reason: str) -> None:
        self._reason = reason

    def send(self, from_: str, to: str, text: str) -> Reply:
        raise ReplyFailed(f"replies cannot be sent: {self._reason}")


def make_reply_sender(settings: Settings) -> ReplySender:
    if not settings.replies_enabled:
        return LoggingReplySender()
    from azure.communication.sms import SmsClient

    from shared.platform.http_transport import pooled_transport

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
