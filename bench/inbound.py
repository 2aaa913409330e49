"""Benchmark: inbound keyword throughput through the real local host.

    make bench            # or: .venv/bin/python -m bench.inbound --events 500

A private in-memory Azurite, a local ACS double (devhost/acs_double.py) that receives the replies,
and the local host as a subprocess (`bench/counting_host.py`: `python -m devhost serve` with the
app's storage requests counted). After one warm-up event, N STOP events (distinct recipients, one
sender, as a campaign's STOPs arrive) are put on `sms-inbound` at once; the benchmark reports
how long until all are applied (opted out in the table) and all confirmed (each person got one
reply and its history row says so), the rate, and the storage requests per event by kind. It
fails (exit code 1) if any person got no reply or more than one.

Azurite and this machine's load make the times a relative measure; the request counts are what
the real Table service would bill.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.inbound_rig import (
    HOST_SETTINGS,
    ROOT,
    Rig,
    applied,
    children,
    confirmed,
    cpu_seconds,
    enqueue,
    start_rig,
    wait_until,
    warm_up,
)

GOAL_RATE = 100.0  # keyword events per second, applied and confirmed
GOAL_REQUESTS = 4.0  # storage requests (Table and queue) per keyword event
ENQUEUE_LEAD_S = 2.0
ENQUEUE_S_PER_EVENT = 0.01
THREADS = "PYTHON_THREADPOOL_THREAD_COUNT"
PROCESSES = "FUNCTIONS_WORKER_PROCESS_COUNT"


def run_settings() -> dict[str, str]:
    """The worker settings `make run` uses (local.settings.sample.json): threads per worker and
    worker processes, so that the benchmark measures the configuration developers run."""
    sample = json.loads((ROOT / "local.settings.sample.json").read_text(encoding="utf-8"))
    values = sample.get("Values", {})
    return {name: values[name] for name in (THREADS, PROCESSES) if values.get(name)}


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
    workers_cpu_s: float
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
    workers = children(rig.host.proc.pid)
    workers_cpu = sum(cpu_seconds(pid) for pid in workers)
    acs_before = rig.acs.requests
    # Each reply is sent after its event was applied and recorded: wait for all of them (the
    # ACS double is in this process), then for the last reply status to be written.
    wait_until(lambda: len({s.to for s in rig.acs.sent}) == n + 1, timeout)
    wait_until(lambda: confirmed(rig)[0] == n + 1, 30, 0.2)
    applied_count, applied_at = applied(rig)
    assert applied_count == n + 1, f"{applied_count - 1} of {n} opted out"
    host_cpu = cpu_seconds(rig.host.proc.pid) - host_cpu
    workers_cpu = sum(cpu_seconds(pid) for pid in workers) - workers_cpu
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
        workers_cpu_s=workers_cpu,
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
    if PROCESSES not in env:
        lines.append(f"  host setting {PROCESSES} not set (1 worker process: in the host)")
    lines += [
        f"  enqueued            {r.enqueue_s:6.1f} s before they became visible",
        f"  all applied after   {r.applied_s:6.1f} s",
        f"  all confirmed after {r.confirmed_s:6.1f} s",
        f"  rate                {r.rate:6.1f} events/s (goal >= {GOAL_RATE:.0f})",
        f"  storage requests    {r.requests_per_event:6.2f} per event "
        f"(goal <= {GOAL_REQUESTS:.0f})",
    ]
    lines += request_lines(r.requests, r.events)
    lines.append(f"  ACS send requests   {r.acs_requests / r.events:6.2f} per event (shared)")
    lines += [
        f"  CPU used            host {r.host_cpu_s:.1f} s, worker processes "
        f"{r.workers_cpu_s:.1f} s, Azurite {r.azurite_cpu_s:.1f} s (of {os.cpu_count()} cores)",
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
