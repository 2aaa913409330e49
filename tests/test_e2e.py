"""End to end: the real app in the local host (a subprocess serving real HTTP), Azurite, the
official ACS JavaScript client, events put on the queue as Event Grid puts them, and replies
caught by a local ACS double that verifies their HMAC signature."""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from devhost.inprocess import OTHER_KEY, TEST_KEY
from devhost.testing import ROOT, Azurite
from shared.api.openapi import DOCUMENT_PATH
from shared.inbound.deadletter import DEADLETTER_CONTAINER
from shared.platform.connections import BLOB_API_VERSION
from tests.conftest import EXCHANGES
from tests.hosted import HostedApp, hosted, sms_received, wait_for
from tests.openapi_check import ExchangeLogs

NODE = shutil.which("node")
JS_CLIENT = ROOT / "tests" / "js" / "optouts.mjs"
BUSINESS = "+18005550100"
# OPTOUT_KEYS's "crm": may only check (docs/access.md).
CHECK_ONLY_KEY = "Y3JtLWNoZWNrLW9ubHktb2ZmaWNpYWwtY2xpZW50cyE="
T = TypeVar("T")


class App(HostedApp):
    def connection_string(self, key: str = TEST_KEY) -> str:
        return f"endpoint={self.url}/;accesskey={key}"

    def is_opted_out(self, person: str, sender: str = BUSINESS) -> bool:
        res = self.signed(
            "POST",
            "/sms/optouts:check?api-version=2026-01-23",
            {"from": sender, "recipients": [{"to": person}]},
        )
        assert res.status_code == 200, res.text
        return bool(res.json()["value"][0]["isOptedOut"])


@pytest.fixture(scope="module")
def app(azurite: Azurite) -> Iterator[App]:
    suffix = uuid.uuid4().hex[:8]
    env = {
        "OPTOUT_ACCESS_KEYS": TEST_KEY,
        "OPTOUT_KEYS": json.dumps(
            [{"name": "crm", "key": CHECK_ONLY_KEY, "permissions": ["check"], "senders": ["*"]}]
        ),
        "OPTOUT_TABLE_NAME": f"E2eOptOuts{suffix}",
        "OPTOUT_HISTORY_TABLE_NAME": f"E2eHistory{suffix}",
        "SENDER_PROGRAMS_TABLE_NAME": f"E2ePrograms{suffix}",
        "GROUP_OPTOUTS_TABLE_NAME": f"E2eGroups{suffix}",
        "REPLY_BRAND": "Contoso",
        # host.json overrides, as app settings do in Azure: fast retries for the poison test.
        "AzureFunctionsJobHost__extensions__queues__visibilityTimeout": "00:00:00.200",
        "AzureFunctionsJobHost__extensions__queues__maxPollingInterval": "00:00:00.500",
    }
    with hosted(App, azurite, env) as app:
        yield app
    output = app.host.output()
    # No full phone number or message text ever reaches the logs.
    assert "4255550" not in output, output[-2000:]
    assert "Stop texting me" not in output


