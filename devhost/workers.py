"""Python worker processes for the local host (FUNCTIONS_WORKER_PROCESS_COUNT > 1).

As the Functions host does, the host process keeps HTTP, the trigger listeners (queue polling,
deletes, poison, timers) and sends each invocation to one of N worker processes
(`devhost/worker.py`), in turn (round-robin, as the host does); each worker runs up to
PYTHON_THREADPOOL_THREAD_COUNT at once. A worker that dies fails its invocations in progress
(their messages are retried, HTTP callers get 500) and is replaced by a new one.

    pool = WorkerPool(script_root, "function_app", route_prefix, count=2)
    pool.start()                         # spawns them, waits until each has indexed the app
    pool.invoke(invocation, trigger_value)   # blocks; raises InvocationFailed / WorkerExited
    await pool.invoke_async(invocation, http_request)   # -> HttpReply
    pool.stop()
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from devhost.functions import IndexingError
from devhost.invocation import Invocation
from devhost.payloads import HttpReply, Ready, Reply, Request, to_call
from devhost.worker import worker_main

log = logging.getLogger("devhost")

START_TIMEOUT = 60.0
WAIT_FOR_WORKER = 60.0  # an invocation waits this long for a worker while one is replaced


class InvocationFailed(RuntimeError):
    """The function raised (the worker logged it); the message is the exception's text."""


class WorkerExited(RuntimeError):
    """The worker process running the invocation exited (or none is running)."""


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    pending: dict[int, tuple[Request, Future[Reply]]] = field(default_factory=dict)
    send_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def pid(self) -> int:
        return int(self.process.pid or 0)


