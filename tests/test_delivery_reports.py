"""Delivery reports in (`sms-delivery-reports`): parsing every envelope the inbound queue takes,
and what a report does (kept; a keyword confirmation marked; a 4007 opts the recipient out with
source carrier, exactly once under redelivery). Service-level, on the in-memory fakes (held to
the Table adapters by tests/test_contract.py); tests/test_delivery_reports_e2e.py runs the same
through the local host, its queue and Azurite."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest

from shared.api.delivery_reports import (
    DELIVERY_REPORT_API_VERSIONS,
    dry_send_to_wire,
    not_found,
    report_to_wire,
)
from shared.domain.changes import OptOutChange
from shared.domain.delivery import (
    CONFIRMATION_TAG,
    DeliveryAttempt,
    DeliveryReport,
    DrySend,
    ReportStatus,
)
from shared.domain.model import (
    Action,
    ChangeKind,
    DeliveryStatus,
    HistoryRecord,
    Outcome,
    ReplyStatus,
    Source,
)
from shared.domain.phone import parse_e164
from shared.domain.sender import parse_sender
from shared.feed.change_feed import ChangeFeed
from shared.inbound.delivery_events import parse_report_message
from shared.inbound.delivery_reports import (
    CONFIRMATION_GRACE,
    ConfirmationNotRecordedYet,
    DeliveryReportProcessor,
    handle_report_message,
)
from shared.inbound.events import IgnoredEvent, MalformedEvent
from tests.fakes import FakeDeliveryReports, FakePublisher, FakeRepository
from tests.openapi_check import check_official_delivery_report

BUSINESS, PERSON = "+18005550100", "+14255550123"
RECEIVED = datetime(2026, 12, 1, 10, 0, 5, tzinfo=UTC)
MESSAGE_ID = "Outgoing_20261201100000a1b2c3d4-0000-4000-8000-000000000001_noam"
OPTED_OUT = "4007: The Destination/To number has opted out of receiving messages from you"


def data(**changes: Any) -> dict[str, Any]:
    """Event Grid's data, as ACS sends it (PascalCase; `From` without its `+`)."""
    body = {
        "MessageId": MESSAGE_ID,
        "From": BUSINESS.removeprefix("+"),
        "To": PERSON,
        "DeliveryStatus": "Delivered",
        "DeliveryStatusDetails": "No error.",
        "ReceivedTimestamp": "2026-12-01T10:00:05.1234567+00:00",
        "DeliveryAttempts": [
            {"Timestamp": "2026-12-01T10:00:03+00:00", "SegmentsSucceeded": 1, "SegmentsFailed": 0}
        ],
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def event_grid(**changes: Any) -> dict[str, Any]:
    return {
        "id": MESSAGE_ID,
        "topic": "/subscriptions/x/resourceGroups/rg/providers/microsoft.communication/"
        "communicationservices/acs",
        "subject": f"/phonenumber/{PERSON.removeprefix('+')}",
        "eventType": "Microsoft.Communication.SMSDeliveryReportReceived",
        "eventTime": "2026-12-01T10:00:06Z",
        "dataVersion": "1.0",
        "metadataVersion": "1",
        "data": data(**changes),
    }


def cloud_event(**changes: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "ce-1",
        "source": "/subscriptions/x/resourceGroups/rg/providers/microsoft.communication/"
        "communicationservices/acs",
        "type": "Microsoft.Communication.SMSDeliveryReportReceived",
        "time": "2026-12-01T10:00:06Z",
        "data": {k[0].lower() + k[1:]: v for k, v in data(**changes).items()},
    }


# --- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(event_grid()),
        json.dumps([event_grid()]),  # Event Grid's batch of one
        base64.b64encode(json.dumps(event_grid()).encode()).decode(),
        json.dumps(cloud_event()),
        base64.b64encode(json.dumps(cloud_event()).encode()).decode(),
        json.dumps({**event_grid(), "data": json.dumps(data())}),  # data double-encoded
    ],
    ids=["eventgrid", "array", "eventgrid-b64", "cloudevent", "cloudevent-b64", "data-string"],
)
def test_every_envelope_the_inbound_queue_takes_parses_alike(body: str) -> None:
    report = parse_report_message(body)
    assert report == DeliveryReport(
        message_id=MESSAGE_ID,
        sender=BUSINESS,  # the `+` added
        recipient=PERSON,
        status=ReportStatus.DELIVERED,
        received_at=datetime(2026, 12, 1, 10, 0, 5, 123456, tzinfo=UTC),
        details="No error.",
        attempts=(DeliveryAttempt(datetime(2026, 12, 1, 10, 0, 3, tzinfo=UTC), 1, 0),),
    )


