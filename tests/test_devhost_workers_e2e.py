"""A host with worker processes leaves none behind, however it stops (Ctrl-C, SIGTERM, killed),
and runs the real app: an inbound STOP through a 2-worker host is applied and answered once."""

from __future__ import annotations

import base64
import json
import os
import signal
import time
import uuid
from pathlib import Path

import pytest
import requests
from azure.storage.queue import QueueClient

from devhost.acs_double import AcsDouble
from devhost.inprocess import TEST_KEY
from devhost.queues import QUEUE_API_VERSION
from devhost.testing import ROOT, Azurite, start_host
from shared.platform.hmac_auth import sign_request
from tests.test_devhost import wait_for
from tests.test_devhost_workers import STARTED, make_app_dir
from tests.test_e2e import event_grid


def children(pid: int) -> list[int]:
    """Every process `pid` started (worker processes and multiprocessing's helper)."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "host-killed"])
def test_no_process_is_left_behind(how: str, tmp_path: Path, azurite: Azurite) -> None:
    app_dir = make_app_dir(tmp_path, uuid.uuid4().hex[:8])
    host = start_host(app_dir, env={"AzureWebJobsStorage": azurite.connection_string})
    try:
        workers = [int(p) for p in wait_for(lambda: STARTED.findall(host.output()), what="pids")]
        spawned = children(host.proc.pid)
        assert len(workers) == 2 and set(workers) <= set(spawned)
        if how == "ctrl-c":  # the terminal sends SIGINT to the whole foreground group
            os.killpg(host.proc.pid, signal.SIGINT)
        elif how == "sigterm":  # a process manager stops the host alone
            os.kill(host.proc.pid, signal.SIGTERM)
        else:  # the host dies without cleaning up: its workers notice and exit
            os.kill(host.proc.pid, signal.SIGKILL)
        code = host.proc.wait(15)
        wait_for(lambda: not any(alive(pid) for pid in spawned), 10, "the workers to exit")
    finally:
        host.stop()
    if how != "host-killed":
        assert code == 0, host.output()[-2000:]
        assert "Host stopped." in host.output()
        assert "exited (code" not in host.output()  # a stop is not a crash: nothing restarted


def test_an_inbound_stop_through_two_workers_is_applied_and_answered_once(
    azurite: Azurite,
) -> None:
    acs = AcsDouble().start()
    suffix = uuid.uuid4().hex[:8]
    env = {
        "FUNCTIONS_WORKER_PROCESS_COUNT": "2",
        "AzureWebJobsStorage": azurite.connection_string,
        "OPTOUT_ACCESS_KEYS": TEST_KEY,
        "OPTOUT_TABLE_NAME": f"WkOptOuts{suffix}",
        "OPTOUT_HISTORY_TABLE_NAME": f"WkHistory{suffix}",
        "SENDER_PROGRAMS_TABLE_NAME": f"WkPrograms{suffix}",
        "GROUP_OPTOUTS_TABLE_NAME": f"WkGroups{suffix}",
        "ACS_CONNECTION_STRING": acs.connection_string,
        "AzureFunctionsJobHost__extensions__queues__maxPollingInterval": "00:00:00.200",
    }
    host = start_host(ROOT, env=env, use_local_settings=False)
    person, business = "+14255550377", "+18005550100"
    try:
        assert len(STARTED.findall(host.output())) == 2
        queue = QueueClient.from_connection_string(
            azurite.connection_string, "sms-inbound", api_version=QUEUE_API_VERSION
        )
        wait_for(lambda: _exists(queue), what="the listener to create sms-inbound")
        queue.send_message(_stop_event(person, business))
        wait_for(lambda: [s for s in acs.sent if s.to == person], 20, "the reply")
        url = f"{host.base_url}/sms/optouts:check?api-version=2026-01-23"
        body = json.dumps({"from": business, "recipients": [{"to": person}]}).encode()
        headers = {"content-type": "application/json", **sign_request("POST", url, body, TEST_KEY)}
        res = requests.post(url, data=body, headers=headers, timeout=10)
        assert res.status_code == 200 and res.json()["value"][0]["isOptedOut"] is True
        wait_for(lambda: not queue.peek_messages(max_messages=1), what="the message deleted")
        time.sleep(1.0)  # a second reply would have been sent by now
        assert len([s for s in acs.sent if s.to == person]) == 1
        assert "Executed 'Functions.sms_inbound' (Succeeded" in host.output()
    finally:
        host.stop()
        acs.stop()
    assert "4255550377" not in host.output()  # masked in every worker's log lines


def _exists(queue: QueueClient) -> bool:
    try:
        queue.get_queue_properties()
    except Exception:
        return False
    return True


def _stop_event(person: str, business: str) -> str:
    event = event_grid(person, "STOP", "2026-11-26T10:00:00Z", business=business)
    return base64.b64encode(json.dumps(event).encode()).decode()
