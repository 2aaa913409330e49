"""Request ids, as Azure services send them, so that a support case can be traced.

Every response carries `x-ms-request-id` (a new GUID per request), and echoes
`x-ms-client-request-id` when the client sent one (the official ACS clients send a GUID on
every request). While a request is handled, every log line (the app's and the Azure SDKs') ends
with both ids, so the line a customer quotes leads to the request's log lines.

    ids = RequestIds.from_headers(request.headers)
    with ids.bound():
        ...  # log lines end with "[request_id=... client_request_id=...]"
    response.headers.update(ids.response_headers())
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

REQUEST_ID_HEADER = "x-ms-request-id"
CLIENT_REQUEST_ID_HEADER = "x-ms-client-request-id"
MAX_CLIENT_REQUEST_ID = 1024  # what Azure Storage accepts; longer ones are not echoed

_current: ContextVar[RequestIds | None] = ContextVar("request_ids", default=None)
_install_lock = threading.Lock()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value


def _acceptable(value: str | None) -> bool:
    """Printable ASCII, 1 to 1024 characters: safe to echo and to write into a log line."""
    return (
        value is not None
        and 0 < len(value) <= MAX_CLIENT_REQUEST_ID
        and all(" " <= c <= "~" for c in value)
    )


@dataclass(frozen=True)
class RequestIds:
    request_id: str
    client_request_id: str | None = None

    @classmethod
    def from_headers(
        cls, headers: Mapping[str, str], new_id: Callable[[], str] = lambda: str(uuid.uuid4())
    ) -> RequestIds:
        """A new request id, and the client's id when it sent a usable one."""
        client = _header(headers, CLIENT_REQUEST_ID_HEADER)
        return cls(new_id(), client if _acceptable(client) else None)

    def response_headers(self) -> dict[str, str]:
        headers = {REQUEST_ID_HEADER: self.request_id}
        if self.client_request_id is not None:
            headers[CLIENT_REQUEST_ID_HEADER] = self.client_request_id
        return headers

    def log_suffix(self) -> str:
        suffix = f"request_id={self.request_id}"
        if self.client_request_id is not None:
            suffix += f" client_request_id={self.client_request_id}"
        return f"[{suffix}]"

    @contextmanager
    def bound(self) -> Iterator[RequestIds]:
        """Tag the log lines of this context (this thread or task) with the ids."""
        install_log_tagging()
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)


def current() -> RequestIds | None:
    """The ids of the request being handled in this context, if any."""
    return _current.get()


def install_log_tagging() -> None:
    """Make every log record created inside `RequestIds.bound()` end with the ids.

    A record factory (not a handler filter) so that it works whatever handlers the Functions
    worker or the local host installed. Installed again if something replaced it since; a
    record is tagged once however many times the factory is wrapped."""
    with _install_lock:
        previous = logging.getLogRecordFactory()
        if getattr(previous, "tags_request_ids", False):
            return

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            ids = _current.get()
            if ids is not None and not hasattr(record, "request_id"):
                _tag(record, ids)
            return record

        factory.tags_request_ids = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(factory)


def _tag(record: logging.LogRecord, ids: RequestIds) -> None:
    record.request_id = ids.request_id
    record.client_request_id = ids.client_request_id
    try:
        message = record.getMessage()
    except Exception:  # a bad format string is the handler's to report, as usual
        return
    record.msg = f"{message} {ids.log_suffix()}"
    record.args = None
