from __future__ import annotations

import base64
import contextlib
import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.inbound.events import (
    MAX_MESSAGE_BYTES,
    SMS_RECEIVED,
    IgnoredEvent,
    InboundSms,
    MalformedEvent,
    parse_queue_message,
    parse_timestamp,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EVENT_ID = "Incoming_20200918002745d29ebbea-3341-4466-9690-0a03af35228e"
EXPECTED_TIME = datetime(2020, 9, 18, 0, 27, 45, 320000, tzinfo=UTC)

# Distinctive values, so that a leak into an error message is easy to spot.
PERSON = "14255550123"
BUSINESS = "18005550199"
SECRET_TEXT = "my secret message zebra-42"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"sms-received.{name}.json").read_text(encoding="utf-8"))


def _event(name: str, base: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    event = load(name)
    event["data"].update(base)
    for key, value in data.items():
        if value is _DELETE:
            event["data"].pop(key, None)
        else:
            event["data"][key] = value
    return event


def eventgrid(**data: Any) -> dict[str, Any]:
    return _event("eventgrid", {"From": PERSON, "To": BUSINESS, "Message": SECRET_TEXT}, data)


def cloudevent(**data: Any) -> dict[str, Any]:
    return _event("cloudevents", {"from": PERSON, "to": BUSINESS, "message": SECRET_TEXT}, data)


_DELETE = object()


def as_json(event: Any) -> str:
    return json.dumps(event)


def as_b64(event: Any) -> str:
    return base64.b64encode(json.dumps(event).encode()).decode()


ENCODINGS: dict[str, Callable[[Any], bytes | str]] = {
    "json-str": as_json,
    "json-bytes": lambda e: as_json(e).encode(),
    "json-bom-bytes": lambda e: b"\xef\xbb\xbf" + as_json(e).encode(),
    "json-pretty-padded": lambda e: "\n  " + json.dumps(e, indent=2) + "\n",
    "b64-str": as_b64,
    "b64-bytes": lambda e: as_b64(e).encode(),
    "b64-padded": lambda e: "  " + as_b64(e) + "\r\n",
    "b64-of-bom": lambda e: base64.b64encode(b"\xef\xbb\xbf" + as_json(e).encode()).decode(),
}


# --- The reference examples ---------------------------------------------------------------------


@pytest.mark.parametrize("schema", ["eventgrid", "cloudevents"])
@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_reference_examples(schema: str, encoding: str) -> None:
    body = ENCODINGS[encoding](load(schema))
    assert parse_queue_message(body) == InboundSms(
        message_id=EVENT_ID,
        event_id=EVENT_ID,
        sender="+15555555555",
        recipient="+15555555555",
        text="Great to connect with ACS events",
        received_at=EXPECTED_TIME,
    )


@pytest.mark.parametrize("make", [eventgrid, cloudevent])
def test_from_is_recipient_and_to_is_sender(make: Callable[..., dict[str, Any]]) -> None:
    sms = parse_queue_message(as_json(make()))
    assert sms.recipient == "+" + PERSON
    assert sms.sender == "+" + BUSINESS
    assert sms.text == SECRET_TEXT
    assert sms.received_at.tzinfo is UTC


# --- Key casing ---------------------------------------------------------------------------------


def _recase(obj: Any, how: Callable[[str], str]) -> Any:
    if isinstance(obj, dict):
        return {how(k): (_recase(v, how) if k.lower() == "data" else v) for k, v in obj.items()}
    return obj


CASINGS: dict[str, Callable[[str], str]] = {
    "camel": lambda k: k[:1].lower() + k[1:],
    "pascal": lambda k: k[:1].upper() + k[1:],
    "upper": str.upper,
    "lower": str.lower,
}


@pytest.mark.parametrize("casing", list(CASINGS))
@pytest.mark.parametrize("make", [eventgrid, cloudevent])
def test_key_casing(casing: str, make: Callable[..., dict[str, Any]]) -> None:
    event = _recase(make(), CASINGS[casing])
    sms = parse_queue_message(as_json(event))
    assert (sms.recipient, sms.sender, sms.text) == ("+" + PERSON, "+" + BUSINESS, SECRET_TEXT)
    assert sms.message_id == EVENT_ID
    assert sms.received_at == EXPECTED_TIME


@pytest.mark.parametrize(
    "event_type",
    [SMS_RECEIVED, SMS_RECEIVED.lower(), SMS_RECEIVED.upper(), f"  {SMS_RECEIVED} "],
)
def test_event_type_case_insensitive(event_type: str) -> None:
    event = eventgrid()
    event["eventType"] = event_type
    assert parse_queue_message(as_json(event)).recipient == "+" + PERSON


def test_duplicate_keys_same_value_ok_conflicting_malformed() -> None:
    event = eventgrid()
    event["data"]["from"] = PERSON
    assert parse_queue_message(as_json(event)).recipient == "+" + PERSON
    event["data"]["FROM"] = "+" + BUSINESS
    with pytest.raises(MalformedEvent, match="conflicting"):
        parse_queue_message(as_json(event))


# --- Numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("14255550123", "+14255550123"),
        ("+14255550123", "+14255550123"),
        (" +14255550123 ", "+14255550123"),
        ("447700900123", "+447700900123"),
        ("+447700900123", "+447700900123"),
        (14255550123, "+14255550123"),
    ],
)
def test_numbers_with_or_without_plus(raw: Any, expected: str) -> None:
    sms = parse_queue_message(as_json(eventgrid(From=raw, To=raw)))
    assert sms.recipient == expected
    assert sms.sender == expected


