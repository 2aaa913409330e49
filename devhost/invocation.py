"""Invoke an indexed function as the worker does: `Executing` / `Executed` lines in the host's
style, a `func.Context` when the function has a `context` parameter, and the function's
exception re-raised after logging it (the caller answers 500 or retries the message).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from azure.functions import _abc as func_abc
from starlette.concurrency import run_in_threadpool

from devhost.functions import FunctionInfo

log = logging.getLogger("devhost")
HTTP_REASON = "This function was programmatically called via the host APIs."


class _TraceContext(func_abc.TraceContext):
    def __init__(self) -> None:
        self._parent = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-00"

    @property
    def trace_parent(self) -> str:
        return self._parent

    @property
    def trace_state(self) -> str:
        return ""

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _RetryContext(func_abc.RetryContext):
    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> Any:
        return None


_thread_local = threading.local()


class InvocationContext(func_abc.Context):
    """The `context` argument: invocation id, function name and directory."""

    def __init__(self, invocation_id: str, function_name: str, function_directory: str) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._function_directory = function_directory
        self._trace = _TraceContext()
        self._retry = _RetryContext()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def thread_local_storage(self) -> Any:
        return _thread_local

    @property
    def trace_context(self) -> func_abc.TraceContext:
        return self._trace

    @property
    def retry_context(self) -> func_abc.RetryContext:
        return self._retry


@dataclass
class Invocation:
    fn: FunctionInfo
    reason: str
    details: str | None = None
    invocation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = 0.0

    def arguments(self, trigger_value: Any) -> dict[str, Any]:
        kwargs: dict[str, Any] = {self.fn.trigger_arg: trigger_value}
        if self.fn.has_context:
            kwargs["context"] = InvocationContext(
                self.invocation_id, self.fn.name, self.fn.directory
            )
        return kwargs

    def begin(self) -> None:
        self.started = time.monotonic()
        _thread_local.invocation_id = self.invocation_id
        log.info(
            "Executing 'Functions.%s' (Reason='%s', Id=%s)",
            self.fn.name,
            self.reason,
            self.invocation_id,
        )
        if self.details:
            log.info("%s", self.details)

    def end(self, error: BaseException | None) -> None:
        ms = round((time.monotonic() - self.started) * 1000)
        if error is None:
            log.info(
                "Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)",
                self.fn.name,
                self.invocation_id,
                ms,
            )
            return
        log.error(
            "Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms)",
            self.fn.name,
            self.invocation_id,
            ms,
        )
        log.error(
            "Exception while executing function: Functions.%s. Result: Failure",
            self.fn.name,
            exc_info=(type(error), error, error.__traceback__),
        )


def invoke_sync(inv: Invocation, trigger_value: Any) -> Any:
    """Run the function in the current thread (async functions in a private event loop)."""
    inv.begin()
    try:
        kwargs = inv.arguments(trigger_value)
        if inv.fn.is_async:
            result = asyncio.run(inv.fn.user_function(**kwargs))
        else:
            result = inv.fn.user_function(**kwargs)
    except Exception as exc:
        inv.end(exc)
        raise
    inv.end(None)
    return result


async def invoke_async(inv: Invocation, trigger_value: Any) -> Any:
    """Await an async function on the server's loop; run a sync one in the thread pool."""
    if not inv.fn.is_async:
        return await run_in_threadpool(invoke_sync, inv, trigger_value)
    inv.begin()
    try:
        result = await inv.fn.user_function(**inv.arguments(trigger_value))
    except Exception as exc:
        inv.end(exc)
        raise
    inv.end(None)
    return result
