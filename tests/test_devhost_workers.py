"""The local host with FUNCTIONS_WORKER_PROCESS_COUNT=2: one host process (HTTP, queue and timer
listeners) and two Python worker processes running the invocations, as the Functions host
does. The toy app (tests/devhost_workers_app) records the process each invocation ran in."""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import shutil
import signal
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
import azure.functions.queue as func_queue
import pytest
import requests
from azure.functions.timer import TimerRequest
from azure.storage.queue import QueueClient

from devhost.http import to_response
from devhost.payloads import HttpCall, QueueCall, TimerCall, http_reply, to_call
from devhost.queues import QUEUE_API_VERSION
from devhost.testing import Azurite, HostProcess, start_host
from devhost.worker_settings import worker_process_count
from tests.test_devhost import wait_for

TOY_APP = Path(__file__).resolve().parent / "devhost_workers_app"
STARTED = re.compile(r"Worker process started and initialized \(pid (\d+)\)")

# ---------------------------------------------------------------------------------------------
# Units: the setting, the payloads


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, 1), ("", 1), ("1", 1), ("2", 2), (" 3 ", 3), ("10", 10), ("11", 10), ("64", 10)],
)
def test_worker_process_count(raw: str | None, expected: int) -> None:
    env = {} if raw is None else {"FUNCTIONS_WORKER_PROCESS_COUNT": raw}
    assert worker_process_count(env) == expected


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_an_invalid_process_count_is_one_with_a_warning(
    bad: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="devhost"):
        assert worker_process_count({"FUNCTIONS_WORKER_PROCESS_COUNT": bad}) == 1
    assert "FUNCTIONS_WORKER_PROCESS_COUNT must be a positive integer" in caplog.text


def test_trigger_values_cross_to_a_worker_intact() -> None:
    req = func.HttpRequest(
        method="POST",
        url="http://h:1/a:b?x=1",
        headers={"X-Test": "t"},
        params={"x": "1"},
        route_params={"id": "7"},
        body=b"\x00body",
    )
    back = pickle.loads(pickle.dumps(to_call(req)))
    assert isinstance(back, HttpCall)
    value = back.value()
    assert (value.method, value.url, value.get_body()) == (
        "POST",
        "http://h:1/a:b?x=1",
        b"\x00body",
    )
    assert (value.headers["x-test"], value.params["x"], value.route_params["id"]) == ("t", "1", "7")

    when = datetime(2026, 11, 26, tzinfo=UTC)
    msg = func_queue.QueueMessage(
        id="m1", body=b"hi", dequeue_count=3, expiration_time=when, insertion_time=when,
        time_next_visible=when, pop_receipt="r",
    )  # fmt: skip
    queued = pickle.loads(pickle.dumps(to_call(msg)))
    assert isinstance(queued, QueueCall)
    got = queued.value()
    assert (got.id, got.get_body(), got.dequeue_count, got.pop_receipt) == ("m1", b"hi", 3, "r")
    assert got.insertion_time == when and got.expiration_time == when

    timer = TimerRequest(past_due=True, schedule_status={"Last": "x"})
    timed = pickle.loads(pickle.dumps(to_call(timer)))
    assert isinstance(timed, TimerCall)
    assert timed.value().past_due and timed.value().schedule_status == {"Last": "x"}


@pytest.mark.parametrize(
    "result",
    [
        None,
        "plain",
        func.HttpResponse(b"{}", status_code=201, mimetype="application/json", headers={"A": "1"}),
    ],
)
def test_a_worker_reply_is_the_response_the_host_would_give(result: Any) -> None:
    reply = pickle.loads(pickle.dumps(http_reply(result)))
    direct = to_response(result)
    assert (reply.status, reply.headers, reply.body) == (
        direct.status_code,
        direct.raw_headers,
        bytes(direct.body),
    )


# ---------------------------------------------------------------------------------------------
# A host with two worker processes


@dataclass
class WorkersHost:
    process: HostProcess
    out_dir: Path
    work_queue: str
    fail_queue: str
    storage: str

    @property
    def url(self) -> str:
        return self.process.base_url

    def queue(self, name: str) -> QueueClient:
        return QueueClient.from_connection_string(self.storage, name, api_version=QUEUE_API_VERSION)

    def records(self, kind: str) -> list[dict[str, Any]]:
        found = []
        for path in self.out_dir.glob(f"{kind}-*.json"):
            try:
                found.append(json.loads(path.read_text()))
            except ValueError:  # being written
                continue
        return sorted(found, key=lambda r: r["at"])

    def started_pids(self) -> list[int]:
        return [int(pid) for pid in STARTED.findall(self.process.output())]


