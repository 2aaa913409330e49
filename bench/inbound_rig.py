"""The inbound benchmark's rig: a private Azurite, the ACS double and the local host as a
subprocess with the app's storage requests counted (bench/counting_host.py); how to put events
on the queue and read back when they were applied and confirmed."""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableClient
from azure.storage.queue import QueueClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.counting_host import counts_in  # noqa: E402
from devhost.acs_double import AcsDouble  # noqa: E402
from devhost.inprocess import TEST_KEY  # noqa: E402
from devhost.queues import QUEUE_API_VERSION  # noqa: E402
from devhost.testing import Azurite, HostProcess, free_port, start_azurite  # noqa: E402

SENDER = "+18005550100"
# Poll an empty queue at most every 100 ms (devhost's local default is 2 s, Azure's 1 min):
# the benchmark measures processing, not how long an idle host takes to notice a burst.
HOST_SETTINGS = {"AzureFunctionsJobHost__extensions__queues__maxPollingInterval": "00:00:00.100"}


def stop_event(person: str, when: str) -> str:
    message_id = f"Incoming_{uuid.uuid4().hex}"
    return json.dumps(
        {
            "id": message_id,
            "eventType": "Microsoft.Communication.SMSReceived",
            "eventTime": when,
            "data": {
                "MessageId": message_id,
                "From": person[1:],
                "To": SENDER[1:],
                "Message": "STOP",
                "ReceivedTimestamp": when,
            },
        }
    )


@dataclass
class Rig:
    azurite: Azurite
    acs: AcsDouble
    host: HostProcess
    count_file: Path
    tables: dict[str, str]
    extra_env: dict[str, str] = field(default_factory=dict)

    def queue(self) -> QueueClient:
        return QueueClient.from_connection_string(
            self.azurite.connection_string, "sms-inbound", api_version=QUEUE_API_VERSION
        )

    def table(self, setting: str) -> TableClient:
        return TableClient.from_connection_string(
            self.azurite.connection_string, self.tables[setting]
        )

    def counts(self) -> Counter[str]:
        """The app's storage requests so far: the host's and every worker process's."""
        return counts_in(self.count_file)


def start_rig(extra_env: dict[str, str]) -> Rig:
    azurite = start_azurite()
    acs = AcsDouble().start()
    suffix = uuid.uuid4().hex[:8]
    tables = {
        "OPTOUT_TABLE_NAME": f"BenchOptOuts{suffix}",
        "OPTOUT_HISTORY_TABLE_NAME": f"BenchHistory{suffix}",
        "SENDER_PROGRAMS_TABLE_NAME": f"BenchPrograms{suffix}",
    }
    count_file = Path(tempfile.mkdtemp(prefix="bench-")) / "counts.json"
    env = {
        **os.environ,
        **tables,
        "AzureWebJobsStorage": azurite.connection_string,
        "OPTOUT_ACCESS_KEYS": TEST_KEY,
        "ACS_CONNECTION_STRING": acs.connection_string,
        "BENCH_COUNT_FILE": str(count_file),
        "PYTHONUNBUFFERED": "1",
        **HOST_SETTINGS,
        **extra_env,
    }
    port = free_port()
    log_path = count_file.with_name("host.log")
    cmd = [sys.executable, "-m", "bench.counting_host", "serve", "--port", str(port)]
    cmd += ["--script-root", str(ROOT), "--no-local-settings"]
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    host = HostProcess(proc, port, log_path)
    host.wait_ready(60)
    return Rig(azurite, acs, host, count_file, tables, extra_env)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far; 0 where /proc is unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The processes `pid` started (its worker processes); empty where /proc cannot say."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def wait_until(condition: Callable[[], bool], timeout: float, poll: float = 0.05) -> float:
    """Seconds since the call when `condition()` first held; TimeoutError after `timeout`."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise TimeoutError("the benchmark did not finish in time")
        time.sleep(poll)
    return time.monotonic() - start


def written(rig: Rig, setting: str, query: str, **params: str) -> tuple[int, float]:
    """How many of the sender's rows match `query`, and when the last of them was written
    (the service's Timestamp, epoch seconds). Read once at the end, so that watching the run
    costs the storage emulator nothing while it runs."""
    rows = rig.table(setting).query_entities(
        "PartitionKey eq @pk and " + query,
        parameters={"pk": SENDER, **params},
        select=["RowKey", "Timestamp"],
        results_per_page=1000,
    )
    stamps = [e.metadata["timestamp"].timestamp() for e in rows]
    return len(stamps), max(stamps, default=0.0)


def applied(rig: Rig) -> tuple[int, float]:
    return written(rig, "OPTOUT_TABLE_NAME", "RowKey lt @state", state="~")


def confirmed(rig: Rig) -> tuple[int, float]:
    return written(rig, "OPTOUT_HISTORY_TABLE_NAME", "ReplyStatus eq @sent", sent="sent")


def enqueue(rig: Rig, people: list[str], visible_at: float = 0.0) -> None:
    """Put one STOP per person on the queue, invisible until `visible_at` (epoch seconds; the
    queue counts whole seconds, so they appear within one second of it)."""
    queue = rig.queue()
    when = "2026-11-26T10:00:00Z"

    def put(person: str) -> None:
        hidden = max(0, math.ceil(visible_at - time.time()))
        queue.send_message(stop_event(person, when), visibility_timeout=hidden)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, people))


def warm_up(rig: Rig) -> None:
    """One event first: imports, tables and connections are ready, as on a running host."""
    with contextlib.suppress(ResourceExistsError):
        rig.queue().create_queue()
    for setting in rig.tables:
        with contextlib.suppress(ResourceExistsError):
            rig.table(setting).create_table()
    enqueue(rig, ["+14165550100"])
    wait_until(lambda: len(rig.acs.sent) == 1 and confirmed(rig)[0] == 1, 60, 0.1)