def test_tag_status_case_and_missing_fields() -> None:
    report = parse_report_message(
        json.dumps(
            event_grid(
                DeliveryStatus="failed",
                DeliveryStatusDetails=OPTED_OUT,
                Tag=CONFIRMATION_TAG,
                DeliveryAttempts=None,
                ReceivedTimestamp=None,
            )
        )
    )
    assert report.status is ReportStatus.FAILED and report.opted_out
    assert report.is_confirmation and report.attempts == ()
    assert report.received_at == datetime(2026, 12, 1, 10, 0, 6, tzinfo=UTC)  # eventTime


@pytest.mark.parametrize(
    ("details", "opted_out"),
    [
        (OPTED_OUT, True),
        ("Error code 4007", True),
        ("4007", True),
        ("Failed: 40070", False),  # another code
        ("14007", False),
        ("Carrier rejected the message", False),
    ],
)
def test_the_opted_out_code_is_found_in_the_details(details: str, opted_out: bool) -> None:
    report = parse_report_message(
        json.dumps(event_grid(DeliveryStatus="Failed", DeliveryStatusDetails=details))
    )
    assert report.opted_out is opted_out
    delivered = parse_report_message(json.dumps(event_grid(DeliveryStatusDetails=details)))
    assert not delivered.opted_out  # only a failed report


def test_other_event_types_are_ignored() -> None:
    other = {**event_grid(), "eventType": "Microsoft.Communication.SMSReceived"}
    with pytest.raises(IgnoredEvent):
        parse_report_message(json.dumps(other))


@pytest.mark.parametrize(
    "changes",
    [
        {"DeliveryStatus": "Sent"},
        {"DeliveryStatus": None},
        {"To": "not a number"},
        {"From": None},
        {"DeliveryAttempts": [{"Timestamp": "2026-12-01T10:00:03Z"}]},
        {"DeliveryAttempts": "many"},
        {"ReceivedTimestamp": "yesterday"},
        {"MessageId": "x" * 300},
    ],
)
def test_malformed_reports_are_refused_without_the_number(changes: dict[str, Any]) -> None:
    with pytest.raises(MalformedEvent) as caught:
        parse_report_message(json.dumps(event_grid(**changes)))
    assert "4255550123" not in str(caught.value)


# --- what a report does ---------------------------------------------------------------------


class Rig:
    def __init__(self, now: datetime = RECEIVED + timedelta(seconds=30)) -> None:
        self.repo = FakeRepository(clock=lambda: now)
        self.reports = FakeDeliveryReports()
        self.publisher = FakePublisher()
        self.feed = ChangeFeed(self.repo, self.publisher, sweep_grace=timedelta(0))
        self.processor = DeliveryReportProcessor(
            self.reports, self.repo, self.repo, self.feed, clock=lambda: now
        )

    def deliver(self, **changes: Any) -> Any:
        return handle_report_message(json.dumps(event_grid(**changes)), self.processor)

    def stop_row(self, reply_message_id: str = MESSAGE_ID) -> HistoryRecord:
        row = HistoryRecord(
            sender=BUSINESS,
            recipient=PERSON,
            action=Action.OPT_OUT,
            source=Source.KEYWORD,
            event_id="inbound-1",
            event_at=RECEIVED - timedelta(seconds=10),
            outcome=Outcome.APPLIED,
            message_id="inbound-1",
            keyword="STOP",
            reply_status=ReplyStatus.SENDING,
        )
        self.repo.create_history(row)
        self.repo.set_reply_status(row, ReplyStatus.SENT, reply_message_id)
        return row

    def history(self) -> list[HistoryRecord]:
        return list(self.repo.history_rows.values())


def test_every_report_is_kept_for_the_get() -> None:
    rig = Rig()
    result = rig.deliver()
    assert result.kept and not result.opted_out
    assert rig.reports.get_report(MESSAGE_ID).status is ReportStatus.DELIVERED
    assert rig.history() == [] and rig.publisher.published == []  # nothing else happens


def test_a_delivered_confirmation_marks_the_keywords_row() -> None:
    rig = Rig()
    row = rig.stop_row()
    result = rig.deliver(Tag=CONFIRMATION_TAG)
    assert result.confirmation is DeliveryStatus.DELIVERED
    marked = rig.repo.get_history(row)
    assert marked.delivery_status is DeliveryStatus.DELIVERED
    assert marked.delivered_at == datetime(2026, 12, 1, 10, 0, 3, tzinfo=UTC)  # the attempt's
    assert marked.delivery_detail == "No error."


def test_a_failed_confirmation_is_marked_failed_with_its_details() -> None:
    rig = Rig()
    row = rig.stop_row()
    rig.deliver(Tag=CONFIRMATION_TAG, DeliveryStatus="Failed", DeliveryStatusDetails="Expired")
    marked = rig.repo.get_history(row)
    assert (marked.delivery_status, marked.delivered_at, marked.delivery_detail) == (
        DeliveryStatus.FAILED,
        None,
        "Expired",
    )