def js(app: App, ops: list[dict[str, Any]], key: str = TEST_KEY) -> list[dict[str, Any]]:
    assert NODE, "node is required for the end-to-end tests"
    payload = json.dumps({"connectionString": app.connection_string(key), "ops": ops})
    done = subprocess.run(
        [NODE, str(JS_CLIENT)],
        input=payload.encode(),
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return list(json.loads(done.stdout))


def test_official_js_client_add_check_remove(app: App) -> None:
    people = ["+14255550101", "+14255550102"]
    out = js(
        app,
        [
            {"op": "add", "from": BUSINESS, "to": [*people, "+123"]},
            {"op": "check", "from": BUSINESS, "to": [*people, "+14255550103"]},
            {"op": "remove", "from": BUSINESS, "to": people[:1]},
            {"op": "check", "from": BUSINESS, "to": people},
        ],
    )
    added, checked, removed, rechecked = (o["result"] for o in out)
    assert [(r["to"], r["httpStatusCode"]) for r in added] == [
        (people[0], 200),
        (people[1], 200),
        ("+123", 400),
    ]
    assert added[2]["errorMessage"] == "Invalid recipient phone number format"
    assert [r["isOptedOut"] for r in checked] == [True, True, False]
    assert [r["httpStatusCode"] for r in removed] == [200]
    assert [r["isOptedOut"] for r in rechecked] == [False, True]


def test_official_js_client_with_100_recipients(app: App) -> None:
    people = [f"+1425556{i:04d}" for i in range(100)]
    out = js(
        app,
        [
            {"op": "add", "from": BUSINESS, "to": people[:50]},
            {"op": "check", "from": BUSINESS, "to": people},
        ],
    )
    checked = out[1]["result"]
    assert len(checked) == 100
    assert [r["isOptedOut"] for r in checked] == [True] * 50 + [False] * 50


def test_official_js_client_with_a_wrong_key_is_refused(app: App) -> None:
    (out,) = js(app, [{"op": "check", "from": BUSINESS, "to": ["+14255550101"]}], key=OTHER_KEY)
    assert out["error"]["statusCode"] == 401


def test_official_js_client_with_a_check_only_key(app: App) -> None:
    person = "+14255550109"
    checked, added, removed = js(
        app,
        [
            {"op": "check", "from": BUSINESS, "to": [person]},
            {"op": "add", "from": BUSINESS, "to": [person]},
            {"op": "remove", "from": BUSINESS, "to": [person]},
        ],
        key=CHECK_ONLY_KEY,
    )
    assert [r["isOptedOut"] for r in checked["result"]] == [False]
    for refused in (added, removed):
        assert refused["error"]["statusCode"] == 403
        assert refused["error"]["code"] == "MissingPermission"
        assert "'write'" in refused["error"]["message"]
    assert not app.is_opted_out(person)  # the refused add changed nothing


def python_client(app: App, key: str) -> Any:
    from azure.communication.sms import SmsClient
    from azure.core.credentials import AzureKeyCredential

    return SmsClient(app.url, AzureKeyCredential(key))


def test_official_python_client_with_a_check_only_key(app: App) -> None:
    """azure-communication-sms has no opt-out methods (the JS client has): its own pipeline
    (the SDK's HMAC signing, retries, user agent) sends check and add; its `send` is refused."""
    from azure.core.exceptions import HttpResponseError
    from azure.core.rest import HttpRequest

    client = python_client(app, CHECK_ONLY_KEY)
    pipeline = client._sms_service_client._client  # the official client's own pipeline
    person = "+14255550108"
    body = {"from": BUSINESS, "recipients": [{"to": person}]}

    def post(action: str) -> Any:
        url = f"{app.url}/sms/optouts:{action}?api-version=2026-01-23"
        return pipeline.send_request(HttpRequest("POST", url, json=body))

    checked = post("check")
    assert checked.status_code == 200
    assert checked.json()["value"][0]["isOptedOut"] is False
    added = post("add")
    assert added.status_code == 403
    assert added.json()["error"]["code"] == "MissingPermission"
    with pytest.raises(HttpResponseError) as refused:
        client.send(from_=BUSINESS, to=[person], message="Hello")
    assert refused.value.status_code == 403
    assert not app.is_opted_out(person)


def test_responses_reach_the_openapi_check(app: App, tmp_path: Path) -> None:
    EXCHANGES.check_new()  # what the earlier tests left (the conftest fixture checks it anyway)
    js(app, [{"op": "check", "from": BUSINESS, "to": ["+14255550109", "+1"]}])
    requests.get(app.url + "/health", timeout=10)
    requests.get(app.url + "/no/such/path", timeout=10)  # the host's 404: no function answered
    assert EXCHANGES.check_new() == 2
    # A response the document does not describe fails: the last one, with another status.
    files = sorted(EXCHANGES.directory.glob("exchanges-*.jsonl"), key=lambda p: p.stat().st_mtime)
    last = files[-1].read_bytes().splitlines()[-1]
    (tmp_path / "exchanges-1.jsonl").write_bytes(
        last.replace(b'"status": 200', b'"status": 299') + b"\n"
    )
    with pytest.raises(AssertionError, match="299"):
        ExchangeLogs(tmp_path).check_new()


def test_health_and_routing(app: App) -> None:
    assert requests.get(app.url + "/health", timeout=10).status_code == 200
    assert requests.get(app.url + "/sms/optouts:add", timeout=10).status_code in (404, 405)
    bad = app.signed("POST", "/sms/optouts:add", {"from": BUSINESS, "recipients": []})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "ApiVersionUnspecified"


def test_the_openapi_document_is_served_anonymously(app: App) -> None:
    res = requests.get(app.url + "/openapi.json", timeout=10)
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("application/json")
    assert res.json() == json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))
    assert uuid.UUID(res.headers["x-ms-request-id"])


