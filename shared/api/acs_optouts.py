"""ACS's Opt-Out Management API (`POST /sms/optouts:add|remove|check`) as the mirror and
reconcile call it: through the official `azure-communication-sms` client's pipeline, as the send
endpoint's upstream does (`acs_upstream`: HMAC with ACS_CONNECTION_STRING, else the managed
identity; its user agent and transport), since the Python client has no opt-out methods (reference
§1). No retries here: the mirror retries with its own back-off, reconcile's caller retries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from shared.api.acs_upstream import failure_kind
from shared.domain.model import UpstreamFailure
from shared.feed.mirror import AcsItem, AcsOptOutsFailed

# The stable version with the opt-out routes (reference §1).
ACS_OPTOUTS_API_VERSION = "2026-01-23"


class AcsOptOutClient:
    def __init__(self, client: Any, *, connect_timeout: float, read_timeout: float) -> None:
        self._client = client  # azure.communication.sms.SmsClient
        self._timeouts = {"connection_timeout": connect_timeout, "read_timeout": read_timeout}

    def call(self, action: str, sender: str, recipients: Sequence[str]) -> list[AcsItem]:
        from azure.core.exceptions import (
            AzureError,
            ClientAuthenticationError,
            ServiceRequestError,
            ServiceResponseError,
        )
        from azure.core.rest import HttpRequest

        if not recipients:
            return []
        request = HttpRequest(
            "POST",
            f"{{endpoint}}/sms/optouts:{action}",
            params={"api-version": ACS_OPTOUTS_API_VERSION},
            json={"from": sender, "recipients": [{"to": r} for r in recipients]},
            headers={"Accept": "application/json"},
        )
        try:
            response = self._client._sms_service_client._send_request(
                request, stream=False, **self._timeouts
            )
        except ServiceRequestError as exc:
            raise AcsOptOutsFailed(UpstreamFailure.UNREACHABLE, type(exc).__name__) from exc
        except ServiceResponseError as exc:
            raise AcsOptOutsFailed(UpstreamFailure.TIMEOUT, type(exc).__name__) from exc
        except ClientAuthenticationError as exc:
            raise AcsOptOutsFailed(UpstreamFailure.AUTH_FAILED, type(exc).__name__) from exc
        except AzureError as exc:
            raise AcsOptOutsFailed(UpstreamFailure.BAD_ANSWER, type(exc).__name__) from exc
        return read_answer(response.status_code, response.body())


def read_answer(status: int, body: bytes) -> list[AcsItem]:
    if status == 200:
        try:
            return [
                AcsItem(
                    to=str(item["to"]),
                    status=int(item["httpStatusCode"]),
                    opted_out=item.get("isOptedOut"),
                    error=str(item.get("errorMessage") or ""),
                )
                for item in json.loads(body)["value"]
            ]
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise AcsOptOutsFailed(UpstreamFailure.BAD_ANSWER, type(exc).__name__, status) from exc
    raise AcsOptOutsFailed(failure_kind(status), f"ACS answered HTTP {status}", status)


def make_acs_optouts(settings: Any) -> AcsOptOutClient | None:
    """The client for the configured ACS resource; None when none is configured."""
    if not settings.replies_enabled:
        return None
    from shared.api.acs_upstream import build_sms_client

    return AcsOptOutClient(
        build_sms_client(settings),
        connect_timeout=settings.send_connect_timeout,
        read_timeout=settings.send_read_timeout,
    )
