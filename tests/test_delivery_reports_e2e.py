"""Delivery reports end to end: the app in the local host (real HTTP), Azurite, and the ACS double
behind the app (it verifies the HMAC of every forwarded call and records it).

- `GET /deliveryReports/{id}` with the request of Microsoft's Python client 1.2.0
  (`SmsClient.get_delivery_report`, tests/sms_delivery_client.py) for ACS's ids, dry-run ids and
  unknown ids, in every api-version that has it; the request-level refusals; ACS down, refusing
  the service's credentials, unreachable. Every response is held to shared/openapi.json
  (tests/conftest.py), whose operation agrees with ACS's own files (tests/test_openapi.py).
- Reports through the `sms-delivery-reports` queue: kept and then answered without asking ACS;
  a 4007 redelivered opts out once with source carrier; a keyword's confirmation marked
  delivered, and the compliance report saying so.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from azure.communication.sms import SmsClient
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceExistsError
from azure.storage.queue import QueueClient

from devhost.acs_double import AcsDouble
from devhost.inprocess import OTHER_KEY, TEST_KEY
from devhost.testing import Azurite, HostProcess
from shared.domain.delivery import CONFIRMATION_TAG
from shared.sending.records import DRY_RUN_PREFIX
from tests.hosted import HostedApp, hosted, sms_received, wait_for
from tests.openapi_check import check_official_delivery_report
from tests.sms_delivery_client import DeliveryReportsClient

VERSIONS = ["2025-08-01-preview", "2026-01-23"]
BUSINESS = "+18005550170"
ALICE, BOB, CAROL, DAN = "+14255550171", "+14255550172", "+14255550173", "+14255550174"
ERIN = "+14255550175"
OPTED_OUT = "4007: The Destination/To number has opted out of receiving messages from you"


class App(HostedApp):
    def reports(self, version: str = "2026-01-23", key: str = TEST_KEY) -> DeliveryReportsClient:
        return DeliveryReportsClient(self.url, key, version)

    def queue(self, name: str = "sms-inbound") -> QueueClient:
        """`name` on the app's Azurite, created if it is not there yet."""
        queue = super().queue(name)
        with contextlib.suppress(ResourceExistsError):
            queue.create_queue()
        return queue

    def send(self, *people: str, tag: str | None = None) -> list[str]:
        """POST /sms with the official client: the message ids, in order."""
        client = SmsClient(self.url, AzureKeyCredential(TEST_KEY))
        results = client.send(from_=BUSINESS, to=list(people), message="Hi", tag=tag)
        assert all(r.successful for r in results), results
        return [str(r.message_id) for r in results]


def host_env(**more: str) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {
        "OPTOUT_ACCESS_KEYS": TEST_KEY,
        "OPTOUT_TABLE_NAME": f"DlrOptOuts{suffix}",
        "OPTOUT_HISTORY_TABLE_NAME": f"DlrHistory{suffix}",
        "SENDER_PROGRAMS_TABLE_NAME": f"DlrPrograms{suffix}",
        "GROUP_OPTOUTS_TABLE_NAME": f"DlrGroups{suffix}",
        "DELIVERY_REPORTS_TABLE_NAME": f"DlrReports{suffix}",
        "AzureFunctionsJobHost__extensions__queues__visibilityTimeout": "00:00:00.200",
        "AzureFunctionsJobHost__extensions__queues__maxPollingInterval": "00:00:00.500",
        **more,
    }


def no_numbers_logged(host: HostProcess) -> None:
    output = host.output()
    assert "42555501" not in output, output[-2000:]


@pytest.fixture(scope="module")
def app(azurite: Azurite) -> Iterator[App]:
    env = host_env(REPLY_BRAND="Contoso", SEND_READ_TIMEOUT_SECONDS="1")
    with hosted(App, azurite, env) as started:
        yield started
    no_numbers_logged(started.host)


@pytest.fixture(scope="module")
def acs(app: App) -> AcsDouble:
    return app.acs