@pytest.mark.parametrize("field", ["From", "To"])
@pytest.mark.parametrize(
    "bad", ["12", "+123", "abc", "", "   ", "+0014255550123", "1425555012399999", True, 1.5, []]
)
def test_invalid_numbers(field: str, bad: Any) -> None:
    with pytest.raises(MalformedEvent) as info:
        parse_queue_message(as_json(eventgrid(**{field: bad})))
    assert field in str(info.value)
    assert_no_leak(info.value)


def test_a_text_to_a_short_code_is_keyed_by_the_short_code() -> None:
    # `To` is the business side: a short code (3 to 8 digits) is a sender, kept as it is; the
    # person (`From`) must still be a phone number.
    assert parse_queue_message(as_json(eventgrid(To="12345"))).sender == "12345"
    assert parse_queue_message(as_json(eventgrid(To="123"))).sender == "123"
    with pytest.raises(MalformedEvent):
        parse_queue_message(as_json(eventgrid(From="12345")))


@pytest.mark.parametrize("field", ["From", "To"])
def test_invalid_number_is_masked(field: str) -> None:
    bad = "99912345678901234"  # too long: never valid
    with pytest.raises(MalformedEvent) as info:
        parse_queue_message(as_json(eventgrid(**{field: bad})))
    assert bad not in str(info.value)
    assert "9" + "*" * (len(bad) - 3) + "34" in str(info.value)


# --- Shapes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("encode", [as_json, as_b64])
def test_array_of_one(encode: Callable[[Any], str]) -> None:
    sms = parse_queue_message(encode([cloudevent()]))
    assert sms.recipient == "+" + PERSON


@pytest.mark.parametrize("events", [[], [1], ["x"], [None]])
def test_array_not_one_event(events: list[Any]) -> None:
    with pytest.raises(MalformedEvent):
        parse_queue_message(as_json(events))


def test_array_of_two() -> None:
    with pytest.raises(MalformedEvent, match="array of 2"):
        parse_queue_message(as_json([eventgrid(), eventgrid()]))


