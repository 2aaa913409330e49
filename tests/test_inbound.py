"""Inbound keyword handling against the in-memory fake: exactly-once effect, ordering, replies."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.model import Action, SenderProgram, StorageUnavailable
from shared.domain.phone import parse_e164
from shared.domain.sender import parse_sender
from shared.inbound.events import InboundSms, MalformedEvent
from shared.inbound.processor import (
    REPLY_LEASE,
    InboundProcessor,
    ReplyInProgress,
    handle_queue_message,
)
from shared.inbound.reply_sender import ReplyFailed
from shared.platform.settings import Settings
from tests.fakes import FakeReplies, FakeRepository

BUSINESS = "+18005550100"
PERSON = "+14255550123"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SETTINGS = Settings(access_keys=(), reply_brand="Contoso", reply_help_contact="help@contoso.test")


def sms(text: str, n: int, seconds: float | None = None, person: str = PERSON) -> InboundSms:
    return InboundSms(
        message_id=f"Incoming_{n}",
        event_id=f"evt-{n}",
        sender=BUSINESS,
        recipient=person,
        text=text,
        received_at=T0 + timedelta(seconds=n if seconds is None else seconds),
    )


def setup() -> tuple[FakeRepository, FakeReplies, InboundProcessor]:
    repo, replies = FakeRepository(), FakeReplies()
    return repo, replies, InboundProcessor(repo, repo, repo, replies, SETTINGS)


def opted_out(repo: FakeRepository, person: str = PERSON) -> bool:
    return (BUSINESS, person) in repo.optouts


def test_stop_opts_out_and_confirms_once() -> None:
    repo, replies, proc = setup()
    result = proc.handle(sms("Stop.", 1))
    assert (result.action, result.outcome, result.reply_status) == (
        Action.OPT_OUT,
        "applied",
        "sent",
    )
    assert opted_out(repo)
    assert repo.optouts[(BUSINESS, PERSON)].data["Source"] == "keyword"
    assert len(replies.sent) == 1
    from_, to, text = replies.sent[0]
    assert (from_, to) == (BUSINESS, PERSON)
    assert text.startswith("Contoso:") and "START" in text
    (row,) = repo.history_rows.values()
    assert (row.action, row.source, row.outcome, row.reply_status) == (
        "optout",
        "keyword",
        "applied",
        "sent",
    )


def test_start_opts_back_in_and_help_replies_without_change() -> None:
    repo, replies, proc = setup()
    proc.handle(sms("STOP", 1))
    proc.handle(sms("start", 2))
    assert not opted_out(repo)
    result = proc.handle(sms("HELP", 3))
    assert (result.outcome, result.reply_status) == ("help", "sent")
    assert not opted_out(repo)
    help_text = replies.sent[-1][2]
    assert "help@contoso.test" in help_text and "STOP" in help_text
    assert len(replies.sent) == 3


def test_plain_text_is_not_a_keyword_and_costs_no_storage() -> None:
    repo, replies, proc = setup()
    repo.down = True  # any storage call would raise
    result = proc.handle(sms("stop by the store tomorrow?", 1))
    assert result.outcome == "no-keyword"
    assert replies.sent == []


def test_duplicate_delivery_changes_state_once_and_replies_once() -> None:
    repo, replies, proc = setup()
    event = sms("STOP", 1)
    proc.handle(event)
    proc.handle(sms("START", 2))
    again = proc.handle(event)  # redelivered after a newer START
    assert again.outcome == "duplicate"
    assert not opted_out(repo)
    assert len(replies.sent) == 2
    assert len(repo.history_rows) == 2


def test_older_stop_after_newer_start_does_not_opt_out_again() -> None:
    repo, replies, proc = setup()
    proc.handle(sms("START", 2))
    late = proc.handle(sms("STOP", 1))
    assert late.outcome == "superseded"
    assert not opted_out(repo)
    # the START found the person opted in already: confirmed, but no change
    assert [r.outcome for r in repo.history_rows.values()] == ["unchanged", "superseded"]
    assert len(replies.sent) == 1  # no confirmation for an event that was not applied


def test_start_never_undoes_a_newer_api_opt_out() -> None:
    repo, _, proc = setup()
    repo.add(parse_sender(BUSINESS), [parse_e164(PERSON)], T0 + timedelta(minutes=5))
    assert proc.handle(sms("START", 1)).outcome == "superseded"
    assert opted_out(repo)
    # ...but a START sent after the API opt-out applies.
    assert proc.handle(sms("START", 600)).outcome == "applied"
    assert not opted_out(repo)


def test_reply_failure_is_retried_without_reapplying_or_double_sending() -> None:
    repo, replies, proc = setup()
    replies.fail = ReplyFailed("ACS down")
    with pytest.raises(ReplyFailed):
        proc.handle(sms("STOP", 1))
    assert opted_out(repo)  # the opt-out itself is not lost
    (row,) = repo.history_rows.values()
    assert row.reply_status == "pending"
    replies.fail = None
    result = proc.handle(sms("STOP", 1))  # the host's retry
    assert (result.outcome, result.reply_status) == ("duplicate", "sent")
    assert len(replies.sent) == 1
    assert proc.handle(sms("STOP", 1)).reply_status == "sent"
    assert len(replies.sent) == 1


def test_concurrent_copies_of_one_event_send_one_reply() -> None:
    repo, replies, proc = setup()
    event = sms("STOP", 1)
    raised: list[Exception] = []

    def second_copy() -> None:  # another instance, while the first is still sending
        try:
            InboundProcessor(repo, repo, repo, replies, SETTINGS).handle(event)
        except ReplyInProgress as exc:
            raised.append(exc)

    replies.during_send = second_copy
    assert proc.handle(event).reply_status == "sent"
    assert len(raised) == 1  # the copy raised, so the host retries it...
    assert proc.handle(event).outcome == "duplicate"  # ...and the retry finds the reply sent
    assert len(replies.sent) == 1


def test_a_crashed_reply_claim_is_taken_over_after_the_lease() -> None:
    repo, replies, _ = setup()
    now = [T0]
    proc = InboundProcessor(repo, repo, repo, replies, SETTINGS, clock=lambda: now[0])
    event = sms("HELP", 1)

    def crash() -> None:
        raise KeyboardInterrupt  # the instance dies mid-send: the claim stays

    replies.during_send = crash
    with pytest.raises(KeyboardInterrupt):
        proc.handle(event)
    (row,) = repo.history_rows.values()
    row = replace(row, reply_status="sending")  # a crash gives nothing back
    repo.history_rows = {k: row for k in repo.history_rows}
    now[0] = T0 + REPLY_LEASE / 2
    with pytest.raises(ReplyInProgress):
        proc.handle(event)
    assert replies.sent == []
    now[0] = T0 + REPLY_LEASE * 2
    assert proc.handle(event).reply_status == "sent"
    assert len(replies.sent) == 1


def test_storage_outage_raises_for_retry_and_leaves_nothing_half_written() -> None:
    repo, replies, proc = setup()
    repo.down = True
    with pytest.raises(StorageUnavailable):
        proc.handle(sms("STOP", 1))
    assert repo.optouts == {} and repo.history_rows == {} and replies.sent == []
    repo.down = False
    assert proc.handle(sms("STOP", 1)).outcome == "applied"
    assert len(replies.sent) == 1


def test_history_write_failure_after_apply_is_recovered_on_retry() -> None:
    repo, replies, proc = setup()
    original = repo.create_history

    def failing_once(record: object) -> None:
        repo.create_history = original  # type: ignore[method-assign]
        raise StorageUnavailable("blip")

    repo.create_history = failing_once  # type: ignore[method-assign]
    with pytest.raises(StorageUnavailable):
        proc.handle(sms("STOP", 1))
    assert opted_out(repo)
    result = proc.handle(sms("STOP", 1))
    assert (result.outcome, result.reply_status) == ("applied", "sent")
    assert len(replies.sent) == 1


def test_concurrent_newer_event_wins_over_conditional_write() -> None:
    repo, _replies, proc = setup()
    # While STOP(t=1) is about to write, START(t=2) is applied by "another instance".
    repo.before_apply = lambda: InboundProcessor(repo, repo, repo, FakeReplies(), SETTINGS).handle(
        sms("START", 2)
    )
    result = proc.handle(sms("STOP", 1))
    assert result.outcome == "superseded"
    assert not opted_out(repo)


def test_plain_language_can_be_turned_off_per_sender() -> None:
    repo, _, proc = setup()
    assert proc.handle(sms("please stop texting me", 1)).outcome == "applied"
    repo.programs[BUSINESS] = SenderProgram(plain_language_optout=False)
    assert proc.handle(sms("START", 2)).outcome == "applied"
    assert proc.handle(sms("please stop texting me", 3)).outcome == "no-keyword"
    assert not opted_out(repo)
    assert proc.handle(sms("STOP", 4)).outcome == "applied"  # exact keywords still work


def test_per_sender_reply_texts() -> None:
    repo, replies, proc = setup()
    repo.programs[BUSINESS] = SenderProgram(
        brand="Fabrikam", help_contact="555-0100", help_text="{brand} help: {help_contact}. STOP"
    )
    proc.handle(sms("info", 1))
    assert replies.sent[-1][2] == "Fabrikam help: 555-0100. STOP"
    proc.handle(sms("stop", 2))
    assert replies.sent[-1][2].startswith("Fabrikam:")


def test_queue_message_entry_point() -> None:
    repo, _replies, proc = setup()
    event = {
        "id": "e1",
        "eventType": "Microsoft.Communication.SMSReceived",
        "eventTime": "2026-11-01T12:00:01Z",
        "data": {
            "MessageId": "m1",
            "From": PERSON[1:],
            "To": BUSINESS[1:],
            "Message": "STOP",
            "ReceivedTimestamp": "2026-11-01T12:00:00Z",
        },
    }
    assert handle_queue_message(json.dumps(event), proc).outcome == "applied"
    assert opted_out(repo)
    other = {**event, "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent"}
    assert handle_queue_message(json.dumps(other), proc).outcome == "ignored"
    with pytest.raises(MalformedEvent) as info:
        handle_queue_message("STOP from +14255550123", proc)
    assert "4255550123" not in str(info.value)


# --- property: any interleaving, duplication and reordering ends in the newest event's state --

events_strategy = st.lists(
    st.tuples(st.sampled_from(["STOP", "START"]), st.integers(0, 5)), min_size=1, max_size=8
)


@settings(max_examples=300, deadline=None)
@given(
    events=events_strategy,
    data=st.data(),
)
def test_final_state_is_the_newest_event(
    events: list[tuple[str, int]], data: st.DataObject
) -> None:
    # Distinct messages, timestamps may tie (ties break on message id, deterministically).
    messages = [sms(text, i, seconds=t) for i, (text, t) in enumerate(events)]
    deliveries = data.draw(
        st.lists(st.sampled_from(messages), min_size=len(messages), max_size=3 * len(messages))
    )
    deliveries = list(messages) + deliveries  # every event delivered at least once
    order = data.draw(st.permutations(deliveries))
    repo, replies, proc = setup()
    # Interleave: at chosen points, another instance applies an event in the middle of a write.
    concurrent = data.draw(st.lists(st.sampled_from(messages), max_size=3))
    for i, message in enumerate(order):
        if concurrent and data.draw(st.booleans(), label=f"interleave-{i}"):
            other = concurrent.pop()
            repo.before_apply = lambda o=other: InboundProcessor(
                repo, repo, repo, replies, SETTINGS
            ).handle(o)
        proc.handle(message)
        repo.before_apply = None
    newest = max(messages, key=lambda m: (m.received_at, m.message_id))
    assert opted_out(repo) == (newest.text == "STOP")
    # Each event is answered at most once, however often it was delivered.
    assert len(replies.sent) <= len(messages)
    assert len(repo.history_rows) == len(messages)


def test_a_stop_to_a_short_code_opts_out_of_the_short_code() -> None:
    # The opt-out is keyed by the short code (as the API and `send` key it), and the
    # confirmation goes out from the short code, directly (not through send enforcement).
    repo, replies, proc = setup()
    proc.handle(replace(sms("STOP", 1), sender="12345"))
    assert ("12345", PERSON) in repo.optouts
    assert repo.opted_out(parse_sender("12345"), [parse_e164(PERSON)]) == {PERSON}
    assert [(f, t) for f, t, _ in replies.sent] == [("12345", PERSON)]
