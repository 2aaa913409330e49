"""The app in the local host as the end-to-end tests drive it (tests/test_e2e.py,
tests/test_console.py, tests/test_acs_mirror_e2e.py,
tests/test_delivery_reports_e2e.py): started with Azurite and the ACS double,
called with HMAC-signed requests, fed SMSReceived events on its inbound queue, and waited for."""

from __future__ import annotations

import base64
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import requests
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient

from devhost.acs_double import AcsDouble
from devhost.inprocess import TEST_KEY
from devhost.queues import QUEUE_API_VERSION
from devhost.testing import ROOT, Azurite, HostProcess, start_host
from shared.platform.hmac_auth import sign_request

T = TypeVar("T")
A = TypeVar("A", bound="HostedApp")


@dataclass
class HostedApp:
    host: HostProcess
    acs: AcsDouble
    azurite: Azurite

    timeout: ClassVar[float] = 30.0  # of each signed call, in seconds

    @property
    def url(self) -> str:
        return self.host.base_url

    def signed(
        self,
        method: str,
        path: str,
        body: Any = None,
        key: str = TEST_KEY,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """`method path` with `body` as JSON, signed with `key`; `headers` added last."""
        data = b"" if body is None else json.dumps(body).encode()
        url = self.url + path
        sent = {"content-type": "application/json", **sign_request(method, url, data, key)}
        sent.update(headers or {})
        return requests.request(method, url, data=data, headers=sent, timeout=self.timeout)

    def queue(self, name: str = "sms-inbound") -> QueueClient:
        return QueueClient.from_connection_string(
            self.azurite.connection_string, name, api_version=QUEUE_API_VERSION
        )

    def put(self, event: dict[str, Any], *, b64: bool = True) -> None:
        """`event` as JSON on the inbound queue (base64, as Event Grid puts it, unless not)."""
        text = json.dumps(event)
        if b64:
            text = base64.b64encode(text.encode()).decode()
        queue = self.queue()
        with contextlib.suppress(ResourceExistsError):
            queue.create_queue()
        queue.send_message(text)


@contextlib.contextmanager
def hosted(app_type: type[A], azurite: Azurite, env: Mapping[str, str]) -> Iterator[A]:
    """The app in the local host with `env` (its own tables), on `azurite`, its ACS the double
    (AzureWebJobsStorage and ACS_CONNECTION_STRING are set here); both stopped afterwards."""
    acs = AcsDouble().start()
    settings = {
        "AzureWebJobsStorage": azurite.connection_string,
        "ACS_CONNECTION_STRING": acs.connection_string,
        **env,
    }
    host = start_host(ROOT, env=settings, use_local_settings=False)
    try:
        yield app_type(host, acs, azurite)
    finally:
        host.stop()
        acs.stop()


def sms_received(
    sender: str, person: str, text: str, ts: str, message_id: str | None = None
) -> dict[str, Any]:
    """An SMSReceived event as Event Grid delivers it: `person` texted `text` to `sender`."""
    message_id = message_id or f"Incoming_{uuid.uuid4().hex}"
    return {
        "id": message_id,
        "topic": "/subscriptions/x/resourceGroups/y/providers/microsoft.communication/z",
        "subject": f"/phonenumber/{sender[1:]}",
        "eventType": "Microsoft.Communication.SMSReceived",
        "eventTime": ts,
        "dataVersion": "1.0",
        "metadataVersion": "1",
        "data": {
            "MessageId": message_id,
            "From": person[1:],
            "To": sender[1:],
            "Message": text,
            "ReceivedTimestamp": ts,
        },
    }


def wait_for(condition: Callable[[], T], timeout: float = 30.0, what: str = "") -> T:
    """`condition()`'s first truthy value, polled every 0.2 s for up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not in time: {what or 'condition'}")
        time.sleep(0.2)