@pytest.mark.parametrize("make", [eventgrid, cloudevent])
@pytest.mark.parametrize("encode", [as_json, as_b64])
def test_double_encoded_data(
    make: Callable[..., dict[str, Any]], encode: Callable[[Any], str]
) -> None:
    event = make()
    event["data"] = json.dumps(event["data"])
    sms = parse_queue_message(encode(event))
    assert (sms.recipient, sms.sender, sms.text) == ("+" + PERSON, "+" + BUSINESS, SECRET_TEXT)


def test_cloudevent_data_base64() -> None:
    event = cloudevent()
    data = event.pop("data")
    event["data_base64"] = base64.b64encode(json.dumps(data).encode()).decode()
    assert parse_queue_message(as_json(event)).text == SECRET_TEXT


@pytest.mark.parametrize("data", [None, "not json", "[1]", "42", 42, [], "", '"nested"'])
def test_bad_data(data: Any) -> None:
    event = eventgrid()
    event["data"] = data
    with pytest.raises(MalformedEvent):
        parse_queue_message(as_json(event))


def test_missing_data() -> None:
    event = eventgrid()
    del event["data"]
    with pytest.raises(MalformedEvent, match="no data"):
        parse_queue_message(as_json(event))


# --- Missing fields -----------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["From", "To"])
@pytest.mark.parametrize("value", [_DELETE, None])
def test_missing_numbers(field: str, value: Any) -> None:
    with pytest.raises(MalformedEvent, match=rf"data\.{field}"):
        parse_queue_message(as_json(eventgrid(**{field: value})))


@pytest.mark.parametrize("value", [_DELETE, None, "", "  "])
def test_missing_message_id_uses_event_id(value: Any) -> None:
    sms = parse_queue_message(as_json(eventgrid(MessageId=value)))
    assert sms.message_id == sms.event_id == EVENT_ID


def test_missing_event_id_uses_message_id() -> None:
    event = eventgrid(MessageId="msg-1")
    del event["id"]
    sms = parse_queue_message(as_json(event))
    assert (sms.message_id, sms.event_id) == ("msg-1", "msg-1")


def test_message_id_distinct_from_event_id() -> None:
    sms = parse_queue_message(as_json(eventgrid(MessageId="msg-1")))
    assert (sms.message_id, sms.event_id) == ("msg-1", EVENT_ID)


@pytest.mark.parametrize("make", [eventgrid, cloudevent])
def test_both_ids_missing(make: Callable[..., dict[str, Any]]) -> None:
    event = make()
    del event["id"]
    for key in list(event["data"]):
        if key.lower() == "messageid":
            del event["data"][key]
    with pytest.raises(MalformedEvent, match="MessageId"):
        parse_queue_message(as_json(event))


@pytest.mark.parametrize("value", [_DELETE, None])
def test_message_text_missing_or_null(value: Any) -> None:
    assert parse_queue_message(as_json(eventgrid(Message=value))).text == ""


@pytest.mark.parametrize("value", [42, ["x"], {"a": 1}, True])
def test_message_text_not_a_string(value: Any) -> None:
    with pytest.raises(MalformedEvent, match=r"data\.Message"):
        parse_queue_message(as_json(eventgrid(Message=value)))


def test_message_text_kept_verbatim() -> None:
    text = "  STOP\n🙏 "
    assert parse_queue_message(as_b64(eventgrid(Message=text))).text == text


