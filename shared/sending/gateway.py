"""Send-time enforcement: never forward a message to a recipient who opted out of the sender.

For one `SendRequest`: every distinct valid recipient is looked up in ONE opt-out check (the
store's bounded, concurrent point reads); recipients that are opted out or not valid E.164 get
their answer here and are never forwarded; the rest go upstream in ONE call, and the results are
merged back in request order.

- **Fail closed.** If the check fails or takes longer than `check_timeout` seconds,
  `OptOutCheckUnavailable` is raised and nothing is sent (the HTTP layer answers 503).
- **Opted out: 403.** The request is valid and understood; the recipient withdrew consent from
  this sender, and repeating the request cannot change that (only the recipient can, with
  START). 400 would say "your request is malformed" (and is already what an invalid number
  gets, so a client could not tell the two apart and might delete a good number); 409 suggests a
  conflict the client can resolve. Twilio's 21610 comes as 400 and AWS's as a 409
  ConflictException; Telnyx's 40300 is a 403, which is the closest in meaning.
- **Duplicates: as ACS.** Each `smsRecipients` item is its own message with its own
  repeatability values, so a number listed twice is forwarded twice (ACS decides, as it would
  without us); an opted-out number listed twice is blocked twice. The opt-out check looks each
  distinct number up once.
- **Never a silent loss.** When the upstream call fails, each forwarded recipient gets a result
  that says so (not sent / outcome unknown); when ACS leaves a recipient out of its answer, that
  recipient gets a 502 result saying the outcome is unknown.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, defaultdict, deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Protocol

from shared.domain.model import Blocked, UpstreamFailure
from shared.domain.phone import InvalidPhoneNumber, PhoneNumber, mask, parse_e164
from shared.domain.sender import SenderId
from shared.sending.records import (
    OutgoingRecipient,
    SendRequest,
    SendResult,
    Upstream,
    UpstreamError,
)

log = logging.getLogger(__name__)

OPTED_OUT_STATUS = 403
OPTED_OUT_MESSAGE = (
    "Not sent: the recipient has opted out of messages from this sender (replied STOP or was "
    "added to the sender's opt-out list)."
)
INVALID_STATUS = 400
INVALID_MESSAGE = "Invalid recipient phone number format"
MISSING_RESULT_MESSAGE = (
    "ACS returned no result for this recipient: it may or may not have been sent."
)

# Status of each forwarded recipient (and of the whole answer) when the upstream call fails.
FAILURE_STATUS = {
    UpstreamFailure.UNREACHABLE: 503,
    UpstreamFailure.UNAVAILABLE: 503,
    UpstreamFailure.TIMEOUT: 504,
    UpstreamFailure.SERVER_ERROR: 502,
    UpstreamFailure.AUTH_FAILED: 502,
    UpstreamFailure.BAD_ANSWER: 502,
}
FAILURE_MESSAGE = {
    UpstreamFailure.UNREACHABLE: "Not sent: ACS could not be reached.",
    UpstreamFailure.UNAVAILABLE: "Not sent: ACS is unavailable (HTTP 503).",
    UpstreamFailure.TIMEOUT: (
        "Outcome unknown: ACS did not answer in time; the message may have been sent. Retrying "
        "with the same repeatability values is safe."
    ),
    UpstreamFailure.SERVER_ERROR: "Not confirmed: ACS failed (HTTP 5xx).",
    UpstreamFailure.AUTH_FAILED: "Not sent: ACS refused this service's credentials.",
    UpstreamFailure.BAD_ANSWER: "Outcome unknown: ACS's answer could not be read.",
    UpstreamFailure.REFUSED: "Not sent: ACS refused the request.",
}


def failure_status(error: UpstreamError) -> int:
    """The HTTP status for a failed forwarding call: REFUSED keeps ACS's own 4xx."""
    if error.kind is UpstreamFailure.REFUSED:
        return error.status or 400
    return FAILURE_STATUS[error.kind]


class OptOutLookup(Protocol):
    def opted_out(self, sender: SenderId, recipients: Sequence[PhoneNumber]) -> set[str]:
        """The E.164 numbers of `recipients` opted out of `sender`; StorageUnavailable (or any
        exception) when it cannot tell."""
        ...


class OptOutCheckUnavailable(Exception):
    """The opt-out check could not be made: nothing was sent."""


@dataclass(frozen=True)
class SendOutcome:
    results: list[SendResult]  # one per recipient, in request order
    failure: UpstreamError | None = None  # the forwarding call failed as a whole
    blocked: int = 0  # opted out
    invalid: int = 0
    forwarded: int = 0


_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="optout-check")