def test_request_ids_are_sent_echoed_and_logged(app: App) -> None:
    client_id = str(uuid.uuid4())
    res = app.signed(
        "POST",
        "/sms/optouts:check?api-version=2026-01-23",
        {"from": BUSINESS, "recipients": [{"to": "+14255550108"}]},
        headers={"x-ms-client-request-id": client_id},
    )
    assert res.status_code == 200
    assert res.headers["x-ms-client-request-id"] == client_id
    request_id = res.headers["x-ms-request-id"]
    assert uuid.UUID(request_id).version == 4
    other = requests.get(app.url + "/health", timeout=10)
    assert other.headers["x-ms-request-id"] != request_id
    assert "x-ms-client-request-id" not in other.headers  # none sent, none echoed
    refused = requests.post(
        app.url + "/sms/optouts:check?api-version=2026-01-23",
        headers={"x-ms-client-request-id": "support-case-42"},
        timeout=10,
    )
    assert refused.status_code == 401  # refusals carry the ids too
    assert refused.headers["x-ms-client-request-id"] == "support-case-42"
    assert refused.headers["x-ms-request-id"]
    tag = f"[request_id={request_id} client_request_id={client_id}]"
    lines = wait_for(lambda: [ln for ln in app.host.output().splitlines() if tag in ln])
    assert any("optouts_check: POST answered 200" in ln for ln in lines), lines
    assert any("optouts:check sender=" in ln for ln in lines), lines  # the handler's own line


def test_the_official_js_client_gets_its_request_id_echoed(app: App) -> None:
    ok, refused = js(app, [{"op": "check", "from": BUSINESS, "to": ["+14255550107"]}]) + js(
        app, [{"op": "check", "from": BUSINESS, "to": ["+14255550107"]}], key=OTHER_KEY
    )
    for out in (ok, refused):
        ids = out["ids"]
        assert ids["sent"] and ids["echoed"] == ids["sent"], ids
        assert uuid.UUID(ids["server"]), ids
    assert refused["error"]["statusCode"] == 401


# --- inbound keywords through the queue -------------------------------------------------------


def event_grid(
    person: str, text: str, ts: str, message_id: str | None = None, business: str = BUSINESS
) -> dict[str, Any]:
    return sms_received(business, person, text, ts, message_id)


def cloud_event(person: str, text: str, ts: str) -> dict[str, Any]:
    message_id = f"Incoming_{uuid.uuid4().hex}"
    return {
        "specversion": "1.0",
        "type": "Microsoft.Communication.SMSReceived",
        "source": "/subscriptions/x/resourceGroups/y/providers/microsoft.communication/z",
        "id": message_id,
        "time": ts,
        "data": {
            "messageId": message_id,
            "from": person,
            "to": BUSINESS,
            "message": text,
            "receivedTimestamp": ts,
        },
    }