def test_a_confirmations_report_before_its_row_knows_the_id_is_retried_then_only_kept() -> None:
    rig = Rig()
    with pytest.raises(ConfirmationNotRecordedYet):  # the host tries the message again
        rig.deliver(Tag=CONFIRMATION_TAG)
    row = rig.stop_row()
    assert rig.deliver(Tag=CONFIRMATION_TAG).confirmation is DeliveryStatus.DELIVERED
    assert rig.repo.get_history(row).delivery_status is DeliveryStatus.DELIVERED
    late = Rig(now=RECEIVED + CONFIRMATION_GRACE + timedelta(seconds=1))
    assert late.deliver(Tag=CONFIRMATION_TAG).confirmation is DeliveryStatus.NONE
    assert late.reports.get_report(MESSAGE_ID) is not None


def test_an_older_report_arriving_late_changes_nothing() -> None:
    rig = Rig()
    row = rig.stop_row()
    rig.deliver(Tag=CONFIRMATION_TAG)
    old = rig.deliver(
        Tag=CONFIRMATION_TAG,
        DeliveryStatus="Failed",
        ReceivedTimestamp="2026-12-01T10:00:01+00:00",
    )
    assert not old.kept
    assert rig.repo.get_history(row).delivery_status is DeliveryStatus.DELIVERED


def carrier_rows(rig: Rig) -> list[HistoryRecord]:
    return [r for r in rig.history() if r.source is Source.CARRIER]


def test_a_4007_report_redelivered_opts_out_once_with_source_carrier() -> None:
    rig = Rig()
    failed = {"DeliveryStatus": "Failed", "DeliveryStatusDetails": OPTED_OUT}
    results = [rig.deliver(**failed) for _ in range(3)]  # at least once: here three times
    assert [r.opted_out for r in results] == [True, True, True]
    sender, person = parse_sender(BUSINESS), parse_e164(PERSON)
    assert rig.repo.opted_out(sender, [person]) == {PERSON}
    entry = rig.repo.optouts[(BUSINESS, PERSON)].data
    assert (entry["Source"], entry["MessageId"]) == (Source.CARRIER, MESSAGE_ID)
    (event,) = rig.publisher.published  # one change event
    assert isinstance(event, OptOutChange)
    assert (event.kind, event.source, event.recipient, event.actor) == (
        ChangeKind.ADDED,
        Source.CARRIER,
        PERSON,
        "carrier",
    )
    (row,) = carrier_rows(rig)  # one history row, the report's message id as messageId
    assert (row.action, row.outcome, row.message_id, row.actor, row.event_at) == (
        Action.OPT_OUT,
        Outcome.APPLIED,
        MESSAGE_ID,
        "carrier",
        RECEIVED + timedelta(microseconds=123456),
    )


def test_a_redelivery_after_a_crash_writes_the_missing_history_row_once() -> None:
    rig = Rig()
    failed = {"DeliveryStatus": "Failed", "DeliveryStatusDetails": OPTED_OUT}
    rig.deliver(**failed)
    rig.repo.history_rows.clear()  # as if the first try died before its history write
    rig.deliver(**failed)
    rig.deliver(**failed)
    assert len(carrier_rows(rig)) == 1 and len(rig.publisher.published) == 1


def test_a_carrier_opt_out_never_goes_back_in_time_and_its_row_says_when() -> None:
    """The pair's last change is stamped later than the service clock (a keyword's SMS time):
    the carrier's change is raised past it, like any change, and its history row carries that
    effect time, so as-of places it where `check` does."""
    rig = Rig()
    sender, person = parse_sender(BUSINESS), parse_e164(PERSON)
    later = RECEIVED + timedelta(hours=1)  # after the rig's clock
    for opt_out in (True, False):  # opted out, then back in, both at `later`
        rig.feed.apply(sender, [person], opt_out=opt_out, source=Source.API, at=later)
    rig.deliver(DeliveryStatus="Failed", DeliveryStatusDetails=OPTED_OUT)
    *_, change = rig.publisher.published
    assert (change.kind, change.source) == (ChangeKind.ADDED, Source.CARRIER)
    assert change.effective_at == later + timedelta(microseconds=2)  # after the opt-in
    (row,) = carrier_rows(rig)
    assert row.effective_at == change.effective_at
    assert rig.repo.optouts[(BUSINESS, PERSON)].data["OptedOutAt"] == change.effective_at
    rig.deliver(DeliveryStatus="Failed", DeliveryStatusDetails=OPTED_OUT)  # redelivered
    (again,) = carrier_rows(rig)
    assert again.effective_at == change.effective_at


