"""The upstream of the send endpoint: the real ACS resource, through the official Python client.

Why not `SmsClient.send`: it makes up new repeatability values for every recipient (so a caller's
retry would no longer be recognised by ACS and could send twice), sends only
`enableDeliveryReport` and `tag` (dropping `deliveryReportTimeoutInSeconds`, `messagingConnect`
and anything later), and always says `api-version=2021-03-07`. Its generated layer
(`sms.send(SendMessageRequest)`) keeps the repeatability values but its models drop the same
options. So the request is built here (`send_wire.request_to_wire`: the caller's body minus the
blocked recipients) and run through the client's own pipeline (`_send_request`, the generated
client's raw-request hook): the same HMAC or managed-identity authentication, user agent and
transport as `send`, with the caller's api-version. azure-communication-sms is pinned (1.1.0)
and `tests/test_acs_upstream.py` runs this against the ACS double, so an upgrade that changes the
hook fails the tests, not production.

No retries here (`retry_total=0`); timeouts are bounded (`SEND_CONNECT_TIMEOUT_SECONDS`,
`SEND_READ_TIMEOUT_SECONDS`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from shared.api.send_wire import request_to_wire, results_from_wire
from shared.domain.model import UpstreamFailure
from shared.platform.settings import Settings, parse_acs_connection_string
from shared.sending.records import (
    DryRun,
    NotConfigured,
    SendRequest,
    SendResult,
    Upstream,
    UpstreamError,
)

if TYPE_CHECKING:
    from shared.domain.repositories import DeliveryReports

log = logging.getLogger(__name__)


class AcsUpstream:
    def __init__(self, client: Any, *, connect_timeout: float, read_timeout: float) -> None:
        self._client = client  # azure.communication.sms.SmsClient
        self._timeouts = {"connection_timeout": connect_timeout, "read_timeout": read_timeout}

    def send(self, request: SendRequest) -> list[SendResult]:
        from azure.core.rest import HttpRequest

        http_request = HttpRequest(
            "POST",
            "{endpoint}/sms",
            params={"api-version": request.api_version},
            json=request_to_wire(request),
            headers={"Accept": "application/json"},
        )
        response = _run(self._client, http_request, **self._timeouts)
        return _read(response.status_code, response.body(), dict(response.headers))


@dataclass(frozen=True)
class UpstreamAnswer:
    """ACS's answer to a forwarded read, as it came (status, JSON body, headers)."""

    status: int
    body: Any
    headers: dict[str, str]


class AcsDeliveryReports:
    """`GET /deliveryReports/{id}` forwarded to ACS through the official client's pipeline (the
    same authentication, user agent, transport and timeouts as the send), with the caller's
    api-version. The request is the one `SmsClient.get_delivery_report` (azure-communication-sms
    1.2.0) makes: the id percent-encoded as one path segment, `Accept: application/json`."""

    def __init__(self, client: Any) -> None:
        self._client = client  # azure.communication.sms.SmsClient

    def get(self, message_id: str, api_version: str) -> UpstreamAnswer:
        from azure.core.rest import HttpRequest

        http_request = HttpRequest(
            "GET",
            "{endpoint}/deliveryReports/" + quote(message_id, safe=""),
            params={"api-version": api_version},
            headers={"Accept": "application/json"},
        )
        response = _run(self._client, http_request)
        status, body, headers = response.status_code, response.body(), dict(response.headers)
        if status in (200, 404):
            try:
                return UpstreamAnswer(status, json.loads(body), headers)
            except (UnicodeDecodeError, ValueError, RecursionError) as exc:
                raise UpstreamError(UpstreamFailure.BAD_ANSWER, str(exc), status) from exc
        raise UpstreamError(
            failure_kind(status), f"ACS answered HTTP {status}", status, body, headers
        )


def _run(client: Any, http_request: Any, **options: Any) -> Any:
    """One call through the client's pipeline (`options` for it, such as timeouts); transport
    failures as UpstreamError."""
    from azure.core.exceptions import (
        AzureError,
        ClientAuthenticationError,
        ServiceRequestError,
        ServiceResponseError,
    )

    try:
        return client._sms_service_client._send_request(http_request, stream=False, **options)
    except ServiceRequestError as exc:  # no connection (incl. connect timeout): not sent
        raise UpstreamError(UpstreamFailure.UNREACHABLE, type(exc).__name__) from exc
    except ServiceResponseError as exc:  # sent; no (complete) answer
        raise UpstreamError(UpstreamFailure.TIMEOUT, type(exc).__name__) from exc
    except ClientAuthenticationError as exc:  # no token for the managed identity
        raise UpstreamError(UpstreamFailure.AUTH_FAILED, type(exc).__name__) from exc
    except AzureError as exc:
        raise UpstreamError(UpstreamFailure.BAD_ANSWER, type(exc).__name__) from exc


def _read(status: int, body: bytes, headers: dict[str, str]) -> list[SendResult]:
    if status in (200, 202):
        try:
            return results_from_wire(json.loads(body))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise UpstreamError(UpstreamFailure.BAD_ANSWER, str(exc), status) from exc
    raise UpstreamError(failure_kind(status), f"ACS answered HTTP {status}", status, body, headers)


def failure_kind(status: int) -> UpstreamFailure:
    """What an ACS answer that is not a success says, by its HTTP status."""
    if status in (401, 403):
        return UpstreamFailure.AUTH_FAILED
    if status == 503:
        return UpstreamFailure.UNAVAILABLE
    if 400 <= status < 500:
        return UpstreamFailure.REFUSED
    if status >= 500:
        return UpstreamFailure.SERVER_ERROR
    return UpstreamFailure.BAD_ANSWER


def build_sms_client(settings: Settings) -> Any:
    """The official SmsClient for ACS_CONNECTION_STRING (validated by the send endpoint's
    settings gate), else ACS_ENDPOINT + managed identity; no retries, pooled connections."""
    from azure.communication.sms import SmsClient

    from shared.platform.http_transport import pooled_transport

    transport = pooled_transport(
        connection_timeout=settings.send_connect_timeout, read_timeout=settings.send_read_timeout
    )
    options: dict[str, Any] = {"retry_total": 0, "transport": transport}
    if settings.acs_connection_string:
        from azure.core.credentials import AzureKeyCredential

        endpoint, key = parse_acs_connection_string(settings.acs_connection_string)
        # Not SmsClient.from_connection_string: it forces https (a local double is http). The
        # SDK signs the endpoint minus its scheme as the host: no trailing slash.
        return SmsClient(endpoint.rstrip("/"), AzureKeyCredential(key), **options)
    from azure.identity import DefaultAzureCredential

    return SmsClient(settings.acs_endpoint.rstrip("/"), DefaultAzureCredential(), **options)


def make_upstream(settings: Settings, dry_sends: DeliveryReports | None = None) -> Upstream:
    """Dry run wins over a configured resource: a switch that says "do not send" never sends.
    `dry_sends` keeps what a dry run answers (for `GET /deliveryReports/{id}`)."""
    if settings.send_dry_run:
        return DryRun(dry_sends.record_dry_sends if dry_sends is not None else None)
    if not settings.replies_enabled:
        return NotConfigured()
    return AcsUpstream(
        build_sms_client(settings),
        connect_timeout=settings.send_connect_timeout,
        read_timeout=settings.send_read_timeout,
    )
