"""A STOP must not depend on the API's settings: with OPTOUT_ACCESS_KEYS unusable (an unresolved
Key Vault reference, as Azure leaves it while the reference cannot be resolved yet, or a broken
key), or OPTOUT_KEYS unusable (bad JSON, an unknown permission, the same key under two names),
keyword events are applied and answered; the API refuses with 500; `/health` answers 503
naming the setting and why, never its value; the start-up log says so once (OPTOUT_KEYS: the
first API request, which parses it). Through the real local host (a subprocess), Azurite and the
ACS double."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import requests
from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableClient
from azure.storage.queue import QueueClient

from devhost.acs_double import AcsDouble
from devhost.inprocess import TEST_KEY
from devhost.queues import QUEUE_API_VERSION
from devhost.testing import ROOT, Azurite, HostProcess, start_host
from shared.platform.hmac_auth import sign_request
from tests.test_e2e import event_grid

BUSINESS = "+18005550100"
KEY_VAULT_REFERENCE = (
    "@Microsoft.KeyVault(SecretUri=https://optout-kv.vault.azure.net/secrets/optout-access-keys/)"
)
BROKEN_KEY = "c2VjcmV0LWJ1dC1ub3QtYmFzZTY0!!"  # a real-looking key with a typo: not base64
SCOPED_KEY = "c2NvcGVkLWtleS1vZi1zaXh0ZWVuLWJ5dGVz"
# (setting, value, what /health says): OPTOUT_ACCESS_KEYS then holds TEST_KEY when the broken
# setting is OPTOUT_KEYS, so the API's 500 is OPTOUT_KEYS's alone.
CASES = {
    "keyvault": ("OPTOUT_ACCESS_KEYS", KEY_VAULT_REFERENCE, "Key Vault reference"),
    "typo": ("OPTOUT_ACCESS_KEYS", BROKEN_KEY, "base64"),
    "keys-json": ("OPTOUT_KEYS", f'[{{"name": "crm", "key": "{SCOPED_KEY}",', "not valid JSON"),
    "keys-permission": (
        "OPTOUT_KEYS",
        json.dumps([{"name": "crm", "key": SCOPED_KEY, "permissions": ["chek"], "senders": ["*"]}]),
        "unknown permission",
    ),
    "keys-duplicate": (
        "OPTOUT_KEYS",
        json.dumps(
            [
                {"name": "crm", "key": SCOPED_KEY, "permissions": ["check"], "senders": ["*"]},
                {"name": "desk", "key": SCOPED_KEY, "permissions": ["write"], "senders": ["*"]},
            ]
        ),
        "two names",
    ),
}


@dataclass
class App:
    host: HostProcess
    acs: AcsDouble
    azurite: Azurite
    optouts_table: str
    setting: str
    reason: str

    def put_stop(self, person: str) -> None:
        queue = QueueClient.from_connection_string(
            self.azurite.connection_string, "sms-inbound", api_version=QUEUE_API_VERSION
        )
        with contextlib.suppress(ResourceExistsError):
            queue.create_queue()
        event = event_grid(person, "STOP", "2026-11-26T10:00:00Z", business=BUSINESS)
        queue.send_message(json.dumps(event))

    def opted_out_in_storage(self, person: str) -> bool:
        table = TableClient.from_connection_string(
            self.azurite.connection_string, self.optouts_table
        )
        rows = table.query_entities(
            "PartitionKey eq @pk and RowKey eq @rk", parameters={"pk": BUSINESS, "rk": person}
        )
        return any(True for _ in rows)


def wait_for(condition: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)


@pytest.fixture(scope="module", params=sorted(CASES))
def app(request: pytest.FixtureRequest, azurite: Azurite) -> Iterator[App]:
    setting, value, _ = CASES[request.param]
    acs = AcsDouble().start()
    suffix = uuid.uuid4().hex[:8]
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "OPTOUT_ACCESS_KEYS": TEST_KEY,
        setting: value,
        "OPTOUT_TABLE_NAME": f"BadKeyOptOuts{suffix}",
        "OPTOUT_HISTORY_TABLE_NAME": f"BadKeyHistory{suffix}",
        "SENDER_PROGRAMS_TABLE_NAME": f"BadKeyPrograms{suffix}",
        "ACS_CONNECTION_STRING": acs.connection_string,
        "AzureFunctionsJobHost__extensions__queues__maxPollingInterval": "00:00:00.200",
    }
    host = start_host(ROOT, env=env, use_local_settings=False)
    try:
        yield App(host, acs, azurite, env["OPTOUT_TABLE_NAME"], setting, CASES[request.param][2])
    finally:
        host.stop()
        acs.stop()
    output = host.output()
    assert value not in output and "optout-kv" not in output  # never the value
    assert SCOPED_KEY not in output
    if setting == "OPTOUT_ACCESS_KEYS":
        assert output.count("Configuration problem: OPTOUT_ACCESS_KEYS") == 1  # said once
    else:  # parsed by the first API request, which logs why it refuses
        assert "misconfigured: OPTOUT_KEYS: " in output


def test_a_stop_is_applied_and_answered_when_the_api_keys_are_unusable(app: App) -> None:
    person = "+14255550301"
    app.put_stop(person)
    wait_for(lambda: any(s.to == person for s in app.acs.sent))
    assert app.opted_out_in_storage(person)
    assert [s.to for s in app.acs.sent] == [person]  # one reply
    # Never refused for the API's settings (other tests' leftovers on the shared queue may fail).
    assert "SettingsError" not in app.host.output()


def test_health_names_the_setting_and_why_never_the_value(app: App) -> None:
    res = requests.get(app.host.base_url + "/health", timeout=10)
    assert res.status_code == 503
    body = res.json()
    assert body["status"] == "unhealthy" and body["storage"] == "reachable"
    [problem] = body["settings"]
    assert problem["setting"] == app.setting
    assert app.reason in problem["problem"]
    assert KEY_VAULT_REFERENCE not in res.text and "optout-kv" not in res.text
    assert BROKEN_KEY not in res.text and SCOPED_KEY not in res.text


def test_the_api_refuses_without_leaking(app: App) -> None:
    url = app.host.base_url + "/sms/optouts:check?api-version=2026-01-23"
    body = json.dumps({"from": BUSINESS, "recipients": [{"to": "+14255550301"}]}).encode()
    headers = {"content-type": "application/json", **sign_request("POST", url, body, TEST_KEY)}
    res = requests.post(url, data=body, headers=headers, timeout=10)
    assert res.status_code == 500
    assert res.json()["error"]["code"] == "ServiceMisconfigured"
    assert "optout-kv" not in res.text and BROKEN_KEY not in res.text
    assert SCOPED_KEY not in res.text