def make_app_dir(root: Path, suffix: str) -> Path:
    shutil.copy(TOY_APP / "function_app.py", root)
    shutil.copy(TOY_APP / "host.json", root)
    (root / "out").mkdir()
    values = {
        "FUNCTIONS_WORKER_PROCESS_COUNT": "2",  # read from local.settings.json, as func does
        "PYTHON_THREADPOOL_THREAD_COUNT": "4",
        "DEVHOST_FROM_SETTINGS": "from-settings",
        "DEVHOST_WORK_QUEUE": f"work-{suffix}",
        "DEVHOST_FAIL_QUEUE": f"fail-{suffix}",
        "DEVHOST_OUT_DIR": str(root / "out"),
    }
    (root / "local.settings.json").write_text(json.dumps({"Values": values}))
    return root


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory, azurite: Azurite) -> Iterator[WorkersHost]:
    suffix = uuid.uuid4().hex[:8]
    app_dir = make_app_dir(tmp_path_factory.mktemp("workers-app"), suffix)
    process = start_host(app_dir, env={"AzureWebJobsStorage": azurite.connection_string})
    try:
        yield WorkersHost(
            process, app_dir / "out", f"work-{suffix}", f"fail-{suffix}", azurite.connection_string
        )
    finally:
        code = process.stop()
    assert code == 0, process.output()[-2000:]
    assert "Host stopped." in process.output()


def test_http_invocations_run_in_both_worker_processes(host: WorkersHost) -> None:
    assert len(host.started_pids()) == 2
    assert "Starting 2 worker processes" in host.process.output()

    def call(i: int) -> requests.Response:
        return requests.post(
            f"{host.url}/pid/n{i}?sleep=0.3", data=f"b{i}", headers={"x-test": "t"}, timeout=10
        )

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(call, range(6)))
    assert {r.status_code for r in responses} == {201}
    assert all(r.headers["x-pid"] == "yes" for r in responses)
    bodies = [r.json() for r in responses]
    assert [(b["name"], b["body"], b["header"]) for b in bodies] == [
        (f"n{i}", f"b{i}", "t") for i in range(6)
    ]
    assert {b["setting"] for b in bodies} == {"from-settings"}  # the same settings everywhere
    assert {b["pid"] for b in bodies} == set(host.started_pids())
    assert host.process.proc.pid not in {b["pid"] for b in bodies}

    boom = requests.get(f"{host.url}/boom", timeout=10)
    assert boom.status_code == 500 and b"BOOM" not in boom.content
    assert "RuntimeError: BOOM-SECRET-DETAIL" in host.process.output()  # logged by the worker


def test_a_queue_batch_runs_in_both_workers_and_is_deleted(host: WorkersHost) -> None:
    queue = host.queue(host.work_queue)
    wait_for(lambda: _exists(queue), what="the listener to create the queue")
    bodies = [f"m{i}-{uuid.uuid4().hex[:6]}" for i in range(8)]
    for body in bodies:
        queue.send_message(body)
    done = wait_for(
        lambda: (
            (r := [x for x in host.records("work") if x["body"] in bodies]) and len(r) == 8 and r
        ),
        what="the batch",
    )
    assert sorted(r["body"] for r in done) == sorted(bodies)
    assert {r["pid"] for r in done} == set(host.started_pids()[:2])
    wait_for(lambda: not queue.peek_messages(max_messages=1), what="the messages to be deleted")
    ids = {r["msg_id"] for r in done}
    out = host.process.output()
    assert all(f"MessageId: {i}" in out for i in ids)


def _exists(queue: QueueClient) -> bool:
    try:
        queue.get_queue_properties()
    except Exception:
        return False
    return True


def test_a_raising_queue_function_is_retried_then_poisoned(host: WorkersHost) -> None:
    text = f"bad-{uuid.uuid4().hex}"
    queue = host.queue(host.fail_queue)
    wait_for(lambda: _exists(queue), what="the listener to create the queue")
    queue.send_message(text)
    poison = host.queue(host.fail_queue + "-poison")
    wait_for(lambda: _exists(poison) and list(poison.peek_messages(max_messages=5)), what="poison")
    assert [m.content for m in poison.peek_messages(max_messages=5)] == [text]
    assert sorted(r["dequeue_count"] for r in host.records("fail")) == [1, 2]
    assert set(host.started_pids()) >= {r["pid"] for r in host.records("fail")}
    assert "Executed 'Functions.fail' (Failed" in host.process.output()


def test_timers_run_in_a_worker(host: WorkersHost) -> None:
    ticks = wait_for(lambda: len(host.records("tick")) >= 2 and host.records("tick"), 10, "ticks")
    assert {t["pid"] for t in ticks} <= set(host.started_pids())
    assert host.process.proc.pid not in {t["pid"] for t in ticks}


def test_a_killed_worker_is_replaced_and_its_message_processed_later(host: WorkersHost) -> None:
    body = f"slow-{uuid.uuid4().hex[:6]}"
    host.queue(host.work_queue).send_message(body)
    started = wait_for(
        lambda: [r for r in host.records("started") if r["body"] == body], what="the slow run"
    )
    victim = started[0]["pid"]
    os.kill(victim, signal.SIGKILL)
    done = wait_for(
        lambda: [r for r in host.records("work") if r["body"] == body], 20, "the retried message"
    )
    assert done[0]["dequeue_count"] == 2 and done[0]["pid"] != victim
    out = host.process.output()
    assert f"Worker process {victim} exited" in out
    assert "(Failed, Id=" in out and "its worker process" in out
    wait_for(lambda: len(host.started_pids()) == 3, 20, "the replacement worker")
    replacement = host.started_pids()[2]
    with ThreadPoolExecutor(4) as pool:
        pids = {
            r.json()["pid"]
            for r in pool.map(
                lambda i: requests.post(f"{host.url}/pid/x?sleep=0.3", timeout=10), range(4)
            )
        }
    assert victim not in pids and replacement in pids and len(pids) == 2
