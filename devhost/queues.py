"""Queue trigger listeners with the host's `extensions.queues` semantics.

Per queue-triggered function one polling thread receives up to `batchSize` messages, hands them
to the worker's thread pool (so a batch runs concurrently), and fetches the next batch once the
number of messages in flight drops to `newBatchThreshold`. As in the Python worker, at most
`PYTHON_THREADPOOL_THREAD_COUNT` invocations run at once (default: min(32, CPUs + 4)); the
other messages in flight wait for a thread. An empty queue is polled with exponential
back-off from 100 ms up to `maxPollingInterval`. Success deletes the message. Failure makes it
visible again after `visibilityTimeout`; a message that fails with its dequeue count at
`maxDequeueCount` (or arrives with a higher count) is copied, text unchanged, to
`<queue>-poison` and deleted. With `messageEncoding: base64` the message text is base64-decoded
before the function sees it; with `none` the function gets the text's UTF-8 bytes.
With worker processes (FUNCTIONS_WORKER_PROCESS_COUNT > 1) the invocations run there; up to
batchSize + newBatchThreshold messages are in flight, each worker running its own share.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import azure.functions.queue as func_queue
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueClient, QueueMessage, QueueServiceClient

from devhost.functions import QueueFunction
from devhost.invocation import Invocation, invoke_sync
from devhost.settings import QueueOptions
from devhost.worker_settings import worker_thread_count
from shared.platform import connections
from shared.platform.http_transport import pooled_transport
from shared.platform.settings import SettingsError

log = logging.getLogger("devhost")

MIN_POLLING_INTERVAL = 0.1
# azure-storage-queue 12.18 speaks API version 2026-10-06 by default, newer than the project's
# Azurite (3.35 serves up to 2025-11-05) accepts without --skipApiVersionCheck. Everything the
# listener does exists in that version, which Azure Storage serves too.
QUEUE_API_VERSION = os.environ.get("DEVHOST_QUEUE_API_VERSION") or connections.QUEUE_API_VERSION
# Messages are leased for this long while a function runs (the host renews its lease; 10 min
# covers any local run without that machinery).
LEASE_SECONDS = 600


class ConnectionSettingError(ValueError):
    pass


def queue_service_client(
    connection: str, environ: Mapping[str, str] | None = None, threads: int | None = None
) -> QueueServiceClient:
    """The storage account named by a binding's `connection` setting, resolved like the host
    (shared.platform.connections: the app and the local host use one resolver)."""
    # Fail fast when storage is down (the listener keeps polling anyway); the SDK's default
    # back-off (15 s, then 45 s) would make start-up errors and shutdown slow.
    kwargs: dict[str, Any] = {
        "retry_total": 1,
        "initial_backoff": 0.5,
        "increment_base": 2,
        "api_version": QUEUE_API_VERSION,
        # the polling thread and every worker thread share the client: a connection each
        "transport": pooled_transport(
            (threads or worker_thread_count(environ)) + 2, connection_timeout=5, read_timeout=30
        ),
    }
    try:
        return connections.queue_service_client(environ, connection, **kwargs)
    except SettingsError as exc:
        raise ConnectionSettingError(f"Storage connection '{connection}': {exc}") from exc


def decode_message_text(text: str, encoding: str) -> bytes:
    if encoding == "base64":
        compact = "".join(text.split())
        try:
            return base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(
                "The message is not valid base64 (host.json messageEncoding is 'base64')"
            ) from exc
    return text.encode("utf-8")


def _iso(value: Any) -> str:
    return value.isoformat() if value is not None else "?"


class QueueListener:
    """Polls one queue for one function until `stop()`.

    `invoker` runs an invocation and raises if it failed: in this process by default; with
    worker processes, `WorkerPool.invoke`, and then `threads` is the most messages in flight
    (batchSize + newBatchThreshold), each worker's own thread pool capping what runs at once.
    """

    def __init__(
        self,
        fn: QueueFunction,
        options: QueueOptions,
        environ: Mapping[str, str] | None = None,
        *,
        invoker: Callable[[Invocation, Any], Any] = invoke_sync,
        threads: int | None = None,
    ) -> None:
        self.fn = fn
        self.options = options
        self._invoke = invoker
        threads = threads or worker_thread_count(environ)
        service = queue_service_client(fn.connection, environ, threads)
        self.queue: QueueClient = service.get_queue_client(fn.queue_name)
        self.poison_name = f"{fn.queue_name}-poison"
        self.poison: QueueClient = service.get_queue_client(self.poison_name)
        self._stop = threading.Event()
        self._in_flight = 0
        self._cond = threading.Condition()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"queue-{fn.name}")
        self._thread: threading.Thread | None = None
        self._queue_ready = False
        self._poison_ready = False
        self._last_error = 0.0

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"poll-{self.fn.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop polling and wait (bounded) for the messages in flight to finish."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(min(timeout, 10.0))
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._in_flight and time.monotonic() < deadline:
                self._cond.wait(0.1)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- polling --------------------------------------------------------------------------

    def _ensure_queue(self, client: QueueClient) -> None:
        with contextlib.suppress(ResourceExistsError):
            client.create_queue()

    def _run(self) -> None:
        delay = MIN_POLLING_INTERVAL
        while not self._stop.is_set():
            with self._cond:
                while self._in_flight > self.options.new_batch_threshold:
                    if self._stop.is_set():
                        return
                    self._cond.wait(0.5)
            try:
                received = self.poll_once()
            except Exception as exc:  # storage down or misconfigured: keep trying
                received = 0
                now = time.monotonic()
                if now - self._last_error > 30:
                    self._last_error = now
                    log.error(
                        "Queue listener for 'Functions.%s' (queue '%s') cannot reach storage: "
                        "%s: %s",
                        self.fn.name,
                        self.fn.queue_name,
                        type(exc).__name__,
                        str(exc).splitlines()[0] if str(exc) else "",
                    )
            if received:
                delay = MIN_POLLING_INTERVAL
                continue
            self._stop.wait(delay)
            delay = min(delay * 2, self.options.max_polling_interval)

    def poll_once(self, wait: bool = False) -> int:
        """Receive one batch and dispatch it to the pool; `wait=True` waits for it to finish.

        Returns the number of messages received.
        """
        if not self._queue_ready:
            self._ensure_queue(self.queue)
            self._queue_ready = True
        messages = list(
            self.queue.receive_messages(
                messages_per_page=self.options.batch_size,
                max_messages=self.options.batch_size,
                visibility_timeout=LEASE_SECONDS,
            )
        )
        futures = []
        for message in messages:
            with self._cond:
                self._in_flight += 1
            futures.append(self._pool.submit(self._process_and_release, message))
        if wait:
            for f in futures:
                f.result()
        return len(messages)

    def _process_and_release(self, message: QueueMessage) -> None:
        try:
            self.process(message)
        except Exception:
            log.exception("Unexpected error handling a message from queue '%s'", self.queue_name)
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    @property
    def queue_name(self) -> str:
        return self.fn.queue_name

    # -- one message ----------------------------------------------------------------------

    def process(self, message: QueueMessage) -> None:
        max_count = self.options.max_dequeue_count
        dequeue_count = int(message.dequeue_count or 0)
        if dequeue_count > max_count:
            self._move_to_poison(message)
            return
        failed = False
        try:
            body = decode_message_text(message.content or "", self.options.message_encoding)
        except ValueError as exc:
            log.error(
                "Message %s on queue '%s' for 'Functions.%s': %s",
                message.id,
                self.queue_name,
                self.fn.name,
                exc,
            )
            failed = True
        else:
            trigger_value = func_queue.QueueMessage(
                id=message.id,
                body=body,
                dequeue_count=dequeue_count,
                expiration_time=message.expires_on,
                insertion_time=message.inserted_on,
                time_next_visible=message.next_visible_on,
                pop_receipt=message.pop_receipt,
            )
            invocation = Invocation(
                self.fn,
                reason=f"New queue message detected on '{self.queue_name}'.",
                details=(
                    f"Trigger Details: MessageId: {message.id}, DequeueCount: {dequeue_count}, "
                    f"InsertedOn: {_iso(message.inserted_on)}"
                ),
            )
            try:
                self._invoke(invocation, trigger_value)
            except Exception:
                failed = True  # already logged by the invocation
        if not failed:
            self._delete(message)
        elif dequeue_count >= max_count:
            self._move_to_poison(message)
        else:
            self._release(message)

    def _delete(self, message: QueueMessage) -> None:
        try:
            self.queue.delete_message(message.id, message.pop_receipt)
        except ResourceNotFoundError:
            log.warning("Message %s was already deleted or its lease expired", message.id)

    def _release(self, message: QueueMessage) -> None:
        try:
            self.queue.update_message(
                message.id,
                pop_receipt=message.pop_receipt,
                visibility_timeout=round(self.options.visibility_timeout),
            )
        except AzureError as exc:
            log.warning("Could not release message %s: %s", message.id, type(exc).__name__)

    def _move_to_poison(self, message: QueueMessage) -> None:
        log.warning(
            "Message has reached MaxDequeueCount of %d. Moving message to queue '%s'.",
            self.options.max_dequeue_count,
            self.poison_name,
        )
        if not self._poison_ready:
            self._ensure_queue(self.poison)
            self._poison_ready = True
        self.poison.send_message(message.content)
        self._delete(message)
