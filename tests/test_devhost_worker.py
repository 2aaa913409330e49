"""The local host runs queue invocations with the Python worker's concurrency: at most
PYTHON_THREADPOOL_THREAD_COUNT at once (default min(32, CPUs + 4)), however many are in flight."""

from __future__ import annotations

import os
import threading
import time
import uuid

import azure.functions as func
import pytest
from azure.storage.queue import QueueClient

from devhost.functions import QueueFunction, function_info
from devhost.queues import QUEUE_API_VERSION, QueueListener, worker_thread_count
from devhost.settings import QueueOptions
from devhost.testing import ROOT, Azurite


@pytest.mark.parametrize(
    ("setting", "expected"),
    [(None, min(32, (os.cpu_count() or 1) + 4)), ("3", 3), ("32", 32)],
)
def test_worker_thread_count(setting: str | None, expected: int) -> None:
    env = {} if setting is None else {"PYTHON_THREADPOOL_THREAD_COUNT": setting}
    assert worker_thread_count(env) == expected


@pytest.mark.parametrize("bad", ["0", "33", "many"])
def test_an_invalid_thread_count_falls_back_to_the_default(bad: str) -> None:
    default = worker_thread_count({})
    assert worker_thread_count({"PYTHON_THREADPOOL_THREAD_COUNT": bad}) == default


def test_a_batch_runs_at_most_the_worker_threads_at_once(azurite: Azurite) -> None:
    lock = threading.Lock()
    running, peak, done = 0, 0, []

    def handler(msg: func.QueueMessage) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.2)
        with lock:
            running -= 1
            done.append(msg.get_body().decode())

    queue_name = f"unit-{uuid.uuid4().hex[:12]}"
    app = func.FunctionApp()
    app.queue_trigger(arg_name="msg", queue_name=queue_name, connection="CONN")(handler)
    fn = QueueFunction(
        **function_info(app.get_functions()[0], str(ROOT)), queue_name=queue_name, connection="CONN"
    )
    options = QueueOptions(batch_size=6, new_batch_threshold=3, message_encoding="none")
    env = {"CONN": azurite.connection_string, "PYTHON_THREADPOOL_THREAD_COUNT": "2"}
    listener = QueueListener(fn, options, env)
    queue = QueueClient.from_connection_string(
        azurite.connection_string, queue_name, api_version=QUEUE_API_VERSION
    )
    try:
        listener.poll_once()  # creates the queue
        for i in range(6):
            queue.send_message(f"m{i}")
        assert listener.poll_once(wait=True) == 6
    finally:
        listener.stop()
    assert peak == 2
    assert sorted(done) == [f"m{i}" for i in range(6)]
