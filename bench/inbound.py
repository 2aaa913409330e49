"""Benchmark: inbound keyword throughput through the real local host.

    make bench            # or: .venv/bin/python -m bench.inbound --events 500

A private in-memory Azurite, a local ACS double (tests/acs_double.py) that receives the replies,
and the local host as a subprocess (`bench/counting_host.py`: `python -m devhost serve` with the
app's Table requests counted). After one warm-up event, N STOP events (distinct recipients, one
sender, as a campaign's STOPs arrive) are put on `sms-inbound` at once; the benchmark reports
how long until all are applied (opted out in the table) and all confirmed (each person got one
reply and its history row says so), the rate, and the Table requests per event by kind. It
fails (exit code 1) if any person got no reply or more than one.

Azurite and this machine's load make the times a relative measure; the request counts are what
the real Table service would bill.
"""

from __future__ import annotations

import argparse
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

from devhost.inprocess import TEST_KEY  # noqa: E402
from devhost.queues import QUEUE_API_VERSION  # noqa: E402
from devhost.testing import Azurite, HostProcess, free_port, start_azurite  # noqa: E402
from tests.acs_double import AcsDouble  # noqa: E402

SENDER = "+18005550100"
GOAL_RATE = 100.0  # keyword events per second, applied and confirmed
GOAL_REQUESTS = 4.0  # Table requests per keyword event
ENQUEUE_LEAD_S = 2.0
ENQUEUE_S_PER_EVENT = 0.01
# Poll an empty queue at most every 100 ms (devhost's local default is 2 s, Azure's 1 min):
# the benchmark measures processing, not how long an idle host takes to notice a burst.
HOST_SETTINGS = {"AzureFunctionsJobHost__extensions__queues__maxPollingInterval": "00:00:00.100"}
THREADS = "PYTHON_THREADPOOL_THREAD_COUNT"


def run_settings() -> dict[str, str]:
    """The worker's thread count `make run` uses (local.settings.sample.json), so that the
    benchmark measures the configuration developers run."""
    sample = json.loads((ROOT / "local.settings.sample.json").read_text(encoding="utf-8"))
    value = sample.get("Values", {}).get(THREADS)
    return {THREADS: value} if value else {}


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
        with contextlib.suppress(OSError, ValueError):
            return Counter(json.loads(self.count_file.read_text(encoding="utf-8")))
        return Counter()


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


@dataclass
class Result:
    events: int
    enqueue_s: float
    applied_s: float
    confirmed_s: float
    requests: Counter[str]
    replies: Counter[str]
    failed_invocations: int
    host_cpu_s: float
    azurite_cpu_s: float
    acs_requests: int

    @property
    def rate(self) -> float:
        return self.events / max(self.applied_s, self.confirmed_s)

    @property
    def requests_per_event(self) -> float:
        return sum(self.requests.values()) / self.events

    @property
    def exactly_once(self) -> bool:
        return len(self.replies) == self.events and set(self.replies.values()) == {1}


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


def run(rig: Rig, n: int, timeout: float) -> Result:
    warm_up(rig)
    people = [f"+1425{i:07d}" for i in range(n)]
    before = rig.counts()
    log_before = rig.host.output().count("(Failed,")
    # All become visible together, after the enqueueing is done: the host's throughput is
    # measured, not this process's sending.
    start = time.time() + ENQUEUE_LEAD_S + n * ENQUEUE_S_PER_EVENT
    enqueue(rig, people, start)
    enqueued = start - time.time()
    host_cpu, azurite_cpu = cpu_seconds(rig.host.proc.pid), cpu_seconds(rig.azurite.proc.pid)
    acs_before = rig.acs.requests
    # Each reply is sent after its event was applied and recorded: wait for all of them (the
    # ACS double is in this process), then for the last reply status to be written.
    wait_until(lambda: len({s.to for s in rig.acs.sent}) == n + 1, timeout)
    wait_until(lambda: confirmed(rig)[0] == n + 1, 30, 0.2)
    applied_count, applied_at = applied(rig)
    assert applied_count == n + 1, f"{applied_count - 1} of {n} opted out"
    host_cpu = cpu_seconds(rig.host.proc.pid) - host_cpu
    azurite_cpu = cpu_seconds(rig.azurite.proc.pid) - azurite_cpu
    wait_until(lambda: rig.counts() == rig.counts(), 10, 0.3)  # the last writes are counted
    time.sleep(0.3)
    return Result(
        events=n,
        enqueue_s=enqueued,
        applied_s=applied_at - start,
        confirmed_s=confirmed(rig)[1] - start,
        requests=relabel(rig.counts() - before, rig.tables),
        replies=Counter(s.to for s in rig.acs.sent if s.to in set(people)),
        failed_invocations=rig.host.output().count("(Failed,") - log_before,
        host_cpu_s=host_cpu,
        azurite_cpu_s=azurite_cpu,
        acs_requests=rig.acs.requests - acs_before,
    )