# --- Timestamps ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2020-09-18T00:27:45.32Z", datetime(2020, 9, 18, 0, 27, 45, 320000, tzinfo=UTC)),
        ("2020-09-18T00:27:45Z", datetime(2020, 9, 18, 0, 27, 45, tzinfo=UTC)),
        ("2020-09-18T00:27:45z", datetime(2020, 9, 18, 0, 27, 45, tzinfo=UTC)),
        ("2020-09-18T00:27:45.0Z", datetime(2020, 9, 18, 0, 27, 45, tzinfo=UTC)),
        (
            "2024-01-01T10:00:00.1234567+00:00",
            datetime(2024, 1, 1, 10, 0, 0, 123456, tzinfo=UTC),
        ),
        ("2024-01-01T10:00:00.123456789Z", datetime(2024, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2024-01-01T12:30:00+02:30", datetime(2024, 1, 1, 10, 0, 0, tzinfo=UTC)),
        ("2024-01-01T05:00:00-0500", datetime(2024, 1, 1, 10, 0, 0, tzinfo=UTC)),
        ("2024-01-01 10:00:00", datetime(2024, 1, 1, 10, 0, 0, tzinfo=UTC)),  # naive -> UTC
        ("2024-01-01T10:00:00.5", datetime(2024, 1, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2024-01-01T00:30:00+01:00", datetime(2023, 12, 31, 23, 30, 0, tzinfo=UTC)),
    ],
)
def test_timestamps(raw: str, expected: datetime) -> None:
    parsed = parse_timestamp(raw)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)
    sms = parse_queue_message(as_json(eventgrid(ReceivedTimestamp=raw)))
    assert sms.received_at == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "yesterday",
        "2020-09-18",
        "2020-09-18T00:27",
        "2020-13-01T00:00:00Z",
        "2020-02-30T00:00:00Z",
        "2020-01-01T24:00:00Z",
        "2020-01-01T00:00:60Z",
        "2020-01-01T00:00:00+24:00",
        "2020-01-01T00:00:00+01:60",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "2020-01-01T00:00:00.Z",
        "20200101T000000Z",
        1600388865,
        ["2020-01-01T00:00:00Z"],
    ],
)
def test_bad_timestamps(raw: Any) -> None:
    with pytest.raises(MalformedEvent, match="ReceivedTimestamp"):
        parse_queue_message(as_json(eventgrid(ReceivedTimestamp=raw)))


@pytest.mark.parametrize("value", [_DELETE, None])
def test_timestamp_falls_back_to_event_time(value: Any) -> None:
    sms = parse_queue_message(as_json(eventgrid(ReceivedTimestamp=value)))
    assert sms.received_at == datetime(2020, 9, 18, 0, 27, 47, tzinfo=UTC)
    sms = parse_queue_message(as_json(cloudevent(receivedTimestamp=value)))
    assert sms.received_at == datetime(2020, 9, 18, 0, 27, 47, tzinfo=UTC)


def test_no_timestamp_at_all() -> None:
    event = eventgrid(ReceivedTimestamp=_DELETE)
    del event["eventTime"]
    with pytest.raises(MalformedEvent, match="ReceivedTimestamp"):
        parse_queue_message(as_json(event))


def test_bad_event_time_fallback() -> None:
    event = eventgrid(ReceivedTimestamp=_DELETE)
    event["eventTime"] = "soon"
    with pytest.raises(MalformedEvent, match="eventTime"):
        parse_queue_message(as_json(event))


# --- Other event types --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        {
            "id": "2d1781af-3a4c-4d7c-bd0c-e34b19da4e66",
            "topic": "/subscriptions/x",
            "subject": "",
            "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "eventTime": "2018-01-25T22:12:19.4556811Z",
            "metadataVersion": "1",
            "dataVersion": "1",
        },
        {
            "specversion": "1.0",
            "type": "Microsoft.Communication.SMSDeliveryReportReceived",
            "id": "abc",
            "data": {},
        },
        {"EVENTTYPE": "Microsoft.Storage.BlobCreated", "ID": "abc"},
    ],
)
@pytest.mark.parametrize("encode", [as_json, as_b64])
def test_other_types_are_ignored(event: dict[str, Any], encode: Callable[[Any], str]) -> None:
    with pytest.raises(IgnoredEvent) as info:
        parse_queue_message(encode(event))
    expected = event.get("eventType") or event.get("type") or event.get("EVENTTYPE")
    assert info.value.event_type == expected
    assert not isinstance(info.value, MalformedEvent)


def test_ignored_event_with_array_of_one() -> None:
    event = eventgrid()
    event["eventType"] = "Microsoft.Communication.SMSDeliveryReportReceived"
    with pytest.raises(IgnoredEvent):
        parse_queue_message(as_json([event]))