def replies_to(app: App, person: str) -> list[str]:
    return [s.message for s in app.acs.sent if s.to == person]


def test_stop_start_help_through_the_queue(app: App) -> None:
    person = "+14255550201"
    app.put(event_grid(person, "Stop.", "2026-11-26T10:00:00Z"))
    wait_for(lambda: app.is_opted_out(person))
    wait_for(lambda: replies_to(app, person))
    assert replies_to(app, person)[0].startswith("Contoso:")
    assert app.acs.refused == 0  # every reply was signed with the ACS key

    app.put(cloud_event(person, "start", "2026-11-26T10:01:00Z"), b64=False)
    wait_for(lambda: not app.is_opted_out(person))
    app.put(event_grid(person, "HELP", "2026-11-26T10:02:00Z"))
    wait_for(lambda: len(replies_to(app, person)) == 3)
    assert "STOP" in replies_to(app, person)[2]
    assert not app.is_opted_out(person)


def test_duplicates_and_out_of_order_events(app: App) -> None:
    person = "+14255550202"
    stop = event_grid(person, "STOP", "2026-11-26T11:00:00Z")
    app.put(stop)
    app.put(stop)  # Event Grid delivered it twice
    wait_for(lambda: app.is_opted_out(person))
    start = event_grid(person, "START", "2026-11-26T11:05:00Z")
    app.put(start)
    wait_for(lambda: not app.is_opted_out(person))
    app.put(event_grid(person, "STOP", "2026-11-26T11:03:00Z"))  # older, arrives last
    app.put(event_grid(person, "HELP", "2026-11-26T11:06:00Z"))  # a marker that all ran
    wait_for(lambda: len(replies_to(app, person)) == 3)
    time.sleep(1.0)
    assert not app.is_opted_out(person)
    texts = replies_to(app, person)
    assert len(texts) == 3  # one per applied event: STOP, START, HELP; no duplicate reply


def test_plain_language_and_non_keywords(app: App) -> None:
    person, other = "+14255550203", "+14255550204"
    app.put(event_grid(other, "stop by the store tomorrow?", "2026-11-26T12:00:00Z"))
    app.put(event_grid(person, "Stop texting me", "2026-11-26T12:00:01Z"))
    wait_for(lambda: app.is_opted_out(person))
    time.sleep(1.0)
    assert not app.is_opted_out(other)
    assert replies_to(app, other) == []


def test_a_malformed_message_goes_to_poison_without_blocking(app: App) -> None:
    poison = app.queue("sms-inbound-poison")
    app.put({"not": "an event"})
    app.queue().send_message("definitely not json")
    person = "+14255550205"
    app.put(event_grid(person, "STOP", "2026-11-26T13:00:00Z"))
    wait_for(lambda: app.is_opted_out(person))  # the good one is not blocked

    def parked() -> list[str]:
        try:
            return [m.content for m in poison.peek_messages(max_messages=32)]
        except ResourceNotFoundError:  # the queue does not exist yet
            return []

    contents = wait_for(lambda: len(parked()) >= 2 and parked(), timeout=60)
    assert "definitely not json" in contents
    assert app.queue().peek_messages(max_messages=32) == []


def test_parked_messages_can_be_replayed(app: App) -> None:
    # A valid STOP parked during an outage must not be lost: the operator replays it.
    person = "+14255550206"
    poison = app.queue("sms-inbound-poison")
    with contextlib.suppress(ResourceExistsError):
        poison.create_queue()
    stop = base64.b64encode(
        json.dumps(event_grid(person, "STOP", "2026-11-26T14:00:00Z")).encode()
    ).decode()
    poison.send_message(stop)
    assert not app.is_opted_out(person)

    refused = requests.post(app.url + "/sms/inbound/poison:replay", timeout=10)
    assert refused.status_code == 401
    bad = app.signed("POST", "/sms/inbound/poison:replay?limit=0")
    assert bad.status_code == 400
    res = app.signed("POST", "/sms/inbound/poison:replay?limit=10")
    assert res.status_code == 200 and res.json()["replayed"] >= 1
    wait_for(lambda: app.is_opted_out(person))


