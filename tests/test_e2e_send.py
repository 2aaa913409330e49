"""End to end: the official ACS clients' `send`, unchanged, against the app in the local host
(real HTTP), Azurite, and the ACS double behind the app verifying the HMAC of every forwarded
call and recording what it received."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from azure.communication.sms import SmsClient
from azure.core.credentials import AzureKeyCredential

from devhost.acs_double import AcsDouble
from devhost.inprocess import TEST_KEY
from devhost.testing import ROOT, Azurite, HostProcess, start_host
from shared.platform.hmac_auth import sign_request
from shared.sending.records import DRY_RUN_PREFIX

NODE = shutil.which("node")
JS_SEND = ROOT / "tests" / "js" / "send.mjs"
BUSINESS = "+18005550100"
ALICE, BOB, CAROL = "+14255550201", "+14255550202", "+14255550203"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def host_env(azurite: Azurite, **more: str) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {
        "AzureWebJobsStorage": azurite.connection_string,
        "OPTOUT_ACCESS_KEYS": TEST_KEY,
        "OPTOUT_TABLE_NAME": f"E2eSendOptOuts{suffix}",
        "OPTOUT_HISTORY_TABLE_NAME": f"E2eSendHistory{suffix}",
        "SENDER_PROGRAMS_TABLE_NAME": f"E2eSendPrograms{suffix}",
        **more,
    }


def assert_no_numbers_logged(host: HostProcess) -> None:
    output = host.output()
    assert "42555502" not in output, output[-2000:]
    assert "Your order shipped" not in output


@pytest.fixture(scope="module")
def acs() -> Iterator[AcsDouble]:
    double = AcsDouble().start()
    try:
        yield double
    finally:
        double.stop()


@pytest.fixture(scope="module")
def app(azurite: Azurite, acs: AcsDouble) -> Iterator[HostProcess]:
    env = host_env(
        azurite, ACS_CONNECTION_STRING=acs.connection_string, SEND_READ_TIMEOUT_SECONDS="1"
    )
    host = start_host(ROOT, env=env, use_local_settings=False)
    try:
        opt_out(host, BOB)
        yield host
    finally:
        host.stop()
        assert_no_numbers_logged(host)


@pytest.fixture(autouse=True)
def fresh_double(acs: AcsDouble) -> None:
    acs.received.clear()
    acs.sent.clear()
    acs.calls = 0


def opt_out(host: HostProcess, *people: str) -> None:
    import requests

    url = host.base_url + "/sms/optouts:add?api-version=2026-01-23"
    data = json.dumps({"from": BUSINESS, "recipients": [{"to": p} for p in people]}).encode()
    headers = {"content-type": "application/json", **sign_request("POST", url, data, TEST_KEY)}
    assert requests.post(url, data=data, headers=headers, timeout=30).status_code == 200


def js_send(host: HostProcess, sends: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert NODE, "node is required for the end-to-end tests"
    conn = f"endpoint={host.base_url}/;accesskey={TEST_KEY}"
    done = subprocess.run(
        [NODE, str(JS_SEND)],
        input=json.dumps({"connectionString": conn, "sends": sends}).encode(),
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return list(json.loads(done.stdout))


def test_js_client_send_enforces_the_optout_list(app: HostProcess, acs: AcsDouble) -> None:
    tos = [ALICE, BOB, "+123", ALICE, CAROL]
    (out,) = js_send(app, [{"from": BUSINESS, "to": tos, "message": "Your order shipped"}])
    results = out["result"]
    assert [r["to"] for r in results] == tos
    assert [r["httpStatusCode"] for r in results] == [202, 403, 400, 202, 202]
    assert [r["successful"] for r in results] == [True, False, False, True, True]
    assert "opted out" in results[1]["errorMessage"]
    # One forwarded call, the JS client's version, only the allowed recipients, each once with
    # the repeatability values the client generated.
    (received,) = acs.received
    assert received.api_version == "2025-05-29-preview"
    assert [r["to"] for r in received.body["smsRecipients"]] == [ALICE, ALICE, CAROL]
    ids = [r["repeatabilityRequestId"] for r in received.body["smsRecipients"]]
    assert all(UUID.fullmatch(i) for i in ids) and len(set(ids)) == 3
    assert [(s.to, s.repeatability_request_id) for s in acs.sent] == list(
        zip([ALICE, ALICE, CAROL], ids, strict=True)
    )
    assert [r["messageId"] for r in results if r["successful"]] == [s.message_id for s in acs.sent]
    assert acs.refused == 0


def test_python_client_send_enforces_the_optout_list(app: HostProcess, acs: AcsDouble) -> None:
    client = SmsClient(app.base_url, AzureKeyCredential(TEST_KEY))
    results = client.send(from_=BUSINESS, to=[ALICE, BOB, CAROL], message="Your order shipped")
    assert [(r.to, r.http_status_code, r.successful) for r in results] == [
        (ALICE, 202, True),
        (BOB, 403, False),
        (CAROL, 202, True),
    ]
    assert "opted out" in (results[1].error_message or "")
    (received,) = acs.received
    assert received.api_version == "2021-03-07"
    assert [s.to for s in acs.sent] == [ALICE, CAROL]
    assert all(UUID.fullmatch(s.repeatability_request_id or "") for s in acs.sent)
    assert all(s.repeatability_first_sent for s in acs.sent)


@pytest.mark.parametrize(
    ("fault", "status"), [(500, 502), (401, 502), (503, 503), (429, 429), ("hang", 504)]
)
def test_acs_failures_reach_the_js_client_as_documented(
    app: HostProcess, acs: AcsDouble, fault: int | str, status: int
) -> None:
    if fault == "hang":
        acs.hang_next(3)
    else:
        acs.fail_with(int(fault))
    (out,) = js_send(app, [{"from": BUSINESS, "to": [ALICE, BOB], "message": "Hi"}])
    assert out["error"]["statusCode"] == status, out
    assert acs.sent == []


def test_dry_run_with_the_js_client(azurite: Azurite) -> None:
    """The "done when" of issue 9: `make run` with SEND_DRY_RUN=true (no ACS resource) lets the
    official JS client send to allowed numbers and refuses opted-out ones."""
    host = start_host(ROOT, env=host_env(azurite, SEND_DRY_RUN="true"), use_local_settings=False)
    try:
        opt_out(host, BOB)
        (out,) = js_send(host, [{"from": BUSINESS, "to": [ALICE, BOB], "message": "Hi"}])
    finally:
        host.stop()
    first, second = out["result"]
    assert first["successful"] and first["messageId"].startswith(DRY_RUN_PREFIX)
    assert (second["successful"], second["httpStatusCode"]) == (False, 403)
    assert "DRY RUN send" in host.output()
    assert_no_numbers_logged(host)