@pytest.mark.parametrize("type_value", [_DELETE, None, "", 42])
def test_missing_or_bad_event_type(type_value: Any) -> None:
    event = eventgrid()
    if type_value is _DELETE:
        del event["eventType"]
    else:
        event["eventType"] = type_value
    with pytest.raises(MalformedEvent):
        parse_queue_message(as_json(event))


# --- Garbage ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        "",
        "   \n",
        b"\xef\xbb\xbf",
        "not json",
        "{not json",
        "[1, 2",
        "null",
        "42",
        '"a string"',
        "true",
        "{}",
        "[]",
        "[[]]",
        "[" * 100_000,
        b"\xff\xfe\xfd",
        b"{\xff}",
        "aGVsbG8=",  # base64 of "hello"
        "aGVsbG8",  # bad padding
        "////",  # base64 of non-UTF-8 bytes
        base64.b64encode(b"\xff\xfe").decode(),
        base64.b64encode(b"null").decode(),
        base64.b64encode(base64.b64encode(b"{}")).decode(),  # base64 twice
        "eyJh Ijog MX0=",  # whitespace inside base64: strict
        "eyJhIjogMX0=\n" + "x",
        "-_-_",  # URL-safe alphabet is not accepted
        b"\x00\x01\x02",
        "{" + '"a":' * 10 + "1" + "}" * 10,
    ],
)
def test_garbage(body: bytes | str) -> None:
    with pytest.raises(MalformedEvent):
        parse_queue_message(body)


@pytest.mark.parametrize("body", [None, 42, 1.5, {"a": 1}, ["x"]])
def test_wrong_python_type(body: Any) -> None:
    with pytest.raises(MalformedEvent):
        parse_queue_message(body)


def test_bytearray_and_memoryview_accepted() -> None:
    raw = as_json(eventgrid()).encode()
    assert parse_queue_message(bytearray(raw)).text == SECRET_TEXT
    assert parse_queue_message(memoryview(raw)).text == SECRET_TEXT


@pytest.mark.parametrize("encode", [as_json, as_b64])
@pytest.mark.parametrize("as_bytes", [False, True])
def test_size_guard(encode: Callable[[Any], str], as_bytes: bool) -> None:
    event = eventgrid(Message="x" * MAX_MESSAGE_BYTES)
    body: bytes | str = encode(event)
    if as_bytes:
        body = body.encode()
    with pytest.raises(MalformedEvent, match="larger than"):
        parse_queue_message(body)