@contextlib.contextmanager
def dry_host(azurite: Azurite) -> Iterator[App]:
    """A host in dry run with no ACS resource at all (an empty connection string is none).
    Stopped before the queue tests: every host of the session's Azurite reads the same queues."""
    env = host_env(SEND_DRY_RUN="true", ACS_CONNECTION_STRING="")
    with hosted(App, azurite, env) as dry:
        yield dry
    no_numbers_logged(dry.host)


@pytest.fixture(autouse=True)
def fresh_double(acs: AcsDouble) -> None:
    acs.received.clear()
    acs.fail_next = 0
    acs._faults.clear()


def gets(acs: AcsDouble) -> list[str]:
    return [r.path for r in acs.received if r.path.startswith("/deliveryReports/")]


# --- GET /deliveryReports/{id} -----------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_acs_ids_are_asked_of_acs_with_the_services_credentials(
    app: App, acs: AcsDouble, version: str
) -> None:
    first, second = app.send(ALICE, BOB)
    acs.report(second, "Failed", "Carrier rejected the message")
    client = app.reports(version)
    report = client.get_delivery_report(first)
    assert (report.message_id, report.from_property, report.to) == (first, BUSINESS, ALICE)
    assert report.delivery_status == "Delivered" and report.delivery_attempts
    answer = client.get(second)
    assert answer.status == 200 and answer.json == acs.reports[second]  # as ACS answered it
    check_official_delivery_report(version, 200, answer.json)
    # The request 1.2.0 makes, as sent to this service.
    assert answer.request_url == f"{app.url}/deliveryReports/{second}?api-version={version}"
    assert answer.request_headers["Accept"] == "application/json"
    # Forwarded with the caller's api-version, signed with the service's ACS key.
    forwarded = [r for r in acs.received if r.path.startswith("/deliveryReports/")]
    assert [(r.path, r.api_version) for r in forwarded] == [
        (f"/deliveryReports/{first}?api-version={version}", version),
        (f"/deliveryReports/{second}?api-version={version}", version),
    ]
    assert forwarded[0].headers["user-agent"].startswith("azsdk-python-communication-sms")
    assert acs.refused == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_unknown_ids_get_acss_404(app: App, acs: AcsDouble, version: str) -> None:
    answer = app.reports(version).get("Outgoing_unknown_0000")
    assert answer.status == 404
    check_official_delivery_report(version, 404, answer.json)
    assert answer.json["status"] == 404 and answer.json["title"] == "Not Found"
    assert answer.json["traceId"]  # ACS's own answer, passed on
    assert gets(acs) == [f"/deliveryReports/Outgoing_unknown_0000?api-version={version}"]
    # An id with characters a path segment must encode reaches ACS as the same id.
    odd = "Outgoing_c d é"
    assert app.reports(version).get(odd).status == 404
    assert acs.received[-1].path.split("?")[0] == "/deliveryReports/Outgoing_c%20d%20%C3%A9"


def test_dry_run_ids_are_answered_by_the_service(azurite: Azurite) -> None:
    with dry_host(azurite) as dry:
        client = SmsClient(dry.url, AzureKeyCredential(TEST_KEY))
        (result,) = client.send(from_=BUSINESS, to=[CAROL], message="Hi", tag="otp")
        assert result.message_id.startswith(DRY_RUN_PREFIX)
        for version in VERSIONS:
            answered = dry.reports(version).get(result.message_id)
            check_official_delivery_report(version, 200, answered.json)
            report = dry.reports(version).get_delivery_report(result.message_id)
            assert (report.message_id, report.from_property, report.to, report.tag) == (
                result.message_id,
                BUSINESS,
                CAROL,
                "otp",
            )
            assert report.delivery_status == "Delivered"
            assert "not sent" in (report.delivery_status_details or "")
            unknown = dry.reports(version).get(f"{DRY_RUN_PREFIX}{uuid.uuid4().hex}")
            assert (unknown.status, unknown.json["title"]) == (404, "Not Found")
            check_official_delivery_report(version, 404, unknown.json)
            # With no ACS resource, any other id is unknown here too (nothing to ask).
            assert dry.reports(version).get("Outgoing_x").status == 404


