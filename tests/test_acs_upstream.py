"""The ACS upstream (the official Python client's pipeline) against the local ACS double, which
verifies the HMAC of every call: what is forwarded, and how each failure is reported."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from devhost.acs_double import AcsDouble
from shared.api.acs_upstream import AcsUpstream, make_upstream
from shared.api.send_wire import parse_send_body
from shared.domain.model import UpstreamFailure
from shared.platform.settings import Settings
from shared.sending.records import DryRun, NotConfigured, SendRequest, UpstreamError

FIRST_SENT = "Thu, 26 Nov 2026 10:00:00 GMT"
BODY = {
    "from": "+18005550100",
    "smsRecipients": [
        {"to": "+14255550101", "repeatabilityRequestId": "11111111-1111-1111-1111-111111111111",
         "repeatabilityFirstSent": FIRST_SENT},
        {"to": "+14255550102", "repeatabilityRequestId": "22222222-2222-2222-2222-222222222222",
         "repeatabilityFirstSent": FIRST_SENT},
    ],
    "message": "Your code is 1234",
    "smsSendOptions": {
        "enableDeliveryReport": True,
        "tag": "otp",
        "deliveryReportTimeoutInSeconds": 300,
        "messagingConnect": {"partner": "p", "partnerParams": {"servicePlanId": "s"}},
    },
}  # fmt: skip


@pytest.fixture
def acs() -> Iterator[AcsDouble]:
    double = AcsDouble().start()
    try:
        yield double
    finally:
        double.stop()


def upstream(acs: AcsDouble, read_timeout: float = 5.0) -> AcsUpstream:
    settings = Settings(
        access_keys=(), acs_connection_string=acs.connection_string, send_read_timeout=read_timeout
    )
    built = make_upstream(settings)
    assert isinstance(built, AcsUpstream)
    return built


def request(version: str = "2026-01-23") -> SendRequest:
    parsed = parse_send_body(json.dumps(BODY).encode(), version)
    assert isinstance(parsed, SendRequest)
    return parsed


@pytest.mark.parametrize("version", ["2021-03-07", "2025-05-29-preview", "2026-01-23"])
def test_the_body_reaches_acs_unchanged_with_the_callers_version(
    acs: AcsDouble, version: str
) -> None:
    results = upstream(acs).send(request(version))
    assert acs.refused == 0  # signed with the ACS key by the official client's policy
    (received,) = acs.received
    assert received.api_version == version
    assert received.body == BODY  # repeatability values and every option kept
    assert received.headers["user-agent"].startswith("azsdk-python-communication-sms")
    assert [(s.to, s.repeatability_request_id) for s in acs.sent] == [
        ("+14255550101", "11111111-1111-1111-1111-111111111111"),
        ("+14255550102", "22222222-2222-2222-2222-222222222222"),
    ]
    assert [(r.to, r.status, r.successful, r.repeatability_result) for r in results] == [
        ("+14255550101", 202, True, "accepted"),
        ("+14255550102", 202, True, "accepted"),
    ]
    assert [r.message_id for r in results] == [s.message_id for s in acs.sent]


def test_a_repeated_send_is_not_sent_twice_by_acs(acs: AcsDouble) -> None:
    first = upstream(acs).send(request())
    again = upstream(acs).send(request())
    assert len(acs.sent) == 2
    assert [r.message_id for r in again] == [r.message_id for r in first]


def test_per_item_refusals_come_back_unchanged(acs: AcsDouble) -> None:
    acs.reject_numbers = {"+14255550102"}
    results = upstream(acs).send(request())
    assert [(r.status, r.successful) for r in results] == [(202, True), (400, False)]
    assert results[1].error_message == "Invalid To phone number format."


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (500, UpstreamFailure.SERVER_ERROR),
        (503, UpstreamFailure.UNAVAILABLE),
        (401, UpstreamFailure.AUTH_FAILED),
        (403, UpstreamFailure.AUTH_FAILED),
        (400, UpstreamFailure.REFUSED),
        (429, UpstreamFailure.REFUSED),
    ],
)
def test_whole_call_failures(acs: AcsDouble, status: int, kind: UpstreamFailure) -> None:
    acs.fail_with(status)
    with pytest.raises(UpstreamError) as info:
        upstream(acs).send(request())
    assert (info.value.kind, info.value.status) == (kind, status)
    assert json.loads(info.value.body)["error"]["code"] == f"Injected{status}"
    assert acs.calls == 1  # no retry inside the gateway
    assert acs.sent == []


def test_a_wrong_acs_key_is_an_auth_failure(acs: AcsDouble) -> None:
    settings = Settings(
        access_keys=(),
        acs_connection_string=acs.connection_string.replace(
            acs.key, "d3Jvbmcta2V5LXdyb25nLWtleQ=="
        ),
    )
    with pytest.raises(UpstreamError) as info:
        make_upstream(settings).send(request())
    assert info.value.kind is UpstreamFailure.AUTH_FAILED
    assert acs.refused == 1 and acs.sent == []


def test_no_answer_in_time_is_a_timeout(acs: AcsDouble) -> None:
    acs.hang_next(2.0)
    started = time.monotonic()
    with pytest.raises(UpstreamError) as info:
        upstream(acs, read_timeout=0.5).send(request())
    assert info.value.kind is UpstreamFailure.TIMEOUT
    assert time.monotonic() - started < 1.8  # bounded by the read timeout


def test_nobody_listening_is_unreachable(acs: AcsDouble) -> None:
    gone = upstream(acs)
    acs.stop()
    with pytest.raises(UpstreamError) as info:
        gone.send(request())
    assert info.value.kind is UpstreamFailure.UNREACHABLE


def test_which_upstream() -> None:
    conn = "endpoint=http://x;accesskey=eA=="
    assert isinstance(make_upstream(Settings(access_keys=())), NotConfigured)
    assert isinstance(make_upstream(Settings(access_keys=(), send_dry_run=True)), DryRun)
    configured = Settings(access_keys=(), acs_connection_string=conn)
    assert isinstance(make_upstream(configured), AcsUpstream)
    # A switch that says "do not send" never sends, even with a resource configured.
    dry = Settings(access_keys=(), acs_connection_string=conn, send_dry_run=True)
    assert isinstance(make_upstream(dry), DryRun)
