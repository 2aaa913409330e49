"""POST /sms through the registered function (the pipeline, the gateway, the Table store on a
real Azurite) with the ACS double behind it, verifying the HMAC of every forwarded call."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from devhost.acs_double import AcsDouble
from devhost.inprocess import OTHER_KEY, StorageRecorder, app_against, call
from devhost.processes import free_port
from devhost.testing import Azurite
from shared import runtime
from shared.api.send_wire import SEND_API_VERSIONS
from shared.inbound.events import InboundSms
from shared.sending.gateway import OPTED_OUT_STATUS
from shared.sending.records import DRY_RUN_PREFIX, NOT_CONFIGURED

SEND, ADD = "sms", "sms/optouts:add"
V = "api-version=2026-01-23"
BUSINESS = "+18005550100"
ALICE, BOB, CAROL = "+14255550101", "+14255550102", "+14255550103"


def send_body(sender: str, *tos: str, **extra: Any) -> dict[str, Any]:
    recipients = [
        {"to": t, "repeatabilityRequestId": str(uuid.uuid4()), "repeatabilityFirstSent": "x"}
        for t in tos
    ]
    return {"from": sender, "smsRecipients": recipients, "message": "Hi", **extra}


@pytest.fixture
def acs() -> Iterator[AcsDouble]:
    double = AcsDouble().start()
    try:
        yield double
    finally:
        double.stop()


def environment(azurite: Azurite, **more: str) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {
        "AzureWebJobsStorage": azurite.connection_string,
        "OPTOUT_ACCESS_KEYS": "dGVzdC1hY2Nlc3Mta2V5LW9mLTMyLWJ5dGVzLWxvbmchIQ==",
        "OPTOUT_TABLE_NAME": f"SendOptOuts{suffix}",
        "OPTOUT_HISTORY_TABLE_NAME": f"SendHistory{suffix}",
        "SENDER_PROGRAMS_TABLE_NAME": f"SendPrograms{suffix}",
        "ACS_CONNECTION_STRING": "",
        "ACS_ENDPOINT": "",
        "SEND_DRY_RUN": "false",
        **more,
    }


@pytest.fixture
def app(
    azurite: Azurite, acs: AcsDouble, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StorageRecorder]:
    env = environment(
        azurite, ACS_CONNECTION_STRING=acs.connection_string, SEND_READ_TIMEOUT_SECONDS="1"
    )
    with app_against(env, monkeypatch) as recorder:
        yield recorder


def opt_out(sender: str, *people: str) -> None:
    status, _ = call("POST", ADD, {"from": sender, "recipients": [{"to": p} for p in people]})
    assert status == 200


def test_mixed_recipients(app: StorageRecorder, acs: AcsDouble) -> None:
    opt_out(BUSINESS, BOB)
    body = send_body(BUSINESS, ALICE, BOB, "+123", ALICE, CAROL, BOB)
    runtime.store().ensure_tables()  # not the first request: no table creation in the count
    app.clear()
    status, res = call("POST", SEND, body, query=V)

    assert status == 202, res
    items = res["value"]
    assert [i["to"] for i in items] == [ALICE, BOB, "+123", ALICE, CAROL, BOB]
    assert [i["httpStatusCode"] for i in items] == [202, OPTED_OUT_STATUS, 400, 202, 202, 403]
    assert [i["successful"] for i in items] == [True, False, False, True, True, False]
    assert "opted out" in items[1]["errorMessage"]
    assert all("messageId" in i for i in items if i["successful"])
    # Opted-out and invalid recipients never reached ACS; the allowed ones did, once each, with
    # their own repeatability values, in one call.
    (received,) = acs.received
    forwarded = [r for r in body["smsRecipients"] if r["to"] in (ALICE, CAROL)]
    assert received.body["smsRecipients"] == forwarded
    assert [s.to for s in acs.sent] == [ALICE, ALICE, CAROL]
    assert acs.refused == 0
    # One opt-out check: a point read per distinct valid number, nothing written.
    # One opt-out check, as `check` makes it: the sender's program (its revoke-all group) and a
    # point read per distinct valid number; nothing written.
    reads = sorted(path.split("(")[0].rsplit("/", 1)[1][:-8] for _, path, _ in app.requests)
    assert reads == ["SendOptOuts"] * 3 + ["SendPrograms"]
    assert {m for m, _, _ in app.requests} == {"GET"}


def test_every_version_is_accepted_and_forwarded_as_is(
    app: StorageRecorder, acs: AcsDouble
) -> None:
    for version in sorted(SEND_API_VERSIONS):
        status, res = call("POST", SEND, send_body(BUSINESS, ALICE), query=f"api-version={version}")
        assert status == 202 and res["value"][0]["successful"], (version, res)
    assert [r.api_version for r in acs.received] == sorted(SEND_API_VERSIONS)


@pytest.mark.parametrize(
    ("query", "code"),
    [("", "ApiVersionUnspecified"), ("api-version=2020-01-01", "InvalidApiVersion")],
)
def test_unknown_or_missing_version_is_refused(
    app: StorageRecorder, acs: AcsDouble, query: str, code: str
) -> None:
    status, res = call("POST", SEND, send_body(BUSINESS, ALICE), query=query)
    assert (status, res["error"]["code"]) == (400, code)
    assert acs.calls == 0


def test_the_optout_api_does_not_take_the_send_only_version(app: StorageRecorder) -> None:
    status, res = call("POST", ADD, {"from": BUSINESS, "recipients": [{"to": ALICE}]},
                       query="api-version=2021-03-07")  # fmt: skip
    assert (status, res["error"]["code"]) == (400, "InvalidApiVersion")


def test_request_level_refusals(app: StorageRecorder, acs: AcsDouble) -> None:
    body = send_body(BUSINESS, ALICE)
    assert call("POST", SEND, body, query=V, key=OTHER_KEY)[0] == 401
    assert call("POST", SEND, body, query=V, key=None)[0] == 401
    assert call("POST", SEND, body, query=V, headers={"content-type": "text/plain"})[0] == 415
    huge = send_body(BUSINESS, ALICE, message="x" * 70_000)
    assert call("POST", SEND, huge, query=V)[0] == 413
    status, res = call("POST", SEND, {"from": "a/b", "smsRecipients": []}, query=V)
    assert status == 400 and {"From", "SmsRecipients", "Message"} <= res["errors"].keys()
    assert acs.calls == 0


def test_senders_of_every_kind_share_one_normalised_key(
    app: StorageRecorder, acs: AcsDouble
) -> None:
    opt_out("Contoso", ALICE)
    opt_out("12345", BOB)
    status, res = call("POST", SEND, send_body("CONTOSO", ALICE, BOB), query=V)
    assert [i["httpStatusCode"] for i in res["value"]] == [403, 202]  # opted out of "Contoso"
    status, res = call("POST", SEND, send_body("12345", ALICE, BOB), query=V)
    assert [i["httpStatusCode"] for i in res["value"]] == [202, 403]
    assert [r.body["from"] for r in acs.received] == ["CONTOSO", "12345"]  # as the caller wrote
    status, res = call("POST", ADD, {"from": "Bad#Id", "recipients": [{"to": ALICE}]})
    assert status == 400 and "From" in res["errors"]


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (500, 502, "BadGateway"),
        (503, 503, "ServiceUnavailable"),
        (401, 502, "UpstreamAuthenticationFailed"),
    ],
)
def test_acs_failures_have_documented_statuses(
    app: StorageRecorder, acs: AcsDouble, fault: int, status: int, code: str
) -> None:
    opt_out(BUSINESS, BOB)
    acs.fail_with(fault)
    got, res = call("POST", SEND, send_body(BUSINESS, ALICE, BOB), query=V)
    assert (got, res["error"]["code"]) == (status, code)
    # Every recipient's fate is in the answer: never a silent loss.
    assert [(i["to"], i["httpStatusCode"]) for i in res["value"]] == [(ALICE, status), (BOB, 403)]
    assert acs.sent == []


def test_acs_4xx_is_passed_through(app: StorageRecorder, acs: AcsDouble) -> None:
    acs.fail_with(429)
    got, res = call("POST", SEND, send_body(BUSINESS, ALICE), query=V)
    assert (got, res) == (429, {"error": {"code": "Injected429", "message": "fault"}})


def test_acs_too_slow_is_a_gateway_timeout(app: StorageRecorder, acs: AcsDouble) -> None:
    acs.hang_next(3)
    got, res = call("POST", SEND, send_body(BUSINESS, ALICE), query=V)
    assert (got, res["error"]["code"]) == (504, "GatewayTimeout")
    assert "may have been sent" in res["value"][0]["errorMessage"]


def test_storage_outage_fails_closed(
    azurite: Azurite, acs: AcsDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = (  # nothing listens there
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={'A' * 88};TableEndpoint=http://127.0.0.1:{free_port()}/devstoreaccount1;"
    )
    env = environment(
        azurite, AzureWebJobsStorage=dead, ACS_CONNECTION_STRING=acs.connection_string
    )
    with app_against(env, monkeypatch):
        status, res = call("POST", SEND, send_body(BUSINESS, ALICE), query=V)
    assert status == 503 and "nothing was sent" in res["error"]["message"]
    assert acs.calls == 0


def test_without_acs_nothing_is_pretended(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app_against(environment(azurite), monkeypatch):
        opt_out(BUSINESS, BOB)
        status, res = call("POST", SEND, send_body(BUSINESS, ALICE, BOB), query=V)
    assert status == 202
    assert res["value"][0] == {
        "to": ALICE, "httpStatusCode": 503, "successful": False, "errorMessage": NOT_CONFIGURED
    }  # fmt: skip
    assert res["value"][1]["httpStatusCode"] == 403


def test_dry_run_answers_as_sent(
    azurite: Azurite, acs: AcsDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = environment(azurite, SEND_DRY_RUN="true", ACS_CONNECTION_STRING=acs.connection_string)
    with app_against(env, monkeypatch):
        opt_out(BUSINESS, BOB)
        status, res = call("POST", SEND, send_body(BUSINESS, ALICE, BOB), query=V)
    assert status == 202
    first, second = res["value"]
    assert first["successful"] and first["messageId"].startswith(DRY_RUN_PREFIX)
    assert second["httpStatusCode"] == 403
    assert acs.calls == 0  # dry run wins over a configured resource


def test_programs_and_history_take_every_sender_kind(app: StorageRecorder) -> None:
    program = {"brand": "Contoso Alerts"}
    assert call("PUT", "sms/senders/Contoso/program", program)[0] == 200
    status, res = call("GET", "sms/senders/CONTOSO/program")  # one key, whatever the case
    assert (status, res["sender"], res["brand"]) == (200, "CONTOSO", "Contoso Alerts")
    opt_out("12345", ALICE)
    status, res = call("GET", "sms/senders/12345/history")
    assert status == 200 and [r["recipient"] for r in res["value"]] == [ALICE]
    status, res = call("GET", "sms/senders/12/program")  # too short for a short code
    assert status == 400 and "sender" in res["errors"]


def test_an_unusable_dry_run_switch_sends_nothing(
    azurite: Azurite, acs: AcsDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "ture" is neither true nor false: the switch is not guessed (false would send for real).
    env = environment(azurite, SEND_DRY_RUN="ture", ACS_CONNECTION_STRING=acs.connection_string)
    with app_against(env, monkeypatch):
        status, res = call("POST", SEND, send_body(BUSINESS, ALICE), query=V)
        assert (status, res["error"]["code"]) == (500, "ServiceMisconfigured")
        status, _ = call("POST", ADD, {"from": BUSINESS, "recipients": [{"to": ALICE}]})
        assert status == 200  # the opt-out API does not depend on it
    assert acs.calls == 0


def test_a_revoke_all_group_opt_out_blocks_every_sender_of_the_group(
    app: StorageRecorder, acs: AcsDouble
) -> None:
    other = "+18005550111"  # another number of the same brand
    for sender in (BUSINESS, other):
        program = {"group": "contoso", "revokeAll": True}
        assert call("PUT", f"sms/senders/{sender}/program", program)[0] == 200
    stop = InboundSms("m1", "e1", other, ALICE, "STOP", datetime.now(UTC))
    runtime.inbound_processor().handle(stop)  # ALICE texted STOP to the other number

    status, res = call("POST", SEND, send_body(BUSINESS, ALICE, BOB), query=V)
    assert status == 202 and [i["httpStatusCode"] for i in res["value"]] == [403, 202]
    # The STOP's confirmation went to ALICE directly (replies are not enforced); the send did not.
    confirmation, sent = acs.sent
    assert (confirmation.to, confirmation.from_, sent.to) == (ALICE, other, BOB)
