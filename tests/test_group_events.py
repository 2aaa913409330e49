"""Group-wide change events (revoke-all): their CloudEvents shape, ids, sequence and outbox
record, next to a sender's events; and the feed row that owes them (pure logic, no storage)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.messaging import CloudEvent
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.changes import (
    FeedRow,
    OptOutChange,
    change_kind,
    kind_scope,
    opts_out,
)
from shared.domain.keyword_writes import KeywordWrite
from shared.domain.model import ChangeKind, FeedScope
from shared.feed.publishers import event_json

T0 = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)
A, B = "+18005550111", "+18005550112"
PERSON = "+14255550123"


def group_row(**over: Any) -> FeedRow:
    return FeedRow("contoso", PERSON, **{"scope": FeedScope.GROUP, **over})


def stop(row: FeedRow | None = None, at: datetime = T0) -> OptOutChange:
    return (row or group_row()).next_change(
        True,
        at,
        "keyword",
        country="US",
        keyword="STOP",
        message_id="Incoming_1",
        received_by=A,
        senders=(A, B),
        actor="keyword",
    )


def test_a_group_wide_opt_out_event_names_the_group_and_its_senders() -> None:
    body = json.loads(event_json(stop(), "/sms-optout"))
    assert body == {
        "specversion": "1.0",
        "id": stop().event_id,
        "source": "/sms-optout/groups/contoso",
        "type": "Sms.OptOut.GroupAdded",
        "subject": "contoso",
        "time": "2026-11-26T10:00:00Z",
        "datacontenttype": "application/json",
        "sequence": "00000000000000000001",
        "data": {
            "group": "contoso",
            "recipient": PERSON,
            "country": "US",
            "source": "keyword",
            "keyword": "STOP",
            "messageId": "Incoming_1",
            "optedOutAt": "2026-11-26T10:00:00Z",
            "actor": "keyword",
            "receivedBy": A,
            "senders": [A, B],
        },
    }
    assert "sender" not in body["data"]  # a sender-keyed consumer cannot mistake it
    parsed = CloudEvent.from_dict(body)
    assert (parsed.type, parsed.subject, parsed.extensions) == (
        "Sms.OptOut.GroupAdded",
        "contoso",
        {"sequence": "00000000000000000001"},
    )


def test_a_group_wide_removal_has_its_own_type_and_null_opt_out_time() -> None:
    owing = group_row().appended(stop(), T0)
    start = owing.next_change(False, T0 + timedelta(minutes=1), "keyword", received_by=B)
    body = json.loads(event_json(start, "/sms-optout"))
    assert (body["type"], body["sequence"][-1]) == ("Sms.OptOut.GroupRemoved", "2")
    data = body["data"]
    assert (data["optedOutAt"], data["receivedBy"], data["senders"]) == (None, B, [])
    assert owing.opted_out is True and owing.appended(start, T0).opted_out is False


def test_group_ids_are_stable_and_never_meet_a_senders() -> None:
    assert stop().event_id == stop().event_id and uuid.UUID(stop().event_id).version == 5
    later = stop(at=T0 + timedelta(seconds=1))
    assert later.event_id != stop().event_id
    # A sender keyed like the group, same recipient, version and time: another id.
    sender_twin = FeedRow("contoso", PERSON).next_change(True, T0, "keyword")
    assert sender_twin.kind is ChangeKind.ADDED and sender_twin.event_id != stop().event_id
    # The member list and the told sender describe the change; they do not identify it.
    assert stop().event_id == group_row().next_change(True, T0, "keyword").event_id


def test_kinds_know_their_scope_and_direction() -> None:
    assert [change_kind(o, s) for s in FeedScope for o in (True, False)] == [
        ChangeKind.ADDED,
        ChangeKind.REMOVED,
        ChangeKind.GROUP_ADDED,
        ChangeKind.GROUP_REMOVED,
    ]
    assert [opts_out(k) for k in ChangeKind] == [True, False, True, False]
    assert [kind_scope(k) for k in ChangeKind] == [FeedScope.SENDER] * 2 + [FeedScope.GROUP] * 2


def test_a_keyword_write_owes_an_event_only_when_the_state_changes() -> None:
    row = group_row(etag="e1")
    written = KeywordWrite(True, T0, "m1", "STOP", A, (A,)).feed_row(row, False, "US")
    [owed] = written.owed
    assert (owed.kind, owed.group, owed.sender, owed.senders) == (
        ChangeKind.GROUP_ADDED,
        "contoso",
        A,
        (A,),
    )
    assert (written.version, written.opted_out, written.etag) == (1, True, "e1")
    again = KeywordWrite(True, T0, "m2", "STOP", B).feed_row(
        written.without(written.owed), True, "US"
    )
    assert (again.owed, again.version, again.opted_out) == ((), 1, True)  # no-op: no event


@given(
    version=st.integers(min_value=1, max_value=10**9),
    senders=st.lists(st.sampled_from([A, B, "12345", "CONTOSO"]), max_size=4),
    opt_out=st.booleans(),
)
def test_group_record_round_trip_keeps_the_event_identical(
    version: int, senders: list[str], opt_out: bool
) -> None:
    row = group_row(version=version - 1)
    c = row.next_change(opt_out, T0, "keyword", received_by=A, senders=senders)
    again = OptOutChange.from_record(json.loads(json.dumps(c.to_record())))
    assert again == c and again.stream == (FeedScope.GROUP, "contoso", PERSON)
    assert event_json(again, "/s") == event_json(c, "/s")


def test_sender_records_keep_their_shape() -> None:
    """Outbox records written before group events existed still read back the same."""
    c = FeedRow(A, PERSON).next_change(True, T0, "api")
    assert set(c.to_record()) == {
        "kind", "sender", "recipient", "version", "effectiveAt", "source", "country",
        "keyword", "messageId", "optedOutAt",
    }  # fmt: skip
    assert (c.partition, c.group, c.senders) == (A, "", ())
