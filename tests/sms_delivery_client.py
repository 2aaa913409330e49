"""Test support: the request `SmsClient.get_delivery_report` makes in Microsoft's unreleased
Python client (azure-communication-sms 1.2.0; public source in Azure/azure-sdk-for-python,
sdk/communication/azure-communication-sms: `_sms_client.py` and the generated
`DeliveryReportsOperations.get`), run through the pipeline of the released client (1.1.0, the
one pinned here), so that the tests meet the same HTTP request a 1.2.0 caller sends.

What 1.2.0 does, and what this repeats (not copied: written from its behaviour):
- `GET {endpoint}/deliveryReports/{outgoingMessageId}?api-version=V`, the id serialized as one
  URL path segment (percent-encoded, `/` included), `V` the client's api-version (default
  `2026-01-23`), header `Accept: application/json`, no body;
- through the client's pipeline: the HMAC policy (or a token credential), its user agent;
- 200 and 404 are read as JSON and returned (1.2.0's SmsClient maps the dict onto its
  `DeliveryReport` model, whose attributes are the snake_case of the wire names); 401 raises
  ClientAuthenticationError; any other status raises HttpResponseError.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from azure.communication.sms import SmsClient
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    map_error,
)
from azure.core.rest import HttpRequest

DEFAULT_API_VERSION = "2026-01-23"
# 1.2.0's error map for this operation (404 is an answer, not an error, here).
ERROR_MAP = {401: ClientAuthenticationError, 409: ResourceExistsError}


@dataclass
class DeliveryReport:
    """The attributes of 1.2.0's `DeliveryReport` model (what a caller reads)."""

    delivery_status: str | None = None
    delivery_status_details: str | None = None
    message_id: str | None = None
    from_property: str | None = None
    to: str | None = None
    received_timestamp: str | None = None
    tag: str | None = None
    delivery_attempts: list[dict[str, Any]] = field(default_factory=list)
    messaging_connect_partner_message_id: str | None = None


@dataclass
class Answer:
    status: int
    json: Any
    request_url: str
    request_headers: dict[str, str]


class DeliveryReportsClient:
    def __init__(self, endpoint: str, key: str, api_version: str = DEFAULT_API_VERSION) -> None:
        # The released client's pipeline: HMAC signing, user agent, transport.
        self._client = SmsClient(endpoint.rstrip("/"), AzureKeyCredential(key), retry_total=0)
        self.api_version = api_version

    def get(self, outgoing_message_id: str) -> Answer:
        """The generated operation: one request, the answer read as 1.2.0 reads it."""
        request = HttpRequest(
            "GET",
            "{endpoint}/deliveryReports/" + quote(outgoing_message_id, safe=""),
            params={"api-version": self.api_version},
            headers={"Accept": "application/json"},
        )
        response = self._client._sms_service_client._send_request(request, stream=False)
        if response.status_code not in (200, 404):
            map_error(status_code=response.status_code, response=response, error_map=ERROR_MAP)
            raise HttpResponseError(response=response)
        return Answer(
            response.status_code,
            response.json() if response.content else None,
            response.request.url,
            dict(response.request.headers),
        )

    def get_delivery_report(self, outgoing_message_id: str) -> DeliveryReport:
        """`SmsClient.get_delivery_report`: the JSON mapped onto the model's attributes (a 404's
        problem details map to a report with no status, as in 1.2.0)."""
        body = self.get(outgoing_message_id).json or {}
        return DeliveryReport(
            delivery_status=body.get("deliveryStatus"),
            delivery_status_details=body.get("deliveryStatusDetails"),
            message_id=body.get("messageId"),
            from_property=body.get("from"),
            to=body.get("to"),
            received_timestamp=body.get("receivedTimestamp"),
            tag=body.get("tag"),
            delivery_attempts=body.get("deliveryAttempts") or [],
            messaging_connect_partner_message_id=body.get("messagingConnectPartnerMessageId"),
        )
