"""Unit tests for shared.api.send_wire and the answers of shared.api.send: the send body as the
spec has it, and what the caller gets back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.api.send import check_unavailable_response, send_response
from shared.api.send_wire import (
    MAX_MESSAGE_LENGTH,
    SEND_API_VERSIONS,
    parse_send_body,
    request_to_wire,
    result_to_wire,
    results_from_wire,
)
from shared.domain.model import SenderKind, UpstreamFailure
from shared.sending.gateway import SendOutcome
from shared.sending.records import SendRequest, SendResult, UpstreamError

V = "2025-05-29-preview"
FIRST_SENT = "Thu, 26 Nov 2026 10:00:00 GMT"


def body(**fields: Any) -> bytes:
    data: dict[str, Any] = {
        "from": "+18005550100",
        "smsRecipients": [{"to": "+14255550123"}],
        "message": "Hello",
    }
    data.update(fields)
    return json.dumps({k: v for k, v in data.items() if v is not ...}).encode()


def parsed(raw: bytes) -> SendRequest:
    result = parse_send_body(raw, V)
    assert isinstance(result, SendRequest), result
    return result


def errors(raw: bytes) -> dict[str, list[str]]:
    result = parse_send_body(raw, V)
    assert isinstance(result, dict), result
    return result


def test_versions_are_the_clients_and_the_spec_files() -> None:
    assert {"2021-03-07", "2025-05-29-preview", "2026-01-23"} <= SEND_API_VERSIONS
    assert len(SEND_API_VERSIONS) == 6


def test_the_python_clients_body() -> None:
    # What azure-communication-sms 1.1.0 sends (api-version 2021-03-07).
    raw = json.dumps(
        {
            "from": "+18005550100",
            "smsRecipients": [
                {
                    "to": "+14255550123",
                    "repeatabilityRequestId": "0f8fad5b-d9cb-469f-a165-70867728950e",
                    "repeatabilityFirstSent": FIRST_SENT,
                }
            ],
            "message": "Hello",
            "smsSendOptions": {"enableDeliveryReport": False},
        }
    ).encode()
    request = parse_send_body(raw, "2021-03-07")
    assert isinstance(request, SendRequest)
    assert request.sender.kind is SenderKind.PHONE_NUMBER
    assert request.api_version == "2021-03-07"
    (r,) = request.recipients
    assert (r.to, r.repeatability_request_id, r.repeatability_first_sent) == (
        "+14255550123",
        "0f8fad5b-d9cb-469f-a165-70867728950e",
        FIRST_SENT,
    )
    assert request.options == {"enableDeliveryReport": False}
    assert request_to_wire(request) == json.loads(raw)  # forwarded exactly as received


def test_property_names_are_matched_without_case() -> None:
    request = parsed(
        json.dumps(
            {
                "From": "Contoso",
                "SMSRECIPIENTS": [{"To": "+14255550123", "RepeatabilityRequestId": "x"}],
                "Message": "Hi",
            }
        ).encode()
    )
    assert request.sender.key == "CONTOSO"
    assert request.recipients[0].repeatability_request_id == "x"
    assert request_to_wire(request)["from"] == "Contoso"


def test_unknown_fields_and_newer_options_are_passed_through() -> None:
    options = {
        "enableDeliveryReport": True,
        "tag": "campaign-7",
        "deliveryReportTimeoutInSeconds": 3600,
        "messagingConnect": {"partner": "p", "partnerParams": {"apiKey": "k"}},
        "someFutureOption": [1, 2],
    }
    request = parsed(
        body(
            smsSendOptions=options,
            smsRecipients=[{"to": "+14255550123", "futureItemField": True}],
            futureTopLevel={"a": 1},
        )
    )
    wire = request_to_wire(request)
    assert wire["smsSendOptions"] == options
    assert wire["smsRecipients"] == [{"to": "+14255550123", "futureItemField": True}]
    assert wire["futureTopLevel"] == {"a": 1}


def test_recipients_and_invalid_numbers_are_kept_in_order() -> None:
    tos = ["+14255550123", "+123", "not a number", "+14255550123"]
    request = parsed(body(smsRecipients=[{"to": t} for t in tos]))
    assert [r.to for r in request.recipients] == tos  # per-item validity is the gateway's


def test_an_empty_message_is_allowed_and_2048_characters_too() -> None:
    assert parsed(body(message="")).message == ""
    assert len(parsed(body(message="x" * MAX_MESSAGE_LENGTH)).message) == MAX_MESSAGE_LENGTH


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"not json", "$"),
        (b"[1]", "$"),
        (b"\xff\xfe", "$"),
        (body(**{"from": ...}), "From"),
        (body(**{"from": ""}), "From"),
        (body(**{"from": "+123"}), "From"),
        (body(**{"from": "a/b"}), "From"),
        (body(**{"from": 5}), "From"),
        (body(smsRecipients=...), "SmsRecipients"),
        (body(smsRecipients=[]), "SmsRecipients"),
        (body(smsRecipients="+14255550123"), "SmsRecipients"),
        (body(smsRecipients=[{"to": "+14255550123"}] * 101), "SmsRecipients"),
        (body(smsRecipients=["+14255550123"]), "SmsRecipients[0]"),
        (body(smsRecipients=[{"to": "+14255550123"}, {}]), "SmsRecipients[1].To"),
        (body(smsRecipients=[{"to": 14255550123}]), "SmsRecipients[0].To"),
        (
            body(smsRecipients=[{"to": "+14255550123", "repeatabilityRequestId": 7}]),
            "SmsRecipients[0].RepeatabilityRequestId",
        ),
        (
            body(smsRecipients=[{"to": "+14255550123", "repeatabilityFirstSent": 7}]),
            "SmsRecipients[0].RepeatabilityFirstSent",
        ),
        (body(message=...), "Message"),
        (body(message=5), "Message"),
        (body(message="x" * (MAX_MESSAGE_LENGTH + 1)), "Message"),
        (body(smsSendOptions="yes"), "SmsSendOptions"),
        (body(smsSendOptions={}), "SmsSendOptions.EnableDeliveryReport"),
        (
            body(smsSendOptions={"enableDeliveryReport": "true"}),
            "SmsSendOptions.EnableDeliveryReport",
        ),
        (body(smsSendOptions={"enableDeliveryReport": True, "tag": 1}), "SmsSendOptions.Tag"),
        (
            body(
                smsSendOptions={"enableDeliveryReport": True, "deliveryReportTimeoutInSeconds": 59}
            ),
            "SmsSendOptions.DeliveryReportTimeoutInSeconds",
        ),
        (
            body(
                smsSendOptions={
                    "enableDeliveryReport": True,
                    "deliveryReportTimeoutInSeconds": 43201,
                }
            ),
            "SmsSendOptions.DeliveryReportTimeoutInSeconds",
        ),
        (
            body(
                smsSendOptions={
                    "enableDeliveryReport": True,
                    "deliveryReportTimeoutInSeconds": True,
                }
            ),
            "SmsSendOptions.DeliveryReportTimeoutInSeconds",
        ),
    ],
)
def test_bad_bodies_name_the_field(raw: bytes, field: str) -> None:
    found = errors(raw)
    assert field in found, found
    assert all(isinstance(m, str) and m for m in found[field])


def test_over_100_recipients_gets_acs_own_message() -> None:
    found = errors(body(smsRecipients=[{"to": "+14255550123"}] * 101))
    assert found["SmsRecipients"] == ["Max of 100 phone numbers are allowed in the To field."]


def test_several_errors_are_reported_at_once() -> None:
    found = errors(json.dumps({"smsRecipients": [{}]}).encode())
    assert {"From", "SmsRecipients[0].To", "Message"} <= found.keys()


# -- answers -----------------------------------------------------------------------------------


def test_result_items_have_the_spec_fields_and_omit_the_absent() -> None:
    sent = SendResult("+14255550123", 202, True, "Outgoing_1", "accepted")
    assert result_to_wire(sent) == {
        "to": "+14255550123",
        "messageId": "Outgoing_1",
        "httpStatusCode": 202,
        "repeatabilityResult": "accepted",
        "successful": True,
    }
    refused = SendResult("+123", 400, False, error_message="Invalid recipient phone number format")
    assert result_to_wire(refused) == {
        "to": "+123",
        "httpStatusCode": 400,
        "successful": False,
        "errorMessage": "Invalid recipient phone number format",
    }


def test_a_send_without_failure_is_202_with_every_item() -> None:
    results = [SendResult("+14255550123", 202, True, "m1"), SendResult("+1", 400, False)]
    status, payload, headers = send_response(SendOutcome(results))
    assert status == 202 and headers == {}
    assert [i["to"] for i in payload["value"]] == ["+14255550123", "+1"]


@pytest.mark.parametrize(
    ("kind", "upstream_status", "status", "code"),
    [
        (UpstreamFailure.UNREACHABLE, None, 503, "ServiceUnavailable"),
        (UpstreamFailure.UNAVAILABLE, 503, 503, "ServiceUnavailable"),
        (UpstreamFailure.TIMEOUT, None, 504, "GatewayTimeout"),
        (UpstreamFailure.SERVER_ERROR, 500, 502, "BadGateway"),
        (UpstreamFailure.AUTH_FAILED, 401, 502, "UpstreamAuthenticationFailed"),
        (UpstreamFailure.BAD_ANSWER, 202, 502, "BadGateway"),
    ],
)
def test_upstream_failures_carry_an_error_and_every_items_result(
    kind: UpstreamFailure, upstream_status: int | None, status: int, code: str
) -> None:
    items = [SendResult("+14255550123", status, False, error_message="x")]
    failure = UpstreamError(kind, "detail", upstream_status)
    got_status, payload, headers = send_response(SendOutcome(items, failure))
    assert got_status == status
    assert payload["error"]["code"] == code
    assert payload["value"] == [result_to_wire(items[0])]
    assert ("Retry-After" in headers) == (status == 503)


def test_an_upstream_4xx_is_passed_through_with_its_body_and_retry_after() -> None:
    acs_body = {"type": "t", "title": "One or more validation errors occurred.", "status": 400}
    failure = UpstreamError(
        UpstreamFailure.REFUSED,
        "ACS answered HTTP 429",
        429,
        json.dumps(acs_body).encode(),
        {"Retry-After": "30", "Server": "x"},
    )
    status, payload, headers = send_response(SendOutcome([], failure))
    assert (status, payload, headers) == (429, acs_body, {"Retry-After": "30"})


def test_an_upstream_4xx_without_json_gets_an_error_body() -> None:
    failure = UpstreamError(UpstreamFailure.REFUSED, "ACS answered HTTP 413", 413, b"<html>")
    status, payload, _ = send_response(SendOutcome([], failure))
    assert status == 413 and payload["error"]["code"] == "UpstreamRefused"


def test_check_unavailable_is_503_with_retry_after() -> None:
    status, payload, headers = check_unavailable_response()
    assert status == 503 and headers["Retry-After"]
    assert "nothing was sent" in payload["error"]["message"]


def test_acs_answer_is_read() -> None:
    answer = {
        "value": [
            {"to": "+14255550123", "messageId": "m", "httpStatusCode": 202, "successful": True},
            {"to": "+14255550124", "httpStatusCode": 400, "successful": False, "errorMessage": "e"},
        ]
    }
    assert results_from_wire(answer) == [
        SendResult("+14255550123", 202, True, "m"),
        SendResult("+14255550124", 400, False, error_message="e"),
    ]


@pytest.mark.parametrize(
    "answer", [[], {}, {"value": {}}, {"value": [1]}, {"value": [{"to": "+1"}]}, "x"]
)
def test_malformed_acs_answers_are_refused(answer: Any) -> None:
    with pytest.raises(ValueError):
        results_from_wire(answer)


RECIPIENT = st.fixed_dictionaries(
    {"to": st.text(min_size=1, max_size=16)},
    optional={
        "repeatabilityRequestId": st.uuids().map(str),
        "repeatabilityFirstSent": st.just(FIRST_SENT),
    },
)


@given(st.lists(RECIPIENT, min_size=1, max_size=100), st.text(max_size=50))
def test_forwarded_body_is_the_received_body(recipients: list[dict[str, str]], text: str) -> None:
    data = {"from": "+18005550100", "smsRecipients": recipients, "message": text}
    request = parsed(json.dumps(data).encode())
    assert request_to_wire(request) == data


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = st.sampled_from(["from", "smsRecipients", "message", "smsSendOptions", "to", "x"])


@given(st.dictionaries(FIELDS, JSON_VALUES, max_size=5))
def test_any_json_body_is_a_request_or_named_errors_never_an_exception(
    data: dict[str, Any],
) -> None:
    result = parse_send_body(json.dumps(data).encode(), V)
    if isinstance(result, dict):
        assert result and all(isinstance(v, list) and v for v in result.values())
    else:
        assert isinstance(result, SendRequest) and 1 <= len(result.recipients) <= 100
