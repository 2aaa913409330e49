"""Any request, well-formed or not, gets a response that shared/openapi.json describes, and never
a 5xx: generated requests to every endpoint, in process against a real Azurite. (The check
itself runs on every call: tests/conftest.py installs it.)"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devhost.inprocess import OTHER_KEY, TEST_KEY, StorageRecorder, app_against, call
from devhost.testing import Azurite
from shared.api import ENDPOINTS
from shared.api.wire import API_VERSIONS

SENDERS = ["+18005550100", "%2B18005550100", "18005550100", "not-a-number", "+1"]
NUMBERS = st.sampled_from(["+14255550123", "+15555555551", "+123", "", "x", "+4420"])
REPLAY = "sms/inbound/poison:replay"  # signed calls would move the shared Azurite's messages

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)
well_formed = st.fixed_dictionaries(
    {
        "from": st.just("+18005550100"),
        "recipients": st.lists(st.fixed_dictionaries({"to": NUMBERS}), min_size=1, max_size=4),
    }
)
optout_bodies = well_formed | st.fixed_dictionaries(
    {},
    optional={
        "from": NUMBERS | json_values,
        "recipients": st.lists(st.fixed_dictionaries({"to": NUMBERS}) | json_values, max_size=4)
        | json_values,
    },
)
program_bodies = st.just({"brand": "Contoso", "helpText": "{brand}: reply STOP"}) | st.dictionaries(
    st.sampled_from(["brand", "helpContact", "optOutText", "helpText", "plainLanguageOptOut", "x"]),
    st.sampled_from(["Contoso", "{brand}: reply STOP", "{nope}", "", True]) | json_values,
    max_size=3,
)
queries = st.fixed_dictionaries(
    {"api-version": st.sampled_from([*sorted(API_VERSIONS), "2026-01-23", "", "2021-03-07"])},
    optional={
        name: st.sampled_from(["0", "5", "1001", "%2B14255550123", "abc", ""])
        for name in ["maxpagesize", "pageSize", "pageToken", "recipient", "limit"]
    },
)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    endpoint = draw(st.sampled_from(ENDPOINTS))
    method = draw(st.sampled_from(endpoint.methods))
    route = endpoint.route.replace("{sender}", draw(st.sampled_from(SENDERS)))
    body = draw(
        st.binary(max_size=16).map(lambda b: {"raw": b})
        | (program_bodies if "program" in route else optout_bodies).map(
            lambda b: {"raw": json.dumps(b).encode()}
        )
    )
    query = "&".join(f"{k}={v}" for k, v in draw(queries).items())
    keys = [None, OTHER_KEY] if route == REPLAY else [TEST_KEY] * 4 + [None, OTHER_KEY]
    content_type = draw(st.sampled_from(["application/json"] * 4 + ["text/plain", "a/x+json"]))
    return {
        "method": method,
        "route": route,
        "query": query,
        "key": draw(st.sampled_from(keys)),
        "headers": {"content-type": content_type},
        **body,
    }


@pytest.fixture
def app(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[StorageRecorder]:
    suffix = uuid.uuid4().hex[:8]
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "OPTOUT_ACCESS_KEYS": TEST_KEY,
        "OPTOUT_TABLE_NAME": f"FuzzOptOuts{suffix}",
        "OPTOUT_HISTORY_TABLE_NAME": f"FuzzHistory{suffix}",
        "SENDER_PROGRAMS_TABLE_NAME": f"FuzzPrograms{suffix}",
    }
    with app_against(env, monkeypatch) as recorder:
        yield recorder


def test_every_response_to_generated_requests_is_described(app: StorageRecorder) -> None:
    seen: set[tuple[str, int]] = set()

    @settings(
        max_examples=200,
        deadline=None,
        derandomize=True,  # the same requests every run: no flaky coverage assertion
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(requests())
    def run(request: dict[str, Any]) -> None:
        status, _ = call(**request)  # raises unless shared/openapi.json describes the response
        assert status < 500, request
        seen.add((request["route"].split("/")[-1], status))

    run()
    assert {status for _, status in seen} >= {200, 400, 401, 415}, seen  # refusals and successes
    assert any(name.startswith("optouts:") and status == 200 for name, status in seen), seen