class WorkerPool:
    def __init__(
        self,
        script_root: Path,
        app_module: str,
        route_prefix: str,
        count: int,
        *,
        verbose: bool = False,
    ) -> None:
        self.args = (str(script_root), app_module, route_prefix, verbose)
        self.count = count
        self._ctx = multiprocessing.get_context("spawn")
        self._cond = threading.Condition()
        self._workers: list[_Worker] = []
        self._spawned: list[BaseProcess] = []
        self._ids = itertools.count(1)
        self._turn = itertools.count()
        self._stopping = False

    @property
    def pids(self) -> list[int]:
        with self._cond:
            return [w.pid for w in self._workers]

    # -- processes ------------------------------------------------------------------------

    def start(self) -> None:
        """Spawn the workers (they index the app in parallel); IndexingError if one cannot."""
        spawned = [self._spawn() for _ in range(self.count)]
        try:
            for worker in spawned:
                self._await_ready(worker)
        except BaseException:
            self.stop(timeout=1.0)
            raise

    def _spawn(self) -> _Worker:
        ours, theirs = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(
            target=worker_main, args=(theirs, *self.args), name="devhost-worker", daemon=True
        )
        process.start()
        theirs.close()  # only the worker holds its end: its exit closes the pipe
        with self._cond:
            self._spawned.append(process)
        return _Worker(process, ours)

    def _await_ready(self, worker: _Worker, timeout: float = START_TIMEOUT) -> None:
        try:
            ready = worker.conn.recv() if worker.conn.poll(timeout) else None
        except (EOFError, OSError):
            ready = Ready(worker.pid, f"exited with code {worker.process.exitcode}")
        if not isinstance(ready, Ready) or ready.error:
            worker.process.kill()
            reason = ready.error if isinstance(ready, Ready) else f"not ready in {timeout:.0f}s"
            raise IndexingError(f"worker process {worker.pid}: {reason}")
        with self._cond:
            if self._stopping:
                worker.process.kill()
                return
            self._workers.append(worker)
            self._cond.notify_all()
        log.info("Worker process started and initialized (pid %d).", worker.pid)
        threading.Thread(
            target=self._read, args=(worker,), name="worker-reader", daemon=True
        ).start()

    def _read(self, worker: _Worker) -> None:
        while True:
            try:
                reply: Reply = worker.conn.recv()
            except (EOFError, OSError):
                self._lost(worker)
                return
            with self._cond:
                entry = worker.pending.pop(reply.call_id, None)
            if entry is not None:
                entry[1].set_result(reply)

    def _lost(self, worker: _Worker) -> None:
        """The worker exited: fail what it was running; start another unless stopping."""
        with self._cond:
            if worker in self._workers:
                self._workers.remove(worker)
            pending, worker.pending = list(worker.pending.values()), {}
            stopping = self._stopping
        worker.process.join(2)
        if not stopping:
            log.error(
                "Worker process %d exited (code %s) with %d invocation(s) in progress. "
                "Starting a new worker process.",
                worker.pid,
                worker.process.exitcode,
                len(pending),
            )
        for request, future in pending:
            log.error(
                "Executed 'Functions.%s' (Failed, Id=%s): its worker process %d exited",
                request.function,
                request.invocation_id,
                worker.pid,
            )
            future.set_exception(WorkerExited(f"worker process {worker.pid} exited"))
        if not stopping:
            threading.Thread(target=self._replace, name="worker-restart", daemon=True).start()

    def _replace(self) -> None:
        delay = 1.0
        while not self._stopping:
            try:
                self._await_ready(self._spawn())
                return
            except Exception as exc:
                log.error("Could not start a worker process: %s; retrying in %.0f s", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)

    def stop(self, timeout: float = 10.0) -> None:
        """Tell each worker to stop (after its invocations), then kill what is left."""
        with self._cond:
            self._stopping = True
            workers, spawned = list(self._workers), list(self._spawned)
            self._cond.notify_all()
        for worker in workers:
            try:
                with worker.send_lock:
                    worker.conn.send(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + timeout
        for process in spawned:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(2)

    # -- invocations ----------------------------------------------------------------------

    def _choose(self, wait: float) -> _Worker:
        """The next worker in turn, as the host's RpcFunctionInvocationDispatcherLoadBalancer
        picks (a counter modulo the workers); waits `wait` s for one while none runs."""
        if not self._cond.wait_for(lambda: self._workers or self._stopping, wait):
            raise WorkerExited("no worker process is running")
        if not self._workers:
            raise WorkerExited("the host is stopping")
        return self._workers[next(self._turn) % len(self._workers)]

    def submit(self, inv: Invocation, value: Any, wait: float = WAIT_FOR_WORKER) -> Future[Reply]:
        request = Request(
            next(self._ids), inv.fn.name, inv.invocation_id, inv.reason, inv.details, to_call(value)
        )
        future: Future[Reply] = Future()
        with self._cond:
            worker = self._choose(wait)
            worker.pending[request.call_id] = (request, future)
        try:
            with worker.send_lock:
                worker.conn.send(request)
        except (OSError, ValueError) as exc:  # it just exited; the reader fails the rest
            with self._cond:
                entry = worker.pending.pop(request.call_id, None)
            if entry is not None:
                future.set_exception(WorkerExited(f"worker process {worker.pid}: {exc}"))
        return future

    @staticmethod
    def _outcome(reply: Reply) -> HttpReply | None:
        if reply.error is not None:
            raise InvocationFailed(reply.error)
        return reply.http

    def invoke(self, inv: Invocation, value: Any) -> HttpReply | None:
        """Run the invocation in a worker and wait; raises if it failed there."""
        return self._outcome(self.submit(inv, value).result())

    async def invoke_async(self, inv: Invocation, value: Any) -> HttpReply:
        """The same for the HTTP server's loop (never blocks it waiting for a worker)."""
        deadline = time.monotonic() + WAIT_FOR_WORKER
        while True:
            try:
                future = self.submit(inv, value, wait=0.0)
                break
            except WorkerExited:
                if self._stopping or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)
        reply = self._outcome(await asyncio.wrap_future(future))
        if reply is None:
            raise InvocationFailed("the worker sent no HTTP response")
        return reply
