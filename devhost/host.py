"""The local Functions host: settings, indexing, the HTTP server and the queue listeners.

    host = LocalHost(script_root, "function_app", port=0, env_overrides={...})
    host.start()          # background thread; returns once the server listens
    ... host.base_url ...
    host.stop()

`serve()` runs the same in the foreground until SIGINT/SIGTERM (what `python -m devhost serve`
does). In-process use changes `os.environ` (settings and overrides) and imports the app into
this interpreter; tests that need isolation use `devhost.testing.run_host` (a subprocess).

With FUNCTIONS_WORKER_PROCESS_COUNT > 1 the invocations run in worker processes
(`devhost.workers.WorkerPool`), as the Functions host sends them to its language workers; the
app is indexed here too, for its functions' triggers.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import uvicorn

from devhost.functions import DEFAULT_APP_MODULE, IndexedApp, index_app
from devhost.http import METHODS, create_app
from devhost.queues import QueueListener
from devhost.settings import (
    DEFAULT_PORT,
    HostConfig,
    apply_settings,
    load_host_config,
    load_local_settings,
)
from devhost.timers import TIMER_TRIGGER, TimerListener, timer_functions
from devhost.worker_settings import (
    PROCESS_COUNT_SETTING,
    worker_process_count,
    worker_thread_count,
)
from devhost.workers import WorkerPool

log = logging.getLogger("devhost")

REPO_ROOT = Path(__file__).resolve().parent.parent


class LocalHost:
    def __init__(
        self,
        script_root: str | os.PathLike[str] | None = None,
        app_module: str = DEFAULT_APP_MODULE,
        port: int | None = None,
        env_overrides: Mapping[str, str] | None = None,
        *,
        bind: str = "127.0.0.1",
        use_local_settings: bool = True,
        start_queues: bool = True,
    ) -> None:
        self.script_root = Path(script_root or REPO_ROOT).resolve()
        self.app_module = app_module
        self.requested_port = port
        self.env_overrides = dict(env_overrides or {})
        self.bind = bind
        self.use_local_settings = use_local_settings
        self.start_queues = start_queues
        self.config: HostConfig | None = None
        self.app: IndexedApp | None = None
        self.listeners: list[QueueListener | TimerListener] = []
        self.workers: WorkerPool | None = None
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- setup ----------------------------------------------------------------------------

    def prepare(self) -> None:
        """Apply settings, read host.json, index the app, bind the port. Idempotent."""
        if self.app is not None:
            return
        os.environ.update(self.env_overrides)
        port = self.requested_port
        if self.use_local_settings:
            local = load_local_settings(self.script_root)
            apply_settings(local.values)
            if port is None:
                port = local.local_http_port
        self.config = load_host_config(self.script_root)
        self.app = index_app(self.script_root, self.app_module, self.config.route_prefix)
        for fn in self.app.all:
            for binding in fn.unsupported_bindings:
                log.warning(
                    "Functions.%s: binding %s is not supported by devhost; the function will "
                    "not receive it",
                    fn.name,
                    binding,
                )
        self.workers = self._worker_pool(self.config)
        if self.start_queues:
            self.listeners = self._listeners(self.app, self.config)
        self._socket = self._bind(self.bind, DEFAULT_PORT if port is None else port)
        self.port = int(self._socket.getsockname()[1])
        self._server = self._http_server(self.app)
        self._start_workers()

    def _http_server(self, app: IndexedApp) -> uvicorn.Server:
        config = uvicorn.Config(
            create_app(app.http, f"{self.script_root}:{self.app_module}", self.workers),
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            http="h11",
            lifespan="off",
            timeout_graceful_shutdown=10,
        )
        return uvicorn.Server(config)

    def _worker_pool(self, config: HostConfig) -> WorkerPool | None:
        """FUNCTIONS_WORKER_PROCESS_COUNT > 1: worker processes (started at the end of prepare)."""
        count = worker_process_count()
        if count == 1:
            return None
        verbose = logging.getLogger().level <= logging.DEBUG
        return WorkerPool(
            self.script_root, self.app_module, config.route_prefix, count, verbose=verbose
        )

    def _listeners(
        self, app: IndexedApp, config: HostConfig
    ) -> list[QueueListener | TimerListener]:
        """One listener per queue and timer function; with worker processes, they dispatch
        there, and a queue function may have batchSize + newBatchThreshold messages in flight."""
        if self.workers is None:
            listeners: list[QueueListener | TimerListener]
            listeners = [QueueListener(fn, config.queues) for fn in app.queues]
            return listeners + [TimerListener(t) for t in timer_functions(app)]
        invoke, queues = self.workers.invoke, config.queues
        in_flight = queues.batch_size + queues.new_batch_threshold
        listeners = [
            QueueListener(fn, queues, invoker=invoke, threads=in_flight) for fn in app.queues
        ]
        return listeners + [TimerListener(t, invoker=invoke) for t in timer_functions(app)]

    def _start_workers(self) -> None:
        if self.workers is None:
            return
        log.info(
            "Starting %d worker processes (%s), each running up to %d invocations at once.",
            self.workers.count,
            PROCESS_COUNT_SETTING,
            worker_thread_count(),
        )
        try:
            self.workers.start()
        except BaseException:
            if self._socket is not None:
                self._socket.close()
            raise

    @staticmethod
    def _bind(address: str, port: int) -> socket.socket:
        # The protocol must be given: asyncio sets TCP_NODELAY only on accepted sockets whose
        # `proto` is IPPROTO_TCP (0 would leave Nagle on, and every response on a kept-alive
        # connection would wait ~40 ms for the client's delayed ACK). Kestrel sets no-delay too.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError as exc:
            sock.close()
            raise OSError(f"Cannot listen on {address}:{port}: {exc.strerror}") from exc
        sock.listen(2048)
        sock.set_inheritable(True)
        return sock

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.bind in ("0.0.0.0", "") else self.bind
        return f"http://{host}:{self.port}"

    def banner(self) -> str:
        if self.app is None:
            return ""
        lines = ["", "Functions:", ""]
        for fn in self.app.http:
            methods = ",".join(fn.methods or [m for m in METHODS if m not in ("HEAD", "TRACE")])
            path = fn.template.template if fn.template else fn.route
            lines.append(f"\t{fn.name}: [{methods}] {self.base_url}/{path}")
            lines.append("")
        for fn in self.app.queues:
            lines.append(f"\t{fn.name}: queueTrigger")
            lines.append("")
        for other in self.app.other:
            if other.trigger_type == TIMER_TRIGGER:
                lines.append(f"\t{other.name}: timerTrigger")
                lines.append("")
                continue
            lines.append(f"\t{other.name}: {other.trigger_type} (not run by devhost)")
            lines.append("")
        return "\n".join(lines)

    # -- queue listeners ------------------------------------------------------------------

    def _start_listeners(self) -> None:
        for listener in self.listeners:
            listener.start()

    def _stop_listeners(self) -> None:
        stoppers = [threading.Thread(target=listener.stop) for listener in self.listeners]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join()

    def _stop_workers(self) -> None:
        if self.workers is not None:
            self.workers.stop()

    # -- foreground -----------------------------------------------------------------------

    def serve(self, intro: str = "") -> None:
        """Run until SIGINT/SIGTERM (uvicorn handles them and shuts down gracefully)."""
        self.prepare()
        assert self._server is not None and self._socket is not None
        print(self.banner(), flush=True)
        if intro:
            print(intro, flush=True)
        self._start_listeners()
        log.info("Host started. Now listening on: %s", self.base_url)
        try:
            self._server.run(sockets=[self._socket])
        finally:
            log.info("Stopping host...")
            self._stop_listeners()
            self._stop_workers()
            self._socket.close()
            log.info("Host stopped.")

    # -- background -----------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> LocalHost:
        self.prepare()
        assert self._server is not None and self._socket is not None
        server, sock = self._server, self._socket
        self._thread = threading.Thread(
            target=lambda: server.run(sockets=[sock]), name="devhost-http", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the HTTP server stopped during start-up")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the host did not start within {timeout}s")
            time.sleep(0.02)
        self._start_listeners()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(15)
            self._thread = None
        self._stop_listeners()
        self._stop_workers()
        if self._socket is not None:
            self._socket.close()

    def __enter__(self) -> LocalHost:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