class SendGateway:
    def __init__(self, lookup: OptOutLookup, upstream: Upstream, *, check_timeout: float) -> None:
        self._lookup = lookup
        self._upstream = upstream
        self._check_timeout = check_timeout
        self._lock = threading.Lock()
        self.blocked_by_sender: Counter[str] = Counter()  # opted-out recipients, by sender key

    def send(self, request: SendRequest) -> SendOutcome:
        numbers = _parse_all(request.recipients)
        opted_out = self._check(request.sender, list({n.e164: n for n in numbers if n}.values()))
        results: list[SendResult | None] = []
        forward: list[OutgoingRecipient] = []
        positions: list[int] = []
        reasons: list[Blocked] = []
        for i, (recipient, number) in enumerate(zip(request.recipients, numbers, strict=True)):
            if number is None:
                results.append(
                    SendResult(recipient.to, INVALID_STATUS, False, error_message=INVALID_MESSAGE)
                )
                reasons.append(Blocked.INVALID)
            elif number.e164 in opted_out:
                results.append(
                    SendResult(
                        recipient.to, OPTED_OUT_STATUS, False, error_message=OPTED_OUT_MESSAGE
                    )
                )
                reasons.append(Blocked.OPTED_OUT)
                log.info(
                    "Send blocked: %s opted out of %s", mask(number.e164), request.sender.masked
                )
            else:
                results.append(None)
                forward.append(recipient)
                positions.append(i)
        failure = self._forward(request.only(forward), positions, results) if forward else None
        outcome = SendOutcome(
            results=[r for r in results if r is not None],
            failure=failure,
            blocked=reasons.count(Blocked.OPTED_OUT),
            invalid=reasons.count(Blocked.INVALID),
            forwarded=len(forward),
        )
        if outcome.blocked:
            with self._lock:
                self.blocked_by_sender[request.sender.key] += outcome.blocked
        _log_outcome(request, outcome)
        return outcome

    def _check(self, sender: SenderId, numbers: list[PhoneNumber]) -> set[str]:
        if not numbers:
            return set()
        future = _pool.submit(self._lookup.opted_out, sender, numbers)
        try:
            return future.result(timeout=self._check_timeout)
        except FutureTimeout as exc:
            future.cancel()
            log.error("Opt-out check for %s timed out: nothing sent", sender.masked)
            raise OptOutCheckUnavailable(
                f"the opt-out check took over {self._check_timeout} s"
            ) from exc
        except Exception as exc:  # fail closed whatever went wrong
            log.error(
                "Opt-out check for %s failed (%s): nothing sent", sender.masked, type(exc).__name__
            )
            raise OptOutCheckUnavailable(str(exc)) from exc

    def _forward(
        self, request: SendRequest, positions: list[int], results: list[SendResult | None]
    ) -> UpstreamError | None:
        try:
            answers = self._upstream.send(request)
        except UpstreamError as exc:
            status = failure_status(exc)
            message = FAILURE_MESSAGE[exc.kind]
            for pos, recipient in zip(positions, request.recipients, strict=True):
                results[pos] = SendResult(recipient.to, status, False, error_message=message)
            log.error("Send from %s: upstream failed: %s", request.sender.masked, exc.kind)
            return exc
        for pos, answer in zip(positions, _match(request.recipients, answers), strict=True):
            results[pos] = answer
        return None


def _parse_all(recipients: Sequence[OutgoingRecipient]) -> list[PhoneNumber | None]:
    numbers: list[PhoneNumber | None] = []
    for r in recipients:
        try:
            numbers.append(parse_e164(r.to))
        except InvalidPhoneNumber:
            numbers.append(None)
    return numbers


def _digits(to: str) -> str:
    return "".join(c for c in to if c.isdigit())


def _match(sent: Sequence[OutgoingRecipient], answers: Sequence[SendResult]) -> list[SendResult]:
    """ACS's results in the order of `sent`. ACS answers in request order, so when the numbers
    line up the answers are taken by position; otherwise the i-th answer for a number goes to
    the i-th time that number was sent. The caller's `to` is kept."""
    if [_digits(a.to) for a in answers] == [_digits(r.to) for r in sent]:
        return [_with_to(r.to, a) for r, a in zip(sent, answers, strict=True)]
    by_number: dict[str, deque[SendResult]] = defaultdict(deque)
    for answer in answers:
        by_number[_digits(answer.to)].append(answer)
    matched: list[SendResult] = []
    for recipient in sent:
        queue = by_number.get(_digits(recipient.to))
        if queue:
            matched.append(_with_to(recipient.to, queue.popleft()))
        else:
            log.error("ACS returned no result for %s", mask(recipient.to))
            matched.append(
                SendResult(recipient.to, 502, False, error_message=MISSING_RESULT_MESSAGE)
            )
    return matched


def _with_to(to: str, answer: SendResult) -> SendResult:
    return SendResult(
        to,
        answer.status,
        answer.successful,
        answer.message_id,
        answer.repeatability_result,
        answer.error_message,
    )


def _log_outcome(request: SendRequest, outcome: SendOutcome) -> None:
    # One line per request with the counts as attributes: Application Insights stores them as
    # custom dimensions, so blocked sends can be summed per sender.
    log.info(
        "send sender=%s recipients=%d blocked=%d invalid=%d forwarded=%d failure=%s",
        request.sender.masked,
        len(request.recipients),
        outcome.blocked,
        outcome.invalid,
        outcome.forwarded,
        outcome.failure.kind if outcome.failure else "none",
        extra={
            "sms_sender": request.sender.masked,
            "sms_blocked": outcome.blocked,
            "sms_invalid": outcome.invalid,
            "sms_forwarded": outcome.forwarded,
        },
    )
