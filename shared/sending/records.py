"""Outgoing SMS: the records of a send, what an upstream sender is, and its failures.

The domain side of `POST /sms` (no Azure, no HTTP): `shared/api/send_wire.py` parses the body into a
`SendRequest`, `shared/sending/gateway.py` decides per recipient, an `Upstream` delivers the allowed
ones (`shared/api/acs_upstream.py` through ACS; `NotConfigured` and `DryRun` here), and the results
go back through the wire module.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from shared.domain.delivery import DrySend
from shared.domain.model import RepeatabilityResult, UpstreamFailure
from shared.domain.phone import mask
from shared.domain.sender import SenderId

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutgoingRecipient:
    to: str  # as the caller wrote it
    repeatability_request_id: str | None = None
    repeatability_first_sent: str | None = None
    # fields this version does not know: passed through
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendRequest:
    sender: SenderId
    message: str
    recipients: tuple[OutgoingRecipient, ...]
    api_version: str
    options: Mapping[str, Any] | None = None  # smsSendOptions as sent, passed through
    extra: Mapping[str, Any] = field(default_factory=dict)  # unknown fields: passed through

    def only(self, recipients: Sequence[OutgoingRecipient]) -> SendRequest:
        return replace(self, recipients=tuple(recipients))


@dataclass(frozen=True)
class SendResult:
    """One recipient's answer, as ACS gives it (`SmsSendResponseItem`)."""

    to: str
    status: int
    successful: bool
    message_id: str | None = None
    repeatability_result: str | None = None
    error_message: str | None = None


@dataclass
class UpstreamError(Exception):
    """A forwarding call that failed as a whole. `status`/`body`/`headers` are ACS's answer when
    there was one (for REFUSED they are passed to the caller unchanged)."""

    kind: UpstreamFailure
    detail: str
    status: int | None = None
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


class Upstream(Protocol):
    def send(self, request: SendRequest) -> list[SendResult]:
        """Deliver `request` in one call; a result per recipient (in any order), or raise
        UpstreamError."""
        ...


NOT_CONFIGURED = (
    "Not sent: no ACS resource is configured for this service (set ACS_CONNECTION_STRING or "
    "ACS_ENDPOINT, or SEND_DRY_RUN=true to try the API without sending)."
)
DRY_RUN_PREFIX = "DryRun_"


class NotConfigured:
    """No ACS resource: nothing can be sent, and the answer says so for every recipient."""

    def send(self, request: SendRequest) -> list[SendResult]:
        log.warning(
            "Send NOT delivered (ACS_CONNECTION_STRING/ACS_ENDPOINT not set): sender=%s "
            "recipients=%d",
            request.sender.masked,
            len(request.recipients),
        )
        return [
            SendResult(r.to, 503, False, error_message=NOT_CONFIGURED) for r in request.recipients
        ]


class DryRun:
    """SEND_DRY_RUN=true: answers as ACS would for a successful send, sends nothing, logs masked.
    `keep` (when given) is handed what was answered, so that `GET /deliveryReports/{id}` can
    answer for those message ids."""

    def __init__(self, keep: Callable[[Sequence[DrySend]], None] | None = None) -> None:
        self._keep = keep

    def send(self, request: SendRequest) -> list[SendResult]:
        results = []
        for r in request.recipients:
            log.info(
                "DRY RUN send from %s to %s: %d chars (not sent)",
                request.sender.masked,
                mask(r.to),
                len(request.message),
            )
            results.append(
                SendResult(
                    r.to,
                    202,
                    True,
                    message_id=f"{DRY_RUN_PREFIX}{uuid.uuid4().hex}",
                    repeatability_result=(
                        RepeatabilityResult.ACCEPTED if r.repeatability_request_id else None
                    ),
                )
            )
        if self._keep is not None:
            now = datetime.now(UTC)
            tag = _tag(request.options)
            self._keep(
                [
                    DrySend(str(res.message_id), request.sender.display, res.to, now, tag)
                    for res in results
                ]
            )
        return results


def _tag(options: Mapping[str, Any] | None) -> str:
    """smsSendOptions.tag, its name matched without case (as ACS does)."""
    for key, value in (options or {}).items():
        if key.lower() == "tag" and isinstance(value, str):
            return value
    return ""