def test_dead_lettered_events_can_be_replayed(app: App) -> None:
    # Event Grid could not deliver a STOP to the queue and dead-lettered it to a blob, in its
    # format (SUBSCRIPTION/y/m/d/h/guid.json, an array of events plus dead-letter fields).
    person = "+14255550207"
    container = BlobServiceClient.from_connection_string(
        app.azurite.connection_string, api_version=BLOB_API_VERSION
    ).get_container_client(DEADLETTER_CONTAINER)
    with contextlib.suppress(ResourceExistsError):
        container.create_container()
    event = event_grid(person, "STOP", "2026-11-26T15:00:00Z")
    dead = {**event, "deadLetterReason": "MaxDeliveryAttemptsExceeded", "deliveryAttempts": 30}
    dead |= {"lastDeliveryOutcome": "Unauthorized", "publishTime": "2026-11-26T15:00:01Z"}
    name = f"SMS-INBOUND-E2E/2026/11/26/15/{uuid.uuid4()}.json"
    container.upload_blob(name, json.dumps([dead]).encode())
    assert not app.is_opted_out(person)

    refused = requests.post(app.url + "/sms/inbound/deadletter:replay", timeout=10)
    assert refused.status_code == 401
    for bad in ("0", "1001", "x"):
        assert app.signed("POST", f"/sms/inbound/deadletter:replay?limit={bad}").status_code == 400
    res = app.signed("POST", "/sms/inbound/deadletter:replay?limit=10")
    assert res.status_code == 200, res.text
    assert res.json()["replayed"] >= 1 and res.json()["blobsKept"] == []
    wait_for(lambda: app.is_opted_out(person))
    assert name not in {b.name for b in container.list_blobs()}
    # Replaying again is harmless: nothing is left to replay.
    again = app.signed("POST", "/sms/inbound/deadletter:replay")
    assert again.status_code == 200 and again.json()["replayed"] == 0


# --- languages and revoke-all ------------------------------------------------------------------


def test_arret_to_a_canadian_sender_gets_the_french_confirmation(app: App) -> None:
    canada, person = "+14165550100", "+14255550401"
    app.put(event_grid(person, "ARRÊT", "2026-11-26T11:00:00Z", business=canada))
    wait_for(lambda: app.is_opted_out(person, canada))
    (reply,) = wait_for(lambda: replies_to(app, person))
    assert reply.startswith("Contoso : Vous avez été désabonné(e)")
    app.put(event_grid(person, "STOP", "2026-11-26T11:01:00Z", business=canada))
    wait_for(lambda: len(replies_to(app, person)) == 2)
    assert replies_to(app, person)[1].startswith("Contoso: You are unsubscribed")


def test_stop_to_one_sender_of_a_revoke_all_group_is_seen_by_check_on_another(app: App) -> None:
    a, b, outsider, person = "+18005550211", "+18005550212", "+18005550213", "+14255550402"
    for sender in (a, b):
        program = {"group": "e2e-brand", "revokeAll": True}
        res = app.signed("PUT", f"/sms/senders/{sender}/program", program)
        assert res.status_code == 200, res.text
    app.put(event_grid(person, "STOP", "2026-11-26T12:00:00Z", business=a))
    wait_for(lambda: app.is_opted_out(person, a))
    out = js(app, [{"op": "check", "from": s, "to": [person]} for s in (b, outsider)])
    assert [r["result"][0]["isOptedOut"] for r in out] == [True, False]
    listing = app.signed("GET", "/sms/groups/e2e-brand/optouts")
    assert [e["recipient"] for e in listing.json()["value"]] == [person]
