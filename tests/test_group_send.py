"""Group send: concurrent replies with the same sender and text share one ACS request, and each
recipient gets its own outcome."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError

from shared.domain.delivery import CONFIRMATION_TAG
from shared.domain.model import Reply, ReplyStatus
from shared.inbound.reply_sender import AcsReplySender, ReplyFailed

SENDER = "+18005550100"


@dataclass
class Result:
    to: str
    successful: bool
    http_status_code: int
    message_id: str | None = None


class FakeSms:
    """An SmsClient stand-in: records each request; the first can be held open so that others
    queue behind it. `refuse` recipients fail (400); `down` makes every request fail."""

    def __init__(self, hold_first: bool = False) -> None:
        self.requests: list[tuple[str, list[str]]] = []
        self.options: list[dict[str, Any]] = []
        self.refuse: set[str] = set()
        self.whole_request_400 = False
        self.down = False
        self.entered, self.release = threading.Event(), threading.Event()
        self._hold = hold_first

    def send(self, from_: str, to: list[str], message: str, **options: Any) -> list[Result]:
        self.options.append(options)
        if self._hold:
            self._hold = False
            self.entered.set()
            assert self.release.wait(10)
        self.requests.append((message, list(to)))
        if self.down:
            raise ServiceRequestError("connection refused")
        if self.whole_request_400 and len(to) > 1 and self.refuse & set(to):
            raise HttpResponseError(response=_Response(400))
        return [
            Result(t, False, 400) if t in self.refuse else Result(t, True, 202, f"Outgoing_{t}")
            for t in to
        ]


class _Response:
    def __init__(self, status: int) -> None:
        self.status_code, self.reason, self.headers = status, "Bad Request", {}

    def text(self) -> str:
        return ""


def burst(
    sender: AcsReplySender, client: FakeSms, sends: list[tuple[str, str]], queued: int = -1
) -> dict:
    """The first send is held open while the others queue (`queued` of them: by default all
    but the first); then all complete."""
    outcomes: dict[str, Any] = {}

    def one(to: str, text: str) -> None:
        try:
            outcomes[to] = sender.send(SENDER, to, text)
        except Exception as exc:
            outcomes[to] = exc

    threads = [threading.Thread(target=one, args=s) for s in sends]
    threads[0].start()
    assert client.entered.wait(10)
    for t in threads[1:]:
        t.start()
    queued = len(sends) - 1 if queued < 0 else queued
    while sum(len(q) for q in sender._group._waiting.values()) < queued:
        threading.Event().wait(0.01)
    client.release.set()
    for t in threads:
        t.join(10)
    return outcomes


def statuses(outcomes: dict[str, Any]) -> dict[str, Any]:
    return {to: getattr(o, "status", o) for to, o in outcomes.items()}


def test_a_lone_reply_is_one_request() -> None:
    client = FakeSms()
    reply = AcsReplySender(client).send(SENDER, "+14255550100", "bye")
    assert reply == Reply(ReplyStatus.SENT, "Outgoing_+14255550100")  # ACS's message id kept
    assert client.requests == [("bye", ["+14255550100"])]
    # Its delivery report is asked for, tagged as a confirmation (docs/delivery-reports.md).
    assert client.options == [{"enable_delivery_report": True, "tag": CONFIRMATION_TAG}]


def test_concurrent_replies_with_one_text_share_a_request() -> None:
    client = FakeSms(hold_first=True)
    people = [f"+142555501{i:02d}" for i in range(5)]
    outcomes = burst(AcsReplySender(client), client, [(p, "bye") for p in people])
    assert statuses(outcomes) == dict.fromkeys(people, ReplyStatus.SENT)
    assert client.requests[0] == ("bye", people[:1])
    assert sorted(client.requests[1][1]) == people[1:] and len(client.requests) == 2


def test_different_texts_never_share() -> None:
    client = FakeSms(hold_first=True)
    sends = [("+14255550100", "bye"), ("+14255550101", "help"), ("+14255550102", "bye")]
    burst(AcsReplySender(client), client, sends, queued=1)  # "help" does not wait for "bye"
    assert sorted(client.requests) == [
        ("bye", ["+14255550100"]),
        ("bye", ["+14255550102"]),
        ("help", ["+14255550101"]),
    ]


def test_each_recipient_gets_its_own_outcome() -> None:
    client = FakeSms(hold_first=True)
    client.refuse = {"+14255550102"}
    people = ["+14255550100", "+14255550101", "+14255550102", "+14255550103"]
    outcomes = burst(AcsReplySender(client), client, [(p, "bye") for p in people])
    assert outcomes["+14255550102"] == Reply(ReplyStatus.FAILED)  # refused: not retried
    assert {outcomes[p].status for p in people if p != "+14255550102"} == {ReplyStatus.SENT}
    assert {outcomes[p].message_id for p in people if p != "+14255550102"} == {
        f"Outgoing_{p}" for p in people if p != "+14255550102"
    }


def test_a_request_refused_as_a_whole_is_sent_again_one_by_one() -> None:
    client = FakeSms(hold_first=True)
    client.refuse, client.whole_request_400 = {"+14255550102"}, True
    people = ["+14255550100", "+14255550101", "+14255550102"]
    outcomes = burst(AcsReplySender(client), client, [(p, "bye") for p in people])
    assert statuses(outcomes) == {
        "+14255550100": ReplyStatus.SENT,
        "+14255550101": ReplyStatus.SENT,
        "+14255550102": ReplyStatus.FAILED,
    }


def test_a_failed_request_fails_each_reply_for_retry() -> None:
    client = FakeSms(hold_first=True)
    client.down = True
    outcomes = burst(AcsReplySender(client), client, [("+14255550100", "a"), ("+14255550101", "a")])
    assert all(isinstance(o, ReplyFailed) for o in outcomes.values())
    with pytest.raises(ReplyFailed):
        AcsReplySender(client).send(SENDER, "+14255550100", "a")
