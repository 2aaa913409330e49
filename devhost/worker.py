"""A Python worker process of the local host (FUNCTIONS_WORKER_PROCESS_COUNT > 1).

Started by `devhost.workers.WorkerPool` (multiprocessing, "spawn"): it inherits the host's
environment (app settings and local.settings.json Values already applied) and console, runs
the bootstrap hook named by `DEVHOST_WORKER_BOOTSTRAP` (`module` or `module:function`; the
benchmark counts storage requests with it), indexes the app once, says it is ready and then
runs each request it receives on PYTHON_THREADPOOL_THREAD_COUNT threads, logging the
`Executing` / `Executed` lines itself, as the real worker's logs reach the host's console.

It ignores SIGINT and SIGTERM (Ctrl-C reaches the whole process group): the host stops it
once its invocations are done. It exits as soon as the host goes away (the pipe closes).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path

from devhost.functions import FunctionInfo, index_app
from devhost.invocation import Invocation, invoke_sync
from devhost.logs import configure_logging
from devhost.payloads import HttpCall, Ready, Reply, Request, http_reply
from devhost.worker_settings import worker_thread_count

log = logging.getLogger("devhost")

BOOTSTRAP_SETTING = "DEVHOST_WORKER_BOOTSTRAP"


def run_bootstrap(spec: str) -> None:
    """Import `module` (and call `function()` for `module:function`), before the app."""
    if not spec.strip():
        return
    module_name, _, function = spec.strip().partition(":")
    module = importlib.import_module(module_name)
    if function:
        getattr(module, function)()


def execute(functions: dict[str, FunctionInfo], request: Request) -> Reply:
    """Run one request in this thread; the function's exception becomes the reply's error."""
    fn = functions.get(request.function)
    if fn is None:
        log.error("Functions.%s is not a function of this app", request.function)
        return Reply(request.call_id, error=f"unknown function {request.function!r}")
    invocation = Invocation(fn, request.reason, request.details, request.invocation_id)
    try:
        value = request.call.value()
    except Exception as exc:
        log.exception("Functions.%s: the trigger data cannot be read", fn.name)
        return Reply(request.call_id, error=f"{type(exc).__name__}: {exc}")
    try:
        result = invoke_sync(invocation, value)
        http = http_reply(result) if isinstance(request.call, HttpCall) else None
    except Exception as exc:  # logged by the invocation (or below), answered as a failure
        if isinstance(exc, TypeError) and "not HttpResponse" in str(exc):
            log.error("Functions.%s: %s", fn.name, exc)
        return Reply(request.call_id, error=f"{type(exc).__name__}: {exc}")
    return Reply(request.call_id, http=http)


class Worker:
    def __init__(self, conn: Connection, functions: dict[str, FunctionInfo]) -> None:
        self.conn = conn
        self.functions = functions
        self._send_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(worker_thread_count(), thread_name_prefix="worker")

    def serve(self) -> None:
        """Until the host says stop (None) or goes away."""
        while True:
            try:
                request = self.conn.recv()
            except (EOFError, OSError):
                return  # the host is gone: nobody is waiting for the results
            if request is None:
                self._pool.shutdown(wait=True)
                return
            self._pool.submit(self._run, request)

    def _run(self, request: Request) -> None:
        reply = execute(self.functions, request)
        with self._send_lock, contextlib.suppress(OSError, ValueError):
            self.conn.send(reply)


def _ignore_stop_signals() -> None:
    import signal

    for name in ("SIGINT", "SIGTERM"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)


def _exit(code: int) -> None:
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def worker_main(
    conn: Connection, script_root: str, app_module: str, route_prefix: str, verbose: bool
) -> None:
    """The worker process's entry point (picklable: a module-level function)."""
    _ignore_stop_signals()
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    configure_logging(verbose)
    try:
        run_bootstrap(os.environ.get(BOOTSTRAP_SETTING, ""))
        app = index_app(Path(script_root), app_module, route_prefix)
    except Exception as exc:
        with contextlib.suppress(OSError, ValueError):
            conn.send(Ready(os.getpid(), f"{type(exc).__name__}: {exc}"))
        _exit(1)
    conn.send(Ready(os.getpid()))
    Worker(conn, {fn.name: fn for fn in app.all}).serve()
    _exit(0)
