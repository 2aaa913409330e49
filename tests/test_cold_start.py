"""Cold start: importing the app, as a worker does when it starts, declares every function and
reads the settings, and loads none of what the functions use (bench/cold_start.py times it).

Each module below is one that a function needs only once it runs; importing it at start would
put it back on every cold start, before the first request can be answered:
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.api import ENDPOINTS, ROUTES, endpoint
from shared.api.pipeline import NO_KEY, Endpoint
from shared.api.wire import ApiResponse

ROOT = Path(__file__).resolve().parent.parent

NOT_AT_START = {
    # The storage SDKs: shared.runtime makes each client the first time a function needs it.
    "azure.data.tables": "the Table store, built by the first call that reads or writes",
    "azure.storage.queue": "the change feed's queue and the poison replay, built on first use",
    "azure.storage.blob": "only the dead-letter replay reads blobs",
    "azure.identity": "credentials are made with the clients (identity-based connections only)",
    "azure.eventgrid": "only when an events topic is configured, with the change feed",
    "azure.communication.sms": "ACS clients: keyword replies and POST /sms, made on first send",
    "cryptography": "page tokens: only a listing's next page encrypts or decrypts one",
    # azure-core's HTTP stack (and requests, urllib3 under it) comes with the first SDK client.
    "azure.core": "every SDK builds on it; none is loaded at start, nor is azure-core",
    "azure.core.pipeline.transport": "the pooled transport is made with the first client",
    "requests": "the transport's HTTP client",
    # What the handlers use: imported by the first request to one of their routes.
    "phonenumbers": "number parsing, used by the handlers and the inbound processor",
    "shared.api.pipeline": "the request pipeline (auth, limits), imported by the first request",
    "shared.inbound.processor": "the queue function's processor, imported by its first message",
    "shared.tables": "the Table adapters, imported by the first call that uses storage",
}

PROBE = """
import json, sys
import function_app
names = [f.get_function_name() for f in function_app.app.get_functions()]
print(json.dumps({"modules": sorted(sys.modules), "functions": names}))
"""

# Every setting that makes a part build or check more (identity storage, ACS, an events topic):
# settings are parsed at start, and still nothing else is loaded.
CONFIGURED = {
    "OPTOUT_ACCESS_KEYS": "dGVzdC1hY2Nlc3Mta2V5LW9mLTMyLWJ5dGVzLWxvbmchIQ==",
    "AzureWebJobsStorage": "",
    "AzureWebJobsStorage__accountName": "stexample",
    "AzureWebJobsStorage__credential": "managedidentity",
    "AzureWebJobsStorage__clientId": "00000000-1111-2222-3333-444444444444",
    "ACS_CONNECTION_STRING": "endpoint=https://acs.example.com/;accesskey=a2V5",
    "OPTOUT_EVENTS_TOPIC_ENDPOINT": "https://topic.example.com/api/events",
}
UNCONFIGURED = {name: "" for name in CONFIGURED}


def fresh_import(settings: dict[str, str]) -> dict[str, list[str]]:
    """sys.modules and the declared functions after `import function_app` in a new process."""
    env = {**os.environ, **settings, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module", params=[UNCONFIGURED, CONFIGURED], ids=["bare", "configured"])
def started(request: pytest.FixtureRequest) -> dict[str, list[str]]:
    return fresh_import(request.param)


@pytest.mark.parametrize("module", sorted(NOT_AT_START))
def test_starting_loads_nothing_a_function_needs_only_when_it_runs(
    started: dict[str, list[str]], module: str
) -> None:
    loaded = [m for m in started["modules"] if m == module or m.startswith(module + ".")]
    assert not loaded, f"{module} is imported at start ({NOT_AT_START[module]}): {loaded[:5]}"


def test_every_function_is_declared_at_start(started: dict[str, list[str]]) -> None:
    expected = [e.name for e in ENDPOINTS] + ["sms_inbound", "optout_events_sweep", "optout_mirror"]
    assert sorted(started["functions"]) == sorted(expected)


def test_the_routes_told_at_start_are_the_endpoints_served() -> None:
    told = sorted((r.name, r.route, r.methods) for r in ROUTES)
    served = sorted((e.name, e.route, e.methods) for e in ENDPOINTS)
    assert told == served
    for route in ROUTES:  # found in the module the route names, which is all a request imports
        assert endpoint(route.name).name == route.name


def test_an_unknown_route_name_is_refused() -> None:
    with pytest.raises(LookupError):
        endpoint("no_such_function")
    # An endpoint takes its route and methods from ROUTES: one without a line there fails at once.
    with pytest.raises(LookupError):
        Endpoint(
            name="no_such_function", handler=lambda call: ApiResponse(200, {}), permission=NO_KEY
        )
