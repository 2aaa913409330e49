"""The local Functions host (devhost/): routing, HTTP fidelity, settings and queue semantics.

HTTP and queue behaviour is exercised through a real `python -m devhost serve` subprocess
(uvicorn on a free port) running the toy app in tests/devhost_app against the session's
private Azurite.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
import requests
from azure.storage.queue import QueueClient

from devhost.functions import QueueFunction, function_info, index_app
from devhost.host import LocalHost
from devhost.queues import QUEUE_API_VERSION, QueueListener
from devhost.routing import RouteTemplate, full_template
from devhost.settings import (
    ConfigError,
    QueueOptions,
    apply_settings,
    load_host_config,
    load_local_settings,
    parse_timespan,
)
from devhost.testing import Azurite, HostProcess, start_host

ROOT = Path(__file__).resolve().parent.parent
TOY_APP = Path(__file__).resolve().parent / "devhost_app"


def wait_for(check: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# Units: route templates, host.json, local.settings.json


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("sms/optouts:add", "/sms/optouts:add", {}),
        ("sms/optouts:add", "/SMS/OptOuts:Add/", {}),
        ("sms/optouts:add", "/sms/optouts:remove", None),
        ("sms/optouts:add", "/sms/optouts", None),
        ("items/{id}", "/items/42", {"id": "42"}),
        ("items/{id}", "/items", None),
        ("items/{id}", "/items/42/more", None),
        ("items/{id}/{part?}", "/items/42", {"id": "42"}),
        ("items/{id}/{part?}", "/items/42/x", {"id": "42", "part": "x"}),
        ("items/{id:int}", "/items/42", {"id": "42"}),
        ("items/{id:int}", "/items/abc", None),
        ("items/{id:int:min(10)}", "/items/5", None),
        ("items/{id:regex(^a.c$)}", "/items/abc", {"id": "abc"}),
        ("items/{id=7}", "/items", {"id": "7"}),
        ("files/{*rest}", "/files/a/b/c", {"rest": "a/b/c"}),
        ("files/{name}.{ext}", "/files/report.pdf", {"name": "report", "ext": "pdf"}),
        ("a/{x}:b", "/a/y:b", {"x": "y"}),
        ("", "/", {}),
    ],
)
def test_route_templates(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert RouteTemplate(template).match(path) == expected


def test_route_prefix_and_precedence() -> None:
    assert full_template("api", "sms/optouts:add") == "api/sms/optouts:add"
    assert full_template("", "/sms/optouts:add") == "sms/optouts:add"
    literal = RouteTemplate("items/new")
    param = RouteTemplate("items/{id}")
    catch_all = RouteTemplate("{*all}")
    ordered = sorted([catch_all, param, literal], key=lambda t: t.precedence)
    assert ordered == [literal, param, catch_all]


def test_host_json_and_overrides(tmp_path: Path) -> None:
    assert parse_timespan("00:00:30", "x") == 30
    assert parse_timespan("1.00:00:01.5", "x") == 86401.5
    assert parse_timespan(2000, "x", number_unit=0.001) == 2.0
    with pytest.raises(ConfigError):
        parse_timespan("30s", "x")

    defaults = load_host_config(tmp_path, environ={})  # no host.json at all
    assert defaults.route_prefix == "api"
    assert defaults.queues == QueueOptions()

    repo = load_host_config(ROOT, environ={})
    assert repo.route_prefix == ""
    assert repo.queues.visibility_timeout == 30
    assert repo.queues.message_encoding == "none"

    toy = load_host_config(
        TOY_APP,
        environ={
            "AzureFunctionsJobHost__extensions__queues__messageEncoding": "BASE64",
            "AzureFunctionsJobHost__Extensions__Queues__BatchSize": "8",
        },
    )
    assert toy.queues.message_encoding == "base64"
    assert toy.queues.batch_size == 8
    assert toy.queues.max_dequeue_count == 2
    assert toy.queues.max_polling_interval == 0.2

    (tmp_path / "host.json").write_text(json.dumps({"extensions": {"queues": {"batchSize": 64}}}))
    with pytest.raises(ConfigError, match="batchSize"):
        load_host_config(tmp_path, environ={})


def test_local_settings_env_wins_and_encrypted_is_refused(tmp_path: Path) -> None:
    (tmp_path / "local.settings.json").write_text(
        json.dumps({"IsEncrypted": False, "Values": {"A": "file", "B": "file", "N": 3}})
    )
    local = load_local_settings(tmp_path)
    env = {"A": "env"}
    assert apply_settings(local.values, env) == ["B", "N"]
    assert env == {"A": "env", "B": "file", "N": "3"}

    (tmp_path / "local.settings.json").write_text(json.dumps({"IsEncrypted": True, "Values": {}}))
    with pytest.raises(ConfigError, match="encrypted"):
        load_local_settings(tmp_path)
    shutil.copy(TOY_APP / "function_app.py", tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "devhost", "serve", "--script-root", str(tmp_path), "--port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "encrypted" in result.stdout + result.stderr


def test_indexing_the_toy_app(tmp_path: Path) -> None:
    # A private module name so the toy app never shadows the real `function_app` module.
    shutil.copy(TOY_APP / "function_app.py", tmp_path / "devhost_toy_indexed.py")
    indexed = index_app(
        tmp_path,
        "devhost_toy_indexed",
        route_prefix="",
        environ={"DEVHOST_OK_QUEUE": "Ok-Queue", "DEVHOST_FAIL_QUEUE": "fail"},
    )
    http = {f.name: f for f in indexed.http}
    assert http["echo"].methods == ("POST",)
    assert http["item"].route == "items/{id}/{part?}"
    assert http["ctx"].methods is None and http["ctx"].is_async and http["ctx"].has_context
    queues = {f.name: f for f in indexed.queues}
    assert queues["queue_ok"].queue_name == "ok-queue"  # %SETTING% resolved, lower-cased
    assert queues["queue_fail"].connection == "DEVHOST_STORAGE"


# ---------------------------------------------------------------------------------------------
# The host as a subprocess


@dataclass
class ToyHost:
    process: HostProcess
    ok_queue: str
    fail_queue: str
    out_dir: Path
    connection_string: str

    @property
    def url(self) -> str:
        return self.process.base_url

    def queue(self, name: str) -> QueueClient:
        return QueueClient.from_connection_string(
            self.connection_string, name, api_version=QUEUE_API_VERSION
        )

    def records(self, kind: str) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted(self.out_dir.glob(f"{kind}-*.json"))]


def _toy_host(
    tmp_path_factory: pytest.TempPathFactory, azurite: Azurite, encoding: str
) -> Iterator[ToyHost]:
    app_dir = tmp_path_factory.mktemp(f"devhost-app-{encoding}")
    shutil.copy(TOY_APP / "function_app.py", app_dir)
    shutil.copy(TOY_APP / "host.json", app_dir)
    out_dir = app_dir / "out"
    out_dir.mkdir()
    suffix = uuid.uuid4().hex[:8]
    (app_dir / "local.settings.json").write_text(
        json.dumps(
            {
                "IsEncrypted": False,
                "Values": {
                    # The environment below wins over these two:
                    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
                    "DEVHOST_OVERRIDE": "from-settings",
                    "DEVHOST_FROM_SETTINGS": "from-settings",
                    "DEVHOST_OK_QUEUE": f"ok-{encoding}-{suffix}",
                    "DEVHOST_FAIL_QUEUE": f"fail-{encoding}-{suffix}",
                    "DEVHOST_OUT_DIR": str(out_dir),
                    "DEVHOST_TIMER_SCHEDULE": "*/1 * * * * *",
                },
            }
        )
    )
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "DEVHOST_STORAGE": azurite.connection_string,
        "DEVHOST_OVERRIDE": "from-env",
        "AzureFunctionsJobHost__extensions__queues__messageEncoding": encoding,
    }
    process = start_host(app_dir, env=env)
    try:
        yield ToyHost(
            process,
            f"ok-{encoding}-{suffix}",
            f"fail-{encoding}-{suffix}",
            out_dir,
            env["AzureWebJobsStorage"],
        )
    finally:
        code = process.stop()
    # SIGTERM is a clean shutdown, as with `func start` under a process manager.
    assert code == 0, process.output()[-2000:]
    assert "Host stopped." in process.output()


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory, azurite: Azurite) -> Iterator[ToyHost]:
    yield from _toy_host(tmp_path_factory, azurite, "none")


@pytest.fixture(scope="module")
def toy_base64(tmp_path_factory: pytest.TempPathFactory, azurite: Azurite) -> Iterator[ToyHost]:
    yield from _toy_host(tmp_path_factory, azurite, "base64")


def raw_request(
    base_url: str,
    method: str,
    target: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """Send exactly `target` (no client-side normalisation of the path)."""
    host_port = base_url.removeprefix("http://")
    conn = http.client.HTTPConnection(host_port, timeout=10)
    try:
        conn.request(method, target, body=body or None, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def test_startup_lists_functions(toy: ToyHost) -> None:
    out = toy.process.output()
    assert "Functions:" in out
    assert f"\techo: [POST] {toy.url}/things:echo" in out
    assert "\tqueue_ok: queueTrigger" in out
    assert "\ttick: timerTrigger" in out


def test_colon_route_preserves_url_headers_params_and_body(toy: ToyHost) -> None:
    body = b'{"secret": "+14255550123"}'
    target = "/things:echo?api-version=2026-01-23&x=a%20b&x=c"
    status, headers, raw = raw_request(
        toy.url,
        "POST",
        target,
        body,
        {"Host": "example.test:8443", "X-Test": "hello", "Content-Type": "application/json"},
    )
    assert status == 201, raw
    assert headers["content-type"] == "application/json"
    assert headers["x-echo"] == "1"
    echoed = json.loads(raw)
    assert echoed["method"] == "POST"
    assert echoed["url"] == "http://example.test:8443" + target
    assert echoed["headers"]["host"] == "example.test:8443"
    assert echoed["headers"]["x-test"] == "hello"
    assert echoed["params"] == {"api-version": "2026-01-23", "x": "a b,c"}
    assert echoed["body"] == body.decode()
    # The host never logs bodies or headers.
    out = toy.process.output()
    assert "+14255550123" not in out and "hello" not in out
    assert "Executed 'Functions.echo' (Succeeded" in out


def test_default_host_header_includes_the_port(toy: ToyHost) -> None:
    r = requests.post(toy.url + "/things:echo", data=b"x", timeout=10)
    assert r.status_code == 201
    assert r.json()["url"] == toy.url + "/things:echo"
    assert r.json()["headers"]["host"] == toy.url.removeprefix("http://")


def test_route_params_and_methods(toy: ToyHost) -> None:
    r = requests.get(toy.url + "/items/42", timeout=10)
    assert r.status_code == 200 and r.json() == {"id": "42"}
    r = requests.put(toy.url + "/Items/42/details/", timeout=10)
    assert r.status_code == 200 and r.json() == {"id": "42", "part": "details"}

    r = requests.get(toy.url + "/things:echo", timeout=10)
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"
    assert r.json()["error"]["code"] == "MethodNotAllowed"

    r = requests.post(toy.url + "/things:nope", timeout=10)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "NotFound"
    assert requests.get(toy.url + "/api/items/42", timeout=10).status_code == 404


def test_exception_is_a_500_without_details(toy: ToyHost) -> None:
    r = requests.get(toy.url + "/boom", timeout=10)
    assert r.status_code == 500
    assert "BOOM" not in r.text and "Traceback" not in r.text
    out = wait_for(
        lambda: (o := toy.process.output()) and "BOOM-SECRET-DETAIL" in o and o,
        what="the exception in the host log",
    )
    assert "Executed 'Functions.boom' (Failed" in out
    assert "Traceback" in out


def test_environment_wins_over_local_settings(toy: ToyHost) -> None:
    r = requests.get(toy.url + "/settings", timeout=10)
    assert r.json() == {"DEVHOST_FROM_SETTINGS": "from-settings", "DEVHOST_OVERRIDE": "from-env"}


def test_async_function_with_context(toy: ToyHost) -> None:
    r = requests.delete(toy.url + "/ctx", timeout=10)  # no methods declared: any method
    assert r.status_code == 200
    assert r.json()["function"] == "ctx"
    assert str(uuid.UUID(r.json()["id"])) == r.json()["id"]
    assert f"Id={r.json()['id']}" in toy.process.output()


def test_signed_request_survives_the_host(toy: ToyHost) -> None:
    acs_auth = pytest.importorskip("shared.platform.hmac_auth")
    from devhost.sign import curl_command, send, sign

    key = base64.b64encode(b"k" * 32).decode()
    url = toy.url + "/things:echo?api-version=2026-01-23"
    body = b'{"from":"+18005550100","recipients":[{"to":"+14255550123"}]}'
    headers = sign("POST", url, body, key)
    command = curl_command("POST", url, body, headers)
    assert command.startswith("curl ") and "Authorization: HMAC-SHA256 SignedHeaders=" in command

    status, _, raw = send("POST", url, body, headers)
    assert status == 201
    echoed = json.loads(raw)
    assert echoed["url"] == url
    acs_auth.verify_request(
        "POST",
        echoed["url"],
        func.HttpRequest("POST", url, headers=echoed["headers"], body=b"").headers,
        echoed["body"].encode(),
        [base64.b64decode(key)],
        max_skew_seconds=900,
    )


def test_signer_cli_prints_curl(tmp_path: Path) -> None:
    pytest.importorskip("shared.platform.hmac_auth")
    key = base64.b64encode(b"k" * 32).decode()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "devhost.sign",
            "POST",
            "http://127.0.0.1:7071/sms/optouts:check?api-version=2026-01-23",
            '{"from":"+18005550100","recipients":[{"to":"+14255550123"}]}',
            "--key",
            key,
        ],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith("curl ")
    assert "'http://127.0.0.1:7071/sms/optouts:check?api-version=2026-01-23'" in line
    assert "x-ms-content-sha256: " in line and "x-ms-date: " in line


# ---------------------------------------------------------------------------------------------
# Queue triggers against Azurite


def test_queue_message_is_processed_and_deleted(toy: ToyHost) -> None:
    text = '{"hello": "wörld", "n": 1}'
    toy.queue(toy.ok_queue).send_message(text)
    records = wait_for(lambda: toy.records("ok"), what="the queue function to run")
    assert len(records) == 1
    assert bytes.fromhex(records[0]["body_hex"]).decode() == text
    assert records[0]["dequeue_count"] == 1 and records[0]["has_pop_receipt"]
    wait_for(
        lambda: not toy.queue(toy.ok_queue).peek_messages(max_messages=1),
        what="the message to be deleted",
    )
    assert "Trigger Details: MessageId: " in toy.process.output()


def test_failing_message_is_retried_then_poisoned(toy: ToyHost) -> None:
    text = f"cannot-process-{uuid.uuid4().hex}"
    toy.queue(toy.fail_queue).send_message(text)
    poison = toy.queue(toy.fail_queue + "-poison")

    def poisoned() -> list[Any]:
        try:
            return list(poison.peek_messages(max_messages=5))
        except Exception:  # the poison queue does not exist yet
            return []

    messages = wait_for(poisoned, what="the poison queue")
    assert [m.content for m in messages] == [text]
    attempts = toy.records("fail")
    assert sorted(a["dequeue_count"] for a in attempts) == [1, 2]  # maxDequeueCount is 2
    assert all(bytes.fromhex(a["body_hex"]).decode() == text for a in attempts)
    assert not toy.queue(toy.fail_queue).peek_messages(max_messages=1)
    out = toy.process.output()
    assert "Executed 'Functions.queue_fail' (Failed" in out
    assert f"Moving message to queue '{toy.fail_queue}-poison'" in out


def test_base64_messages_are_decoded(toy_base64: ToyHost) -> None:
    payload = b"\x00\xffbinary \xe2\x9c\x93"
    toy_base64.queue(toy_base64.ok_queue).send_message(base64.b64encode(payload).decode())
    records = wait_for(lambda: toy_base64.records("ok"), what="the queue function to run")
    assert bytes.fromhex(records[0]["body_hex"]) == payload


def test_invalid_base64_fails_and_is_poisoned(toy_base64: ToyHost) -> None:
    toy_base64.queue(toy_base64.ok_queue).send_message("not base64 {}")
    poison = toy_base64.queue(toy_base64.ok_queue + "-poison")

    def poisoned() -> list[Any]:
        try:
            return list(poison.peek_messages(max_messages=5))
        except Exception:
            return []

    assert [m.content for m in wait_for(poisoned, what="the poison queue")] == ["not base64 {}"]


# ---------------------------------------------------------------------------------------------
# In process: the listener alone, and LocalHost in a thread


def test_message_over_max_dequeue_count_goes_straight_to_poison(azurite: Azurite) -> None:
    calls: list[str] = []

    def handler(msg: func.QueueMessage) -> None:
        calls.append(msg.get_body().decode())

    options = QueueOptions(
        batch_size=4, new_batch_threshold=2, max_dequeue_count=2, message_encoding="none"
    )
    listener, queue = _listener_for(azurite, handler, options)
    try:
        listener.poll_once()  # creates the queue
        queue.send_message("seen-too-often")
        for _ in range(3):  # three receives: dequeue count 3 > maxDequeueCount 2
            msg = next(iter(queue.receive_messages(visibility_timeout=30)))
            queue.update_message(msg.id, pop_receipt=msg.pop_receipt, visibility_timeout=0)
        assert listener.poll_once(wait=True) == 1
        assert calls == []
        poison = QueueClient.from_connection_string(
            azurite.connection_string, queue.queue_name + "-poison", api_version=QUEUE_API_VERSION
        )
        assert [m.content for m in poison.peek_messages(max_messages=5)] == ["seen-too-often"]
        assert not queue.peek_messages(max_messages=1)

        queue.send_message("fine")
        assert listener.poll_once(wait=True) == 1
        assert calls == ["fine"]
    finally:
        listener.stop()


def test_local_host_in_a_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVHOST_OK_QUEUE", "unused-ok")
    monkeypatch.setenv("DEVHOST_FAIL_QUEUE", "unused-fail")
    # A private module name so the toy app never shadows the real `function_app` module.
    shutil.copy(TOY_APP / "function_app.py", tmp_path / "devhost_toy_in_process.py")
    shutil.copy(TOY_APP / "host.json", tmp_path)
    host = LocalHost(
        tmp_path, "devhost_toy_in_process", port=0, use_local_settings=False, start_queues=False
    )
    with host:
        assert host.port > 0
        r = requests.get(host.base_url + "/items/7", timeout=10)
        assert r.json() == {"id": "7"}
        r = requests.post(host.base_url + "/things:echo?q=1", data=b"hi", timeout=10)
        assert r.status_code == 201 and r.json()["url"] == host.base_url + "/things:echo?q=1"
    with pytest.raises(requests.ConnectionError):
        requests.get(host.base_url + "/items/7", timeout=2)


def test_kept_alive_connections_have_no_nagle_delay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every accepted connection has TCP_NODELAY, as Kestrel's have: with Nagle on, each
    response on a kept-alive connection waits for the client's delayed ACK (~40 ms)."""
    monkeypatch.setenv("DEVHOST_OK_QUEUE", "unused-ok")
    monkeypatch.setenv("DEVHOST_FAIL_QUEUE", "unused-fail")
    shutil.copy(TOY_APP / "function_app.py", tmp_path / "devhost_toy_nodelay.py")
    shutil.copy(TOY_APP / "host.json", tmp_path)
    host = LocalHost(
        tmp_path, "devhost_toy_nodelay", port=0, use_local_settings=False, start_queues=False
    )
    with host:
        conn = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
        for _ in range(2):  # the same connection, kept alive
            conn.request("GET", "/items/7")
            assert conn.getresponse().read() == b'{"id": "7"}'
        assert host._server is not None
        accepted = [
            c.transport.get_extra_info("socket") for c in host._server.server_state.connections
        ]
        assert len(accepted) == 1
        assert accepted[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        conn.close()


def _listener_for(
    azurite: Azurite, handler: Callable[[func.QueueMessage], None], options: QueueOptions
) -> tuple[QueueListener, QueueClient]:
    queue_name = f"unit-{uuid.uuid4().hex[:12]}"
    app = func.FunctionApp()
    app.queue_trigger(arg_name="msg", queue_name=queue_name, connection="DEVHOST_TEST_CONN")(
        handler
    )
    fn = QueueFunction(
        **function_info(app.get_functions()[0], str(ROOT)),
        queue_name=queue_name,
        connection="DEVHOST_TEST_CONN",
    )
    listener = QueueListener(fn, options, {"DEVHOST_TEST_CONN": azurite.connection_string})
    queue = QueueClient.from_connection_string(
        azurite.connection_string, queue_name, api_version=QUEUE_API_VERSION
    )
    return listener, queue


def test_a_batch_runs_concurrently(azurite: Azurite) -> None:
    seen: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4, timeout=10)

    def handler(msg: func.QueueMessage) -> None:
        barrier.wait()  # only returns once all four messages are being processed at once
        with lock:
            seen.append(msg.get_body().decode())

    options = QueueOptions(batch_size=4, new_batch_threshold=2, message_encoding="none")
    listener, queue = _listener_for(azurite, handler, options)
    try:
        listener.poll_once()  # creates the queue (empty)
        for i in range(4):
            queue.send_message(f"m{i}")
        assert listener.poll_once(wait=True) == 4
    finally:
        listener.stop()
    assert sorted(seen) == ["m0", "m1", "m2", "m3"]
    assert not queue.peek_messages(max_messages=1)


