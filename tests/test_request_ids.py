"""shared.platform.request_ids: the ids every response carries, and the log lines that carry
them."""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.platform.request_ids import (
    CLIENT_REQUEST_ID_HEADER,
    MAX_CLIENT_REQUEST_ID,
    REQUEST_ID_HEADER,
    RequestIds,
    current,
)

log = logging.getLogger("tests.request_ids")


def test_a_new_request_id_per_request() -> None:
    first, second = RequestIds.from_headers({}), RequestIds.from_headers({})
    assert first.request_id != second.request_id
    assert uuid.UUID(first.request_id).version == 4
    assert first.response_headers() == {REQUEST_ID_HEADER: first.request_id}


@pytest.mark.parametrize("name", ["x-ms-client-request-id", "X-MS-Client-Request-Id"])
def test_the_client_request_id_is_echoed_whatever_the_header_case(name: str) -> None:
    ids = RequestIds.from_headers({name: "0f8fad5b-d9cb-469f-a165-70867728950e"}, lambda: "r1")
    assert ids.response_headers() == {
        REQUEST_ID_HEADER: "r1",
        CLIENT_REQUEST_ID_HEADER: "0f8fad5b-d9cb-469f-a165-70867728950e",
    }


@pytest.mark.parametrize(
    "value", ["", "x" * (MAX_CLIENT_REQUEST_ID + 1), "a\nb", "a\rb", "caf\u00e9", "tab\there"]
)
def test_an_unusable_client_request_id_is_not_echoed(value: str) -> None:
    ids = RequestIds.from_headers({CLIENT_REQUEST_ID_HEADER: value})
    assert ids.client_request_id is None
    assert CLIENT_REQUEST_ID_HEADER not in ids.response_headers()


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1))
def test_any_printable_ascii_id_is_echoed_unchanged(value: str) -> None:
    assert RequestIds.from_headers({CLIENT_REQUEST_ID_HEADER: value}).client_request_id == value


def test_log_lines_inside_the_request_carry_both_ids(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    ids = RequestIds("r-123", "client-9")
    log.info("before")
    with ids.bound():
        assert current() == ids
        log.info("sender %s: %d%% done", "+1800***0100", 50)
        logging.getLogger("azure.core").warning("an SDK line")
    log.info("after")
    assert current() is None
    assert [r.getMessage() for r in caplog.records] == [
        "before",
        "sender +1800***0100: 50% done [request_id=r-123 client_request_id=client-9]",
        "an SDK line [request_id=r-123 client_request_id=client-9]",
        "after",
    ]
    assert caplog.records[1].request_id == "r-123"  # also a field, for structured handlers


def test_a_message_that_cannot_be_formatted_is_left_to_the_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    with RequestIds("r-1").bound():
        record = log.makeRecord(log.name, logging.INFO, __file__, 1, "%d", ("x",), None)
    assert record.msg == "%d" and record.request_id == "r-1"


def test_concurrent_requests_keep_their_own_ids(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    barrier = threading.Barrier(8)

    def handle(n: int) -> None:
        with RequestIds(f"r{n}").bound():
            barrier.wait()
            log.info("request %d", n)

    threads = [threading.Thread(target=handle, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = sorted(r.getMessage() for r in caplog.records)
    assert lines == sorted(f"request {n} [request_id=r{n}]" for n in range(8))


def test_tagging_survives_a_replaced_record_factory(caplog: pytest.LogCaptureFixture) -> None:
    """The Functions worker may install its own factory after ours: requests still get tagged,
    once."""
    caplog.set_level(logging.INFO)
    original = logging.getLogRecordFactory()
    with RequestIds("r-0").bound():
        log.info("installed")

    def other(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return original(*args, **kwargs)

    logging.setLogRecordFactory(other)
    try:
        with RequestIds("r-2").bound():
            log.info("after another factory")
    finally:
        logging.setLogRecordFactory(original)
    assert [r.getMessage() for r in caplog.records] == [
        "installed [request_id=r-0]",
        "after another factory [request_id=r-2]",
    ]
