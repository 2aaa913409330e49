"""The mirror into ACS's opt-out database and reconcile, end to end: the app in the local host
(real HTTP, the `optout-mirror` queue trigger), Azurite, and the ACS double behind it, which
implements ACS's opt-out API per sender, checks the HMAC of every call and records each one.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from click.testing import CliRunner

from devhost.acs_double import ACS_KEY
from devhost.inprocess import TEST_KEY
from devhost.testing import Azurite
from optouts_cli.main import cli
from shared.domain.phone import mask
from shared.feed.mirror import AcsOptOutsFailed
from tests.hosted import HostedApp, hosted, sms_received
from tests.hosted import wait_for as hosted_wait_for

T = TypeVar("T")
V = "api-version=2026-01-23"
# Senders of this module only; recipients +1425555xxxx (never logged unmasked: checked at the end).
ORDER, SOURCES, GROUP_STOP, GROUP_MIRRORED, DOWN, REFUSED, RECON = (
    "+18005550171",
    "+18005550172",
    "+18005550173",
    "+18005550174",
    "+18005550175",
    "+18005550176",
    "+18005550177",
)


def person(n: int) -> str:
    return f"+1425555{n:04d}"


class App(HostedApp):
    timeout = 60.0

    def change(self, action: str, sender: str, *people: str) -> None:
        body = {"from": sender, "recipients": [{"to": p} for p in people]}
        res = self.signed("POST", f"/sms/optouts:{action}?{V}", body)
        assert res.status_code == 200, res.text

    def here(self, sender: str, people: list[str]) -> set[str]:
        body = {"from": sender, "recipients": [{"to": p} for p in people]}
        res = self.signed("POST", f"/sms/optouts:check?{V}", body)
        assert res.status_code == 200, res.text
        return {i["to"] for i in res.json()["value"] if i["isOptedOut"]}

    def program(self, sender: str, **fields: Any) -> None:
        res = self.signed("PUT", f"/sms/senders/{sender}/program", fields)
        assert res.status_code == 200, res.text

    def status(self, sender: str) -> dict[str, Any]:
        res = self.signed("GET", f"/sms/senders/{sender}/mirror")
        assert res.status_code == 200, res.text
        return dict(res.json())

    def in_acs(self, sender: str) -> set[str]:
        with self.acs._lock:
            return set(self.acs.optouts.get(sender, set()))

    def keyword(self, sender: str, who: str, text: str) -> None:
        # Sent now, to the microsecond: a START stamped before the API add it follows would be
        # `superseded` (an opt-in never undoes a newer API opt-out) and never reach ACS.
        ts = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        self.put(sms_received(sender, who, text, ts))

    def reconcile_cli(self, sender: str, *more: str) -> Any:
        args = ["--endpoint", self.url, "--key", TEST_KEY, "--retries", "0"]
        return CliRunner().invoke(cli, [*args, "reconcile", "--sender", sender, *more])


def wait_for(condition: Callable[[], T], timeout: float = 20.0, what: str = "") -> T:
    return hosted_wait_for(condition, timeout, what)


@pytest.fixture(scope="module")
def app(azurite: Azurite) -> Iterator[App]:
    suffix = uuid.uuid4().hex[:8]
    env = {
        "OPTOUT_ACCESS_KEYS": TEST_KEY,
        "OPTOUT_TABLE_NAME": f"MirOptOuts{suffix}",
        "OPTOUT_HISTORY_TABLE_NAME": f"MirHistory{suffix}",
        "SENDER_PROGRAMS_TABLE_NAME": f"MirPrograms{suffix}",
        "GROUP_OPTOUTS_TABLE_NAME": f"MirGroups{suffix}",
        "OPTOUT_MIRROR_TABLE_NAME": f"Mirror{suffix}",
        "SEND_READ_TIMEOUT_SECONDS": "5",
        "AzureFunctionsJobHost__extensions__queues__maxPollingInterval": "00:00:00.500",
    }
    with hosted(App, azurite, env) as app:
        yield app
    assert "42555" not in app.host.output(), app.host.output()[-3000:]


def drained(app: App, sender: str, people: list[str]) -> bool:
    status = app.status(sender)
    return status["pending"] == 0 and app.here(sender, people) == (app.in_acs(sender) & set(people))


def test_concurrent_changes_reach_acs_in_order_within_seconds(app: App) -> None:
    app.program(ORDER, mirrorToAcs=True)
    people = [person(100 + i) for i in range(6)]
    rng = random.Random(7)
    plans = [[(rng.choice(["add", "remove"]), rng.sample(people, 3)) for _ in range(8)]]
    plans += [[(rng.choice(["add", "remove"]), rng.sample(people, 3)) for _ in range(8)]]
    plans += [[(rng.choice(["add", "remove"]), rng.sample(people, 3)) for _ in range(8)]]

    def run(plan: list[tuple[str, list[str]]]) -> None:
        for action, who in plan:
            app.change(action, ORDER, *who)

    threads = [threading.Thread(target=run, args=(p,)) for p in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = time.monotonic()
    wait_for(lambda: drained(app, ORDER, people), 15, "mirror drained")
    assert time.monotonic() - done < 15
    # ACS holds exactly what the service holds, and its calls were the opt-out API's, each of
    # at most 100 recipients, for this sender, at the stable api-version.
    calls = [c for c in app.acs.optout_calls if c.sender == ORDER]
    assert calls and all(c.action in ("add", "remove") for c in calls)
    assert all(1 <= len(c.recipients) <= 100 and c.api_version == "2026-01-23" for c in calls)
    # The last call that named each person set the state the service holds (never an older one
    # after a newer one).
    final_here = app.here(ORDER, people)
    for p in people:
        last = [c.action for c in calls if p in c.recipients][-1:]
        if last:
            assert (last[0] == "add") is (p in final_here), p
    status = app.status(ORDER)
    assert status["mirrorToAcs"] is True and status["lagSeconds"] == 0.0
    assert status["poisoned"] == 0 and "lastMirroredAt" in status


def test_every_source_reaches_acs(app: App) -> None:
    app.program(SOURCES, mirrorToAcs=True)
    api, imported, stop, start = person(200), person(201), person(202), person(203)
    app.change("add", SOURCES, api)
    res = app.signed("POST", f"/sms/senders/{SOURCES}/optouts:import", [imported])
    assert res.status_code == 200, res.text
    app.keyword(SOURCES, stop, "STOP")
    app.change("add", SOURCES, start)
    wait_for(lambda: app.in_acs(SOURCES) == {api, imported, stop, start}, 20, "adds")
    app.keyword(SOURCES, start, "START")
    app.change("remove", SOURCES, api)
    wait_for(lambda: app.in_acs(SOURCES) == {imported, stop}, 20, "removes")
    # Revoke-all: a STOP to another sender of the group opts the person out of the mirrored one.
    app.program(GROUP_MIRRORED, group="mirrorbrand", revokeAll=True, mirrorToAcs=True)
    app.program(GROUP_STOP, group="mirrorbrand", revokeAll=True)
    brand = person(204)
    app.keyword(GROUP_STOP, brand, "STOP")
    wait_for(lambda: app.in_acs(GROUP_MIRRORED) == {brand}, 20, "group-wide STOP")
    assert app.in_acs(GROUP_STOP) == set()  # not mirrored: ACS never hears of it


def test_acs_down_then_back_nothing_lost_nothing_doubled(app: App) -> None:
    app.program(DOWN, mirrorToAcs=True)
    people = [person(300), person(301)]
    app.acs.fail_with(503, 503)
    app.change("add", DOWN, *people)
    wait_for(lambda: app.status(DOWN).get("lastError"), 15, "a failure seen")
    wait_for(lambda: app.in_acs(DOWN) == set(people), 20, "mirrored once ACS is back")
    status = wait_for(lambda: (s := app.status(DOWN))["pending"] == 0 and s, 10, "no lag")
    assert status["failedTries"] == 0 and status["poisoned"] == 0
    # Each person was added by exactly one accepted call: nothing lost, nothing doubled.
    adds = [p for c in app.acs.optout_calls if c.sender == DOWN for p in c.recipients]
    assert sorted(adds) == sorted(people)


def test_acs_refusing_the_credentials(app: App) -> None:
    app.program(REFUSED, mirrorToAcs=True)
    app.acs.key = base64.b64encode(b"another-key-than-the-service-has-012345").decode()
    try:
        app.change("add", REFUSED, person(400))
        wait_for(lambda: app.status(REFUSED).get("lastError"), 15, "refusal seen")
        status = app.status(REFUSED)
        assert "auth-failed" in status["lastError"] and status["pending"] == 1
        assert app.in_acs(REFUSED) == set()
        res = app.signed("POST", f"/sms/senders/{REFUSED}/optouts:reconcile")
        assert res.status_code == 502, res.text
        assert "credentials" in res.json()["error"]["message"]
        assert "upstream" in res.json()["error"]["message"]
        result = app.reconcile_cli(REFUSED)
        assert result.exit_code == 1 and "could not run" in result.output
    finally:
        app.acs.key = ACS_KEY
    wait_for(lambda: app.in_acs(REFUSED) == {person(400)}, 30, "mirrored once accepted")


def test_reconcile_both_ways_with_fix_then_no_drift(app: App) -> None:
    only_here, both, only_acs, opted_in_since = person(500), person(501), person(502), person(503)
    app.change("add", RECON, only_here, both, opted_in_since)
    app.change("remove", RECON, opted_in_since)  # history: an opt-in after the opt-out
    with app.acs._lock:
        app.acs.optouts[RECON] = {both, only_acs, opted_in_since}
    # only_acs is known to the service through its history only (a HELP, say): add it there.
    app.keyword(RECON, only_acs, "HELP")
    history = f"/sms/senders/{RECON}/history?maxpagesize=1000"
    wait_for(
        lambda: only_acs in json.dumps(app.signed("GET", history).json()), 15, "the HELP recorded"
    )

    report = app.reconcile_cli(RECON)
    assert report.exit_code == 0, report.output
    assert f"{mask(only_here)}  opted out here, not in ACS" in report.output
    assert f"{mask(only_acs)}  opted out in ACS, not here" in report.output
    assert f"{mask(opted_in_since)}  opted out in ACS, not here" in report.output
    assert app.in_acs(RECON) == {both, only_acs, opted_in_since}  # nothing changed without --fix

    # Turning the mirror on for a sender that has a list: reconcile --fix brings ACS up to date.
    app.program(RECON, mirrorToAcs=True)
    fixed = app.reconcile_cli(RECON, "--fix")
    assert fixed.exit_code == 0, fixed.output
    assert f"{mask(only_here)}  fixed: addedToAcs" in fixed.output
    assert f"{mask(only_acs)}  fixed: importedHere" in fixed.output
    assert f"{mask(opted_in_since)}  fixed: removedFromAcs" in fixed.output
    assert app.in_acs(RECON) == {only_here, both, only_acs}
    assert app.here(RECON, [only_here, both, only_acs, opted_in_since]) == {
        only_here,
        both,
        only_acs,
    }
    listed = app.signed("GET", f"/sms/senders/{RECON}/optouts").json()["value"]
    assert {e["to"]: e["source"] for e in listed}[only_acs] == "carrier"
    rows = app.signed("GET", f"{history}&recipient=%2B{only_acs[1:]}").json()["value"]
    imported = [r for r in rows if r["source"] == "carrier"]
    assert [(r["action"], r["actor"]) for r in imported] == [("optout", "carrier")]

    again = app.reconcile_cli(RECON)
    assert again.exit_code == 0
    assert "opted out here, not in ACS: 0; opted out in ACS, not here: 0" in again.output
    # And mirroring from here on: a change reaches ACS with no reconcile.
    app.change("remove", RECON, both)
    wait_for(lambda: app.in_acs(RECON) == {only_here, only_acs}, 15, "mirrored")


def test_reconcile_reaches_a_group_wide_opt_out_made_through_another_sender(app: App) -> None:
    member, stop_to = "+18005550178", "+18005550179"
    app.program(member, group="reconbrand", revokeAll=True)
    app.program(stop_to, group="reconbrand", revokeAll=True)
    who = person(600)
    app.keyword(stop_to, who, "STOP")
    wait_for(lambda: app.here(member, [who]), 15, "group-wide STOP applied")
    # The member's own tables never saw this person: the group's entries are paged too.
    fixed = app.reconcile_cli(member, "--fix")
    assert fixed.exit_code == 0, fixed.output
    assert f"{mask(who)}  fixed: addedToAcs" in fixed.output
    assert app.in_acs(member) == {who}


def test_the_mirror_client_speaks_the_wire_this_service_serves(app: App) -> None:
    """This service speaks ACS's opt-out wire (its answers checked against the description),
    so it can stand in for ACS: the mirror's client, pointed at it, adds, checks and removes."""
    from azure.communication.sms import SmsClient
    from azure.core.credentials import AzureKeyCredential

    from shared.api.acs_optouts import AcsOptOutClient

    sms = SmsClient(app.url, AzureKeyCredential(TEST_KEY), retry_total=0)
    client = AcsOptOutClient(sms, connect_timeout=5, read_timeout=20)
    sender, who = "+18005550170", person(700)
    assert [(i.to, i.status) for i in client.call("add", sender, [who, "+123"])] == [
        (who, 200),
        ("+123", 400),
    ]
    assert [i.opted_out for i in client.call("check", sender, [who])] == [True]
    client.call("remove", sender, [who])
    assert [i.opted_out for i in client.call("check", sender, [who])] == [False]
    wrong = AcsOptOutClient(
        SmsClient(app.url, AzureKeyCredential(ACS_KEY), retry_total=0),
        connect_timeout=5,
        read_timeout=20,
    )
    with pytest.raises(AcsOptOutsFailed) as refused:
        wrong.call("check", sender, [who])
    assert refused.value.reason == "auth-failed" and refused.value.status == 401