def test_request_level_refusals_are_the_pipelines(app: App, acs: AcsDouble) -> None:
    with pytest.raises(ClientAuthenticationError):  # not signed with a configured key
        app.reports(key=OTHER_KEY).get("Outgoing_x")
    path = "/deliveryReports/Outgoing_x"
    missing = app.signed("GET", path)
    assert (missing.status_code, missing.json()["error"]["code"]) == (400, "ApiVersionUnspecified")
    # 2025-09-17 has no delivery reports: as ACS, the version is refused.
    for version in ("2025-09-17", "2021-03-07", "2099-01-01"):
        refused = app.signed("GET", f"{path}?api-version={version}")
        assert (refused.status_code, refused.json()["error"]["code"]) == (400, "InvalidApiVersion")
    assert gets(acs) == []  # none of them reached ACS


def test_acs_down_is_a_503_with_retry_after(app: App, acs: AcsDouble) -> None:
    acs.fail_next = 1
    with pytest.raises(HttpResponseError) as caught:
        app.reports().get("Outgoing_down")
    response = caught.value.response
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert response.json()["error"]["code"] == "ServiceUnavailable"
    assert app.reports().get("Outgoing_down").status == 404  # ACS is back


def test_acs_refusing_the_services_credentials_is_a_502_naming_acs(
    app: App, acs: AcsDouble
) -> None:
    acs.fail_with(401)
    with pytest.raises(HttpResponseError) as caught:
        app.reports().get("Outgoing_refused")
    response = caught.value.response
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "UpstreamAuthenticationFailed"
    assert "ACS refused this service's credentials" in error["message"]


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [("hang", 504, "GatewayTimeout"), (500, 502, "BadGateway"), (400, 400, None)],
)
def test_other_acs_failures(
    app: App, acs: AcsDouble, fault: Any, status: int, code: str | None
) -> None:
    if fault == "hang":
        acs.hang_next(2.5)  # longer than the app's SEND_READ_TIMEOUT_SECONDS (1)
    else:
        acs.fail_with(fault)
    with pytest.raises(HttpResponseError) as caught:
        app.reports().get("Outgoing_failing")
    response = caught.value.response
    assert response.status_code == status
    if code is None:  # another 4xx: ACS's own answer, as it came
        assert response.json() == {"error": {"code": "Injected400", "message": "fault"}}
    else:
        assert response.json()["error"]["code"] == code


def test_acs_unreachable_is_a_503_with_retry_after(azurite: Azurite) -> None:
    closed = AcsDouble().start()
    conn = closed.connection_string
    closed.stop()  # nothing listens there any more
    with hosted(App, azurite, host_env(ACS_CONNECTION_STRING=conn)) as down:
        with pytest.raises(HttpResponseError) as caught:
            down.reports().get("Outgoing_nowhere")
        response = caught.value.response
        assert response.status_code == 503 and response.headers["Retry-After"]
        assert "could not be reached" in response.json()["error"]["message"]


# --- reports in, through the queue ----------------------------------------------------------


def report_event(message_id: str, to: str, **data: Any) -> str:
    body = {
        "id": message_id,
        "topic": "/subscriptions/x/resourceGroups/y/providers/microsoft.communication/z",
        "subject": f"/phonenumber/{to[1:]}",
        "eventType": "Microsoft.Communication.SMSDeliveryReportReceived",
        "eventTime": "2026-12-01T10:00:06Z",
        "dataVersion": "1.0",
        "metadataVersion": "1",
        "data": {
            "MessageId": message_id,
            "From": BUSINESS[1:],
            "To": to,
            "DeliveryStatus": "Delivered",
            "DeliveryStatusDetails": "No error.",
            "ReceivedTimestamp": "2026-12-01T10:00:05+00:00",
            "DeliveryAttempts": [
                {
                    "Timestamp": "2026-12-01T10:00:03+00:00",
                    "SegmentsSucceeded": 1,
                    "SegmentsFailed": 0,
                }
            ],
            **data,
        },
    }
    return base64.b64encode(json.dumps(body).encode()).decode()


