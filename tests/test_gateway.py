"""Unit tests for shared.sending.gateway: blocking, fail-closed, one upstream call, merging in
order.

The opt-out lookup and the upstream are small in-memory stand-ins here (pure logic); the real
ones are tested against Azurite (the store) and the ACS double (tests/test_acs_upstream.py), and
all together through the HTTP host with the official clients.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.model import UpstreamFailure
from shared.domain.phone import PhoneNumber
from shared.domain.sender import SenderId, parse_sender
from shared.sending.gateway import (
    INVALID_MESSAGE,
    OPTED_OUT_MESSAGE,
    OPTED_OUT_STATUS,
    OptOutCheckUnavailable,
    SendGateway,
)
from shared.sending.records import (
    DRY_RUN_PREFIX,
    NOT_CONFIGURED,
    DryRun,
    NotConfigured,
    OutgoingRecipient,
    SendRequest,
    SendResult,
    UpstreamError,
)

SENDER = parse_sender("+18005550100")
ALICE, BOB, CAROL = "+14255550101", "+14255550102", "+14255550103"


class Lookup:
    def __init__(self, opted_out: set[str], *, fail: bool = False, delay: float = 0) -> None:
        self.opted_out_numbers = opted_out
        self.fail, self.delay = fail, delay
        self.calls: list[tuple[SenderId, list[str]]] = []

    def opted_out(self, sender: SenderId, recipients: Sequence[PhoneNumber]) -> set[str]:
        self.calls.append((sender, [r.e164 for r in recipients]))
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("storage down")
        return {r.e164 for r in recipients} & self.opted_out_numbers


class Upstream:
    """Answers each recipient 202, in request order (as ACS does) or reversed."""

    def __init__(
        self, error: UpstreamError | None = None, drop: int = 0, reverse: bool = False
    ) -> None:
        self.error, self.drop, self.reverse = error, drop, reverse
        self.requests: list[SendRequest] = []

    def send(self, request: SendRequest) -> list[SendResult]:
        self.requests.append(request)
        if self.error:
            raise self.error
        results = [
            SendResult(r.to, 202, True, f"m-{r.repeatability_request_id}", "accepted")
            for r in request.recipients
        ]
        results = results[self.drop :]
        return list(reversed(results)) if self.reverse else results


def request(*tos: str) -> SendRequest:
    recipients = tuple(
        OutgoingRecipient(to, f"id{i}", "Thu, 26 Nov 2026 10:00:00 GMT") for i, to in enumerate(tos)
    )
    return SendRequest(SENDER, "hi", recipients, "2026-01-23")


def gateway(lookup: Lookup, upstream: object, timeout: float = 2.0) -> SendGateway:
    return SendGateway(lookup, upstream, check_timeout=timeout)  # type: ignore[arg-type]


def test_mixed_recipients_keep_their_order_and_only_allowed_ones_are_forwarded() -> None:
    lookup, upstream = Lookup({BOB}), Upstream()
    outcome = gateway(lookup, upstream).send(request(ALICE, BOB, "+123", CAROL, ALICE))

    assert [r.to for r in outcome.results] == [ALICE, BOB, "+123", CAROL, ALICE]
    assert [r.status for r in outcome.results] == [202, OPTED_OUT_STATUS, 400, 202, 202]
    assert [r.successful for r in outcome.results] == [True, False, False, True, True]
    assert outcome.results[1].error_message == OPTED_OUT_MESSAGE
    assert outcome.results[2].error_message == INVALID_MESSAGE
    # The i-th answer for a number goes to the i-th time it was listed (its own repeatability id).
    assert [r.message_id for r in outcome.results] == ["m-id0", None, None, "m-id3", "m-id4"]
    # One upstream call, with the allowed recipients (duplicates kept, as ACS would get them)
    # and their repeatability values.
    (sent,) = upstream.requests
    assert [(r.to, r.repeatability_request_id) for r in sent.recipients] == [
        (ALICE, "id0"),
        (CAROL, "id3"),
        (ALICE, "id4"),
    ]
    assert (outcome.blocked, outcome.invalid, outcome.forwarded) == (1, 1, 3)
    # One opt-out check, each distinct valid number once.
    assert lookup.calls == [(SENDER, [ALICE, BOB, CAROL])]


def test_an_opted_out_number_listed_twice_is_blocked_twice() -> None:
    upstream = Upstream()
    outcome = gateway(Lookup({BOB}), upstream).send(request(BOB, BOB))
    assert [r.status for r in outcome.results] == [OPTED_OUT_STATUS, OPTED_OUT_STATUS]
    assert upstream.requests == []  # nothing allowed: no upstream call at all


def test_blocked_recipients_are_counted_per_sender() -> None:
    gw = gateway(Lookup({BOB, CAROL}), Upstream())
    gw.send(request(ALICE, BOB, CAROL))
    gw.send(request(BOB))
    other = SendRequest(parse_sender("Contoso"), "hi", (OutgoingRecipient(BOB),), "2026-01-23")
    gw.send(other)
    assert gw.blocked_by_sender == {"+18005550100": 3, "CONTOSO": 1}


def test_only_invalid_recipients_need_no_check_and_no_send() -> None:
    lookup, upstream = Lookup(set()), Upstream()
    outcome = gateway(lookup, upstream).send(request("+123", "x"))
    assert [r.status for r in outcome.results] == [400, 400]
    assert lookup.calls == [] and upstream.requests == []


def test_fail_closed_when_the_check_fails() -> None:
    upstream = Upstream()
    with pytest.raises(OptOutCheckUnavailable):
        gateway(Lookup(set(), fail=True), upstream).send(request(ALICE))
    assert upstream.requests == []


def test_fail_closed_when_the_check_is_too_slow() -> None:
    upstream = Upstream()
    started = time.monotonic()
    with pytest.raises(OptOutCheckUnavailable, match="took over"):
        gateway(Lookup(set(), delay=1.0), upstream, timeout=0.2).send(request(ALICE))
    assert time.monotonic() - started < 0.9  # answered at the timeout, not when storage was
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (UpstreamFailure.UNREACHABLE, 503),
        (UpstreamFailure.UNAVAILABLE, 503),
        (UpstreamFailure.TIMEOUT, 504),
        (UpstreamFailure.SERVER_ERROR, 502),
        (UpstreamFailure.AUTH_FAILED, 502),
        (UpstreamFailure.BAD_ANSWER, 502),
    ],
)
def test_upstream_failure_gives_every_forwarded_recipient_a_result(
    kind: UpstreamFailure, status: int
) -> None:
    error = UpstreamError(kind, "x")
    outcome = gateway(Lookup({BOB}), Upstream(error)).send(request(ALICE, BOB, CAROL))
    assert outcome.failure is error
    assert [r.status for r in outcome.results] == [status, OPTED_OUT_STATUS, status]
    assert not any(r.successful for r in outcome.results)
    assert all(r.error_message for r in outcome.results)


def test_upstream_4xx_keeps_its_status() -> None:
    error = UpstreamError(UpstreamFailure.REFUSED, "x", 429)
    outcome = gateway(Lookup(set()), Upstream(error)).send(request(ALICE))
    assert outcome.results[0].status == 429


def test_answers_in_another_order_are_matched_by_number() -> None:
    outcome = gateway(Lookup(set()), Upstream(reverse=True)).send(request(ALICE, BOB, CAROL))
    assert [r.message_id for r in outcome.results] == ["m-id0", "m-id1", "m-id2"]


def test_a_recipient_missing_from_acs_answer_is_not_lost() -> None:
    outcome = gateway(Lookup(set()), Upstream(drop=1)).send(request(ALICE, CAROL))
    # Upstream dropped the first recipient's result.
    assert outcome.results[0].status == 502 and not outcome.results[0].successful
    assert "may or may not have been sent" in (outcome.results[0].error_message or "")
    assert outcome.results[1].successful


def test_the_callers_to_is_echoed_even_if_acs_writes_it_differently() -> None:
    class Reformatting(Upstream):
        def send(self, request: SendRequest) -> list[SendResult]:
            return [SendResult(r.to.lstrip("+"), 202, True, "m") for r in request.recipients]

    outcome = gateway(Lookup(set()), Reformatting()).send(request(ALICE))
    assert outcome.results[0].to == ALICE and outcome.results[0].successful


def test_not_configured_says_so_for_every_allowed_recipient() -> None:
    outcome = gateway(Lookup({BOB}), NotConfigured()).send(request(ALICE, BOB))
    assert (outcome.results[0].successful, outcome.results[0].error_message) == (
        False,
        NOT_CONFIGURED,
    )
    assert outcome.results[1].status == OPTED_OUT_STATUS


def test_dry_run_answers_as_sent_with_marked_ids() -> None:
    outcome = gateway(Lookup({BOB}), DryRun()).send(request(ALICE, BOB))
    first = outcome.results[0]
    assert first.successful and first.status == 202
    assert first.message_id and first.message_id.startswith(DRY_RUN_PREFIX)
    assert first.repeatability_result == "accepted"
    assert not outcome.results[1].successful


def test_concurrent_sends_count_correctly() -> None:
    gw = gateway(Lookup({BOB}), Upstream())
    threads = [threading.Thread(target=gw.send, args=(request(BOB, ALICE),)) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gw.blocked_by_sender["+18005550100"] == 20


NUMBERS = st.sampled_from([ALICE, BOB, CAROL, "+14255550104", "+123", "abc"])


@given(st.lists(NUMBERS, min_size=1, max_size=30), st.sets(st.sampled_from([ALICE, BOB, CAROL])))
def test_property_nothing_opted_out_or_invalid_is_ever_forwarded(
    tos: list[str], opted_out: set[str]
) -> None:
    upstream = Upstream()
    outcome = gateway(Lookup(opted_out), upstream).send(request(*tos))
    assert [r.to for r in outcome.results] == tos
    forwarded = [r.to for req in upstream.requests for r in req.recipients]
    allowed = [t for t in tos if t not in opted_out and t not in ("+123", "abc")]
    assert forwarded == allowed  # each allowed item exactly once, in order
    assert len(upstream.requests) == (1 if allowed else 0)
    for to, result in zip(tos, outcome.results, strict=True):
        assert result.successful == (to in allowed)
