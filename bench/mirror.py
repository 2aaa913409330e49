"""`make bench` rows for the mirror into ACS (docs/acs-mirror.md): what a change of a mirrored
sender costs on top of an unmirrored one, and what draining it into ACS costs, in storage
requests (Table and queue) and time, with the ACS double (devhost/acs_double.py) as ACS.

The drain rows start from n pending changes (made, not counted) and measure one drain: the
lease, the pending range read, the membership reads, one or two ACS calls and the deletes.
"""

from __future__ import annotations

import os

from bench.common import measure
from devhost.acs_double import AcsDouble
from devhost.inprocess import StorageRecorder, call
from shared import runtime

MIRRORED = "+18005550121"
PLAIN = "+18005550122"

Row = tuple[str, float, float, float, int, float]


def mirror_rows(rounds: int, recorder: StorageRecorder) -> list[Row]:
    acs = AcsDouble().start()
    os.environ["ACS_CONNECTION_STRING"] = acs.connection_string
    runtime.reset()
    try:
        call("PUT", f"sms/senders/{MIRRORED}/program", {"mirrorToAcs": True}, query="")
        rows: list[Row] = []
        for sender, label in ((PLAIN, "not mirrored"), (MIRRORED, "mirrored")):
            body = {"from": sender, "recipients": [{"to": "+14255550777"}]}
            add = lambda b=body: call("POST", "sms/optouts:add", b)  # noqa: E731
            remove = lambda b=body: call("POST", "sms/optouts:remove", b)  # noqa: E731
            rows.append((f"add x1 ({label})", *measure(add, rounds, recorder, remove)))
        drainer = runtime.mirror_drainer()
        drainer.drain(MIRRORED)  # what the add rows left
        for n in (1, 100):
            people = [f"+1425556{i:04d}" for i in range(n)]
            body = {"from": MIRRORED, "recipients": [{"to": p} for p in people]}

            flip = iter(range(10**9))

            def pend(b: dict[str, object] = body, flip: object = flip) -> None:
                # One change of each person (out, then in, then out...): n pending items.
                action = "add" if next(flip) % 2 == 0 else "remove"  # type: ignore[call-overload]
                call("POST", f"sms/optouts:{action}", b)

            timed = measure(lambda: drainer.drain(MIRRORED), rounds, recorder, pend)
            rows.append((f"mirror drain x{n}", *timed))
        return rows
    finally:
        os.environ.pop("ACS_CONNECTION_STRING", None)
        runtime.reset()
        acs.stop()