def history(app: App, person: str) -> list[dict[str, Any]]:
    res = app.signed("GET", f"/sms/senders/%2B{BUSINESS[1:]}/history?recipient=%2B{person[1:]}")
    assert res.status_code == 200, res.text
    return list(res.json()["value"])


def is_opted_out(app: App, person: str) -> bool:
    res = app.signed(
        "POST",
        "/sms/optouts:check?api-version=2026-01-23",
        {"from": BUSINESS, "recipients": [{"to": person}]},
    )
    return bool(res.json()["value"][0]["isOptedOut"])


def test_a_4007_report_redelivered_opts_out_once_and_is_answered_locally(
    app: App, acs: AcsDouble
) -> None:
    (message_id,) = app.send(DAN)  # sent through POST /sms, so through ACS
    queue = app.queue("sms-delivery-reports")
    event = report_event(message_id, DAN, DeliveryStatus="Failed", DeliveryStatusDetails=OPTED_OUT)
    for _ in range(3):  # Event Grid delivers at least once
        queue.send_message(event)
    wait_for(lambda: is_opted_out(app, DAN))
    wait_for(lambda: queue.peek_messages(max_messages=5) == [])
    time.sleep(1)  # any copy still running (or retried after a conflict) finishes
    rows = wait_for(lambda: [r for r in history(app, DAN) if r["source"] == "carrier"])
    assert [(r["action"], r["outcome"], r["messageId"], r["actor"]) for r in rows] == [
        ("optout", "applied", message_id, "carrier")
    ]
    # Kept: the GET answers it without asking ACS (whose double would say Delivered).
    acs.received.clear()
    for version in VERSIONS:
        check_official_delivery_report(version, 200, app.reports(version).get(message_id).json)
    report = app.reports().get_delivery_report(message_id)
    assert (report.delivery_status, report.delivery_status_details) == ("Failed", OPTED_OUT)
    assert (report.from_property, report.to) == (BUSINESS, DAN)
    assert gets(acs) == []
    # And the next send to that person is refused here, before ACS.
    client = SmsClient(app.url, AzureKeyCredential(TEST_KEY))
    (blocked,) = client.send(from_=BUSINESS, to=[DAN], message="Hi")
    assert blocked.http_status_code == 403


def test_a_delivered_confirmation_shows_in_the_history_and_the_report(
    app: App, acs: AcsDouble
) -> None:
    app.put(sms_received(BUSINESS, ERIN, "STOP", "2026-12-01T10:00:00Z"), b64=False)
    reply = wait_for(lambda: next((s for s in acs.sent if s.to == ERIN), None))
    sent = wait_for(lambda: [r for r in history(app, ERIN) if r["replyStatus"] == "sent"])
    assert sent[0]["deliveryStatus"] is None  # no report yet
    (confirmation,) = [r for r in acs.received if r.path.startswith("/sms?")]
    assert confirmation.body["smsSendOptions"]["tag"] == CONFIRMATION_TAG
    app.queue("sms-delivery-reports").send_message(
        report_event(reply.message_id, ERIN, Tag=CONFIRMATION_TAG)
    )
    (row,) = wait_for(lambda: [r for r in history(app, ERIN) if r["deliveryStatus"]])
    assert (row["deliveryStatus"], row["deliveredAt"], row["deliveryDetail"]) == (
        "delivered",
        "2026-12-01T10:00:03+00:00",
        "No error.",
    )
    window = "from=2026-11-30T00:00:00Z&to=2026-12-02T00:00:00Z"
    res = app.signed("GET", f"/sms/senders/%2B{BUSINESS[1:]}/report?{window}")
    assert res.status_code == 200, res.text
    (reported,) = [r for r in res.json()["value"] if r["recipient"] == ERIN]
    assert reported["confirmationDeliveryStatus"] == "delivered"
    assert reported["confirmationDeliveredAt"] == "2026-12-01T10:00:03+00:00"
    confirmations = res.json()["totals"]["confirmations"]
    assert confirmations["delivered"] >= 1 and confirmations["sent"] >= confirmations["delivered"]