def test_failed_message_waits_for_the_visibility_timeout(azurite: Azurite) -> None:
    def handler(msg: func.QueueMessage) -> None:
        raise RuntimeError("transient")

    options = QueueOptions(max_dequeue_count=5, visibility_timeout=30, message_encoding="none")
    listener, queue = _listener_for(azurite, handler, options)
    try:
        listener.poll_once()
        queue.send_message("retry-me")
        assert listener.poll_once(wait=True) == 1
    finally:
        listener.stop()
    assert not queue.peek_messages(max_messages=1)  # invisible for 30 s, not deleted
    assert queue.get_queue_properties().approximate_message_count == 1


def test_timer_runs_on_startup_on_schedule_and_one_at_a_time(toy: ToyHost) -> None:
    # `tick` runs every second (%DEVHOST_TIMER_SCHEDULE% from the settings) but takes 1.3 s.
    runs = wait_for(lambda: len(toy.records("timer")) >= 4 and toy.records("timer"), 20, "ticks")
    for before, after in itertools.pairwise(runs):
        assert after["started"] >= before["ended"]  # never two at once
    for before, after in itertools.pairwise(runs[1:]):  # after the start-up run: on the grid
        # The occurrence missed while a run overran is skipped, not queued (as the host does).
        assert after["started"] - before["started"] > 1.9
        assert abs(after["started"] - round(after["started"])) < 0.5  # on whole seconds
    assert not any(r["past_due"] for r in runs)
    assert "Executing 'Functions.tick' (Reason='Timer fired at" in toy.process.output()