def test_size_guard_counts_utf8_bytes() -> None:
    base = json.dumps(eventgrid(Message=""), ensure_ascii=False)
    room = MAX_MESSAGE_BYTES - len(base.encode())
    fits = json.dumps(eventgrid(Message="é" * ((room // 2) - 10)), ensure_ascii=False)
    assert len(fits.encode()) <= MAX_MESSAGE_BYTES
    assert parse_queue_message(fits).text.startswith("é")
    assert parse_queue_message(fits.encode()).text.startswith("é")
    too_big = json.dumps(eventgrid(Message="é" * (room // 2 + 10)), ensure_ascii=False)
    assert len(too_big) <= MAX_MESSAGE_BYTES < len(too_big.encode())
    with pytest.raises(MalformedEvent, match="larger than"):
        parse_queue_message(too_big)


def test_unicode_message_text_roundtrip() -> None:
    text = "Arrêt 🙏 — 停止"
    event = eventgrid(Message=text)
    assert parse_queue_message(json.dumps(event, ensure_ascii=False)).text == text
    assert parse_queue_message(json.dumps(event, ensure_ascii=False).encode()).text == text
    assert parse_queue_message(as_b64(event)).text == text


# --- No leaks in errors -------------------------------------------------------------------------


def assert_no_leak(exc: BaseException) -> None:
    message = str(exc)
    for secret in (PERSON, BUSINESS, SECRET_TEXT, "zebra", PERSON[1:], BUSINESS[1:]):
        assert secret not in message
    assert exc.__cause__ is None
    assert exc.__suppress_context__ or exc.__context__ is None


def _broken_variants() -> list[dict[str, Any]]:
    base = eventgrid()
    variants: list[dict[str, Any]] = []
    for field, value in [
        ("From", "+1" + "9" * 20),
        ("To", SECRET_TEXT),
        ("From", "+" + PERSON + "x"),
        ("To", "00" + BUSINESS),
        ("ReceivedTimestamp", SECRET_TEXT),
        ("ReceivedTimestamp", PERSON),
        ("Message", 12345),
    ]:
        event = copy.deepcopy(base)
        event["data"][field] = value
        variants.append(event)
    event = copy.deepcopy(base)
    event["data"]["FROM"] = BUSINESS  # conflicting duplicate
    variants.append(event)
    event = copy.deepcopy(base)
    event["data"] = json.dumps(event["data"])[:-3]  # truncated double-encoded data
    variants.append(event)
    event = copy.deepcopy(base)
    del event["data"]["From"]
    variants.append(event)
    return variants


@pytest.mark.parametrize("event", _broken_variants())
@pytest.mark.parametrize("encode", [as_json, as_b64])
def test_malformed_never_leaks(event: dict[str, Any], encode: Callable[[Any], str]) -> None:
    with pytest.raises(MalformedEvent) as info:
        parse_queue_message(encode(event))
    assert_no_leak(info.value)


@pytest.mark.parametrize(
    "body",
    [
        '{"eventType": "' + SMS_RECEIVED + '", "data": {"Message": "' + SECRET_TEXT,
        SECRET_TEXT,
        SECRET_TEXT.encode("utf-16"),
        PERSON,
    ],
)
def test_undecodable_never_leaks(body: bytes | str) -> None:
    with pytest.raises(MalformedEvent) as info:
        parse_queue_message(body)
    assert_no_leak(info.value)


# --- Properties ---------------------------------------------------------------------------------


@given(st.binary(max_size=2048))
@settings(max_examples=500)
def test_property_arbitrary_bytes(body: bytes) -> None:
    for candidate in (body, base64.b64encode(body)):
        with contextlib.suppress(MalformedEvent, IgnoredEvent):
            parse_queue_message(candidate)


@given(st.text(max_size=2048))
@settings(max_examples=300)
def test_property_arbitrary_text(body: str) -> None:
    with contextlib.suppress(MalformedEvent, IgnoredEvent):
        parse_queue_message(body)


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.sampled_from([SMS_RECEIVED, PERSON, "+" + BUSINESS, "2020-09-18T00:27:45Z"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["id", "eventType", "type", "data", "From", "to", "Message", "MessageId", "time"]
            )
            | st.text(max_size=8),
            children,
            max_size=6,
        )
    ),
    max_leaves=20,
)


@given(_JSON)
@settings(max_examples=500)
def test_property_arbitrary_json(value: Any) -> None:
    for body in (as_json(value), as_b64(value)):
        try:
            sms = parse_queue_message(body)
        except (MalformedEvent, IgnoredEvent):
            continue
        assert sms.sender.startswith("+")
        assert sms.recipient.startswith("+")
        assert sms.received_at.utcoffset() == timedelta(0)


@given(
    st.text(min_size=1, max_size=200),
    st.sampled_from(["From", "To", "ReceivedTimestamp"]),
    st.sampled_from(["", "x", "+", "99999999999999999"]),
)
@settings(max_examples=300)
def test_property_text_never_in_errors(text: str, field: str, junk: str) -> None:
    marker = "\u2603" + text + "\u2603"  # never a substring of an error by accident
    event = eventgrid(Message=marker, **{field: junk})
    try:
        parse_queue_message(as_json(event))
    except MalformedEvent as exc:
        assert marker not in str(exc)