def relabel(counts: Counter[str], tables: dict[str, str]) -> Counter[str]:
    """Request kinds with the benchmark's private table names shown as the default names."""
    names = {
        tables["OPTOUT_TABLE_NAME"]: "OptOuts",
        tables["OPTOUT_HISTORY_TABLE_NAME"]: "OptOutHistory",
        tables["SENDER_PROGRAMS_TABLE_NAME"]: "SenderPrograms",
    }
    out: Counter[str] = Counter()
    for kind, count in counts.items():
        out[" ".join(names.get(word, word) for word in kind.split())] += count
    return out


def request_lines(requests: Counter[str], events: int) -> list[str]:
    """Requests per event by kind; transactions grouped by table, with their average size."""
    counts: Counter[str] = Counter()
    operations: Counter[str] = Counter()
    for kind, count in requests.items():
        head, _, size = kind.rpartition(" x")
        if "$batch" in kind and size.isdigit():
            counts[head] += count
            operations[head] += count * int(size)
        else:
            counts[kind] += count
    lines = []
    for kind, count in sorted(counts.items()):
        size = f"  ({operations[kind] / count:.1f} operations each)" if operations[kind] else ""
        lines.append(f"    {kind:<36}{count / events:6.2f}{size}")
    return lines


def report(r: Result, env: dict[str, str]) -> str:
    lines = [f"inbound keyword throughput: {r.events} STOPs on sms-inbound at once", ""]
    for name, value in {**HOST_SETTINGS, **env}.items():
        lines.append(f"  host setting {name}={value}")
    lines += [
        f"  enqueued            {r.enqueue_s:6.1f} s before they became visible",
        f"  all applied after   {r.applied_s:6.1f} s",
        f"  all confirmed after {r.confirmed_s:6.1f} s",
        f"  rate                {r.rate:6.1f} events/s (goal >= {GOAL_RATE:.0f})",
        f"  Table requests      {r.requests_per_event:6.2f} per event "
        f"(goal <= {GOAL_REQUESTS:.0f})",
    ]
    lines += request_lines(r.requests, r.events)
    lines.append(f"  ACS send requests   {r.acs_requests / r.events:6.2f} per event (shared)")
    lines += [
        f"  CPU used            host {r.host_cpu_s:.1f} s, Azurite {r.azurite_cpu_s:.1f} s "
        f"(of {os.cpu_count()} cores)",
        f"  failed invocations  {r.failed_invocations:6d} (retried by the host)",
        f"  replies             exactly one per person: {'yes' if r.exactly_once else 'NO'}",
    ]
    met = r.rate >= GOAL_RATE and r.requests_per_event <= GOAL_REQUESTS and r.exactly_once
    lines.append(f"  goal                {'met' if met else 'NOT met'}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE",
        help="a setting for the host, e.g. AzureFunctionsJobHost__extensions__queues__batchSize=32",
    )  # fmt: skip
    args = parser.parse_args()
    extra = run_settings() | dict(item.split("=", 1) for item in args.env)
    rig = start_rig(extra)
    try:
        result = run(rig, args.events, args.timeout)
    finally:
        rig.host.stop()
        rig.acs.stop()
        rig.azurite.stop()
    print(report(result, extra))
    return 0 if result.exactly_once else 1


if __name__ == "__main__":
    raise SystemExit(main())