def test_a_4007_for_someone_already_opted_out_changes_and_records_nothing() -> None:
    rig = Rig()
    sender, person = parse_sender(BUSINESS), parse_e164(PERSON)
    rig.repo.add(sender, [person], RECEIVED - timedelta(days=1))  # opted out through the API
    result = rig.deliver(DeliveryStatus="Failed", DeliveryStatusDetails=OPTED_OUT)
    assert not result.opted_out
    assert rig.repo.optouts[(BUSINESS, PERSON)].data["Source"] == Source.API
    assert carrier_rows(rig) == [] and rig.publisher.published == []


def test_a_report_never_removes_anyone() -> None:
    rig = Rig()
    sender, person = parse_sender(BUSINESS), parse_e164(PERSON)
    rig.repo.add(sender, [person], RECEIVED - timedelta(days=1))
    for changes in ({}, {"DeliveryStatus": "Failed", "DeliveryStatusDetails": "Expired"}):
        rig.deliver(**changes, MessageId=f"Outgoing_{len(changes)}")
    assert rig.repo.opted_out(sender, [person]) == {PERSON}
    assert rig.publisher.published == []


def test_a_failed_start_confirmation_with_4007_marks_it_and_opts_out() -> None:
    """ACS still holds the person as opted out: the START's confirmation fails with 4007, so
    the row says so and the list follows ACS (the conservative direction)."""
    rig = Rig()
    start = replace(rig.stop_row(), action=Action.OPT_IN, keyword="START")
    rig.repo.history_rows[start.event_key] = replace(
        rig.repo.history_rows[start.event_key], action=Action.OPT_IN
    )
    result = rig.deliver(
        Tag=CONFIRMATION_TAG, DeliveryStatus="Failed", DeliveryStatusDetails=OPTED_OUT
    )
    assert (result.confirmation, result.opted_out) == (DeliveryStatus.FAILED, True)
    assert rig.repo.opted_out(parse_sender(BUSINESS), [parse_e164(PERSON)]) == {PERSON}


def test_a_4007_is_applied_even_while_its_confirmation_row_is_not_found_yet() -> None:
    rig = Rig()
    with pytest.raises(ConfirmationNotRecordedYet):
        rig.deliver(Tag=CONFIRMATION_TAG, DeliveryStatus="Failed", DeliveryStatusDetails=OPTED_OUT)
    assert rig.repo.opted_out(parse_sender(BUSINESS), [parse_e164(PERSON)]) == {PERSON}
    assert len(carrier_rows(rig)) == 1


# --- the GET's answers, held to ACS's own description ------------------------------------------


def kept_report(**changes: Any) -> DeliveryReport:
    report = DeliveryReport(
        message_id=MESSAGE_ID,
        sender=BUSINESS,
        recipient=PERSON,
        status=ReportStatus.FAILED,
        received_at=RECEIVED,
        details=OPTED_OUT,
        attempts=(DeliveryAttempt(RECEIVED - timedelta(seconds=2), 0, 1),),
        tag="otp",
        partner_message_id="partner-1",
    )
    return replace(report, **changes)


@pytest.mark.parametrize("version", sorted(DELIVERY_REPORT_API_VERSIONS))
def test_kept_reports_and_dry_sends_answer_in_acss_shape(version: str) -> None:
    wire = report_to_wire(kept_report(), version)
    check_official_delivery_report(version, 200, wire)
    # messagingConnectPartnerMessageId exists in 2026-01-23 only.
    assert ("messagingConnectPartnerMessageId" in wire) is (version == "2026-01-23")
    bare = report_to_wire(
        kept_report(details="", tag="", attempts=(), partner_message_id=""), version
    )
    check_official_delivery_report(version, 200, bare)
    assert set(bare) == {
        "messageId",
        "from",
        "to",
        "deliveryStatus",
        "deliveryAttempts",
        "receivedTimestamp",
    }
    dry = dry_send_to_wire(DrySend("DryRun_1", BUSINESS, PERSON, RECEIVED, "otp"))
    check_official_delivery_report(version, 200, dry)
    check_official_delivery_report(version, 404, not_found().body)


def test_the_official_check_refuses_what_acs_does_not_describe() -> None:
    wire = report_to_wire(kept_report(), "2026-01-23")
    with pytest.raises(jsonschema.ValidationError):  # a property 2025-08-01-preview lacks
        check_official_delivery_report("2025-08-01-preview", 200, wire)
    with pytest.raises(jsonschema.ValidationError):
        check_official_delivery_report("2026-01-23", 200, {**wire, "deliveryStatus": "Sent"})
    with pytest.raises(jsonschema.ValidationError):
        check_official_delivery_report("2026-01-23", 404, {"error": {"code": "NotFound"}})
