"""The opt-out API end to end through the registered functions, against a real Azurite."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from azure.data.tables import TableServiceClient

from devhost.inprocess import OTHER_KEY, TEST_KEY, StorageRecorder, app_against, call
from devhost.query_rules import unchecked
from devhost.testing import Azurite
from shared.api.wire import storage_unavailable
from shared.platform.hmac_auth import sign_request

ADD, REMOVE, CHECK = "sms/optouts:add", "sms/optouts:remove", "sms/optouts:check"


@pytest.fixture
def tables() -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {
        "OPTOUT_TABLE_NAME": f"OptOuts{suffix}",
        "OPTOUT_HISTORY_TABLE_NAME": f"History{suffix}",
        "SENDER_PROGRAMS_TABLE_NAME": f"Programs{suffix}",
    }


@pytest.fixture
def app(
    azurite: Azurite, tables: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[StorageRecorder]:
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "OPTOUT_ACCESS_KEYS": f"{TEST_KEY}",
        **tables,
    }
    with app_against(env, monkeypatch) as recorder:
        yield recorder
    # The real Table service refuses a $filter with more than 15 comparisons.
    assert recorder.max_comparisons() <= 15


@pytest.fixture
def service(azurite: Azurite) -> TableServiceClient:
    return TableServiceClient.from_connection_string(azurite.connection_string)


def body(sender: str, *tos: Any) -> dict[str, Any]:
    return {"from": sender, "recipients": [{"to": t} for t in tos]}


def rows(service: TableServiceClient, table: str) -> list[dict[str, Any]]:
    """The table's rows, without the change feed's and the time copies (`~...`, beside the
    entries) and the owed markers (in partitions `~owed|...`)."""
    with unchecked():  # the test's look at the whole table
        entities = list(service.get_table_client(table).list_entities())
    return [
        dict(e)
        for e in entities
        if not e["RowKey"].startswith("~") and not e["PartitionKey"].startswith("~owed|")
    ]


SENDER = "+18001234567"
INVALID = "Invalid recipient phone number format"


def test_add_check_remove_round_trip(
    app: StorageRecorder, service: TableServiceClient, tables: dict[str, str]
) -> None:
    status, res = call("POST", ADD, body(SENDER, "+15555555551", "+123", "+447700900123"))
    assert status == 200
    assert res == {
        "value": [
            {"to": "+15555555551", "httpStatusCode": 200},
            {
                "to": "+123",
                "httpStatusCode": 400,
                "errorMessage": "Invalid recipient phone number format",
            },
            {"to": "+447700900123", "httpStatusCode": 200},
        ]
    }
    stored = {e["RowKey"]: e for e in rows(service, tables["OPTOUT_TABLE_NAME"])}
    assert set(stored) == {"+15555555551", "+447700900123"}
    uk = stored["+447700900123"]
    assert (uk["PartitionKey"], uk["Sender"], uk["Recipient"]) == (
        SENDER,
        SENDER,
        "+447700900123",
    )
    assert uk["Country"] == "GB"
    assert stored["+15555555551"]["Country"] == "US"  # no specific region: main country of +1
    assert uk["Source"] == "api" and uk["OptedOutAt"] is not None

    status, res = call("POST", CHECK, body(SENDER, "+15555555551", "+15555555552", "+123"))
    assert status == 200
    assert res["value"] == [
        {"to": "+15555555551", "isOptedOut": True, "httpStatusCode": 200},
        {"to": "+15555555552", "isOptedOut": False, "httpStatusCode": 200},
        {"to": "+123", "httpStatusCode": 400, "errorMessage": INVALID},
    ]

    status, res = call("POST", REMOVE, body(SENDER, "+15555555551", "+15555555553"))
    assert status == 200
    assert [i["httpStatusCode"] for i in res["value"]] == [200, 200]
    assert {e["RowKey"] for e in rows(service, tables["OPTOUT_TABLE_NAME"])} == {"+447700900123"}
    status, res = call("POST", CHECK, body(SENDER, "+15555555551"))
    assert res["value"][0]["isOptedOut"] is False

    history = rows(service, tables["OPTOUT_HISTORY_TABLE_NAME"])
    actions = sorted((h["Recipient"], h["Action"], h["Source"]) for h in history)
    assert actions == [  # one row per change; +15555555553 was not opted out: no change
        ("+15555555551", "optin", "api"),
        ("+15555555551", "optout", "api"),
        ("+447700900123", "optout", "api"),
    ]


def test_add_and_remove_are_idempotent(
    app: StorageRecorder, service: TableServiceClient, tables: dict[str, str]
) -> None:
    for _ in range(2):
        status, res = call("POST", ADD, body(SENDER, "+15555555551"))
        assert (status, res["value"][0]["httpStatusCode"]) == (200, 200)
    assert len(rows(service, tables["OPTOUT_TABLE_NAME"])) == 1
    for _ in range(2):
        status, res = call("POST", REMOVE, body(SENDER, "+15555555551"))
        assert (status, res["value"][0]["httpStatusCode"]) == (200, 200)
    assert rows(service, tables["OPTOUT_TABLE_NAME"]) == []


def test_senders_are_separate_partitions(app: StorageRecorder) -> None:
    call("POST", ADD, body(SENDER, "+15555555551"))
    _, res = call("POST", CHECK, body("+18005550199", "+15555555551"))
    assert res["value"][0]["isOptedOut"] is False


def test_hundred_recipients_with_duplicates_cost_a_fixed_number_of_requests(
    app: StorageRecorder, service: TableServiceClient, tables: dict[str, str]
) -> None:
    numbers = [f"+1425555{i:04d}" for i in range(95)]
    request = [*numbers, numbers[0], numbers[1], numbers[2], "+1", numbers[3]]  # 100 items
    call("POST", ADD, body(SENDER, "+15555555551"))  # creates the tables first
    call("POST", REMOVE, body(SENDER, "+15555555551"))
    call("POST", CHECK, body(SENDER, "+15555555551"))
    app.clear()
    status, res = call("POST", ADD, body(SENDER, *request))
    assert status == 200
    assert len(res["value"]) == 100
    assert [i["to"] for i in res["value"]] == request
    assert [i["httpStatusCode"] for i in res["value"]].count(400) == 1
    # No reads (new people are assumed new: a wrong guess would fail the transaction); one
    # transaction of the 95 owed markers, three of 33 entries + their time copies + feed rows,
    # one event per change on the events queue, one transaction clearing the published events,
    # two for the history rows (50 rows and their time copies each).
    table = [p for _, p, _ in app.requests if not p.endswith("/messages")]
    events = [m for m, p, _ in app.requests if p.endswith("/sms-optout-events/messages")]
    assert [m for m, _, _ in app.requests if m == "GET"] == []
    assert len(table) == 1 + 3 + 1 + 2 and all(p.endswith("$batch") for p in table)
    assert events == ["POST"] * 95
    assert len(rows(service, tables["OPTOUT_TABLE_NAME"])) == 95

    app.clear()
    status, res = call("POST", CHECK, body(SENDER, *request))
    assert all(i["isOptedOut"] for i in res["value"] if i["httpStatusCode"] == 200)
    # 95 distinct numbers: 95 concurrent point reads, no query (an `or` of RowKeys would scan
    # the partition on the real service); the sender's program (its group) is remembered from
    # the earlier check: at most 30 s old (docs/storage.md).
    assert app.count == 95
    assert {m for m, _, _ in app.requests} == {"GET"}
    assert app.max_comparisons() == 0

    app.clear()
    status, res = call("POST", REMOVE, body(SENDER, *request))
    assert status == 200 and [i["httpStatusCode"] for i in res["value"]].count(200) == 99
    # All of them were opted out (their feed rows say so): 95 feed-row point reads, the owed
    # markers, three transactions deleting entries and their time copies with their feed rows,
    # 95 events, the clear, the history (two transactions).
    assert app.count == 95 + 1 + 3 + 95 + 1 + 2
    assert rows(service, tables["OPTOUT_TABLE_NAME"]) == []


def test_remove_of_partly_missing_entries_reads_then_deletes_only_those(
    app: StorageRecorder, service: TableServiceClient, tables: dict[str, str]
) -> None:
    present = [f"+1425555{i:04d}" for i in range(30)]
    missing = [f"+1425666{i:04d}" for i in range(40)]
    call("POST", ADD, body(SENDER, *present))
    app.clear()
    status, res = call("POST", REMOVE, body(SENDER, *present, *missing))
    assert status == 200 and {i["httpStatusCode"] for i in res["value"]} == {200}
    assert rows(service, tables["OPTOUT_TABLE_NAME"]) == []
    # 70 feed-row point reads: 30 say "opted out"; the 40 without one have their entries read;
    # the 30 owed markers and one transaction for the 30 changes, their 30 events, the clear, the
    # history batch.
    assert app.count == 70 + 40 + 1 + 1 + 30 + 1 + 1


@pytest.mark.parametrize("version", ["2024-12-10-preview", "2025-05-29-preview", "2026-01-23"])
def test_supported_api_versions(app: StorageRecorder, version: str) -> None:
    status, _ = call("POST", CHECK, body(SENDER, "+15555555551"), query=f"api-version={version}")
    assert status == 200


@pytest.mark.parametrize(
    ("query", "code"),
    [("", "ApiVersionUnspecified"), ("api-version=2021-03-07", "InvalidApiVersion")],
)
def test_api_version_errors(app: StorageRecorder, query: str, code: str) -> None:
    status, res = call("POST", ADD, body(SENDER, "+15555555551"), query=query)
    assert status == 400
    assert res["error"]["code"] == code
    assert app.count == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b"not json", "$"),
        (b"[1, 2]", "$"),
        (b'{"recipients": [{"to": "+15555555551"}]}', "From"),
        (b'{"from": 18001234567, "recipients": [{"to": "+15555555551"}]}', "From"),
        (b'{"from": "+123", "recipients": [{"to": "+15555555551"}]}', "From"),
        (b'{"from": "+18001234567"}', "Recipients"),
        (b'{"from": "+18001234567", "recipients": {"to": "+1"}}', "Recipients"),
        (b'{"from": "+18001234567", "recipients": []}', "Recipients"),
        (b'{"from": "+18001234567", "recipients": [{"tu": "+15555555551"}]}', "Recipients[0].To"),
        (b'{"from": "+18001234567", "recipients": ["+15555555551"]}', "Recipients[0]"),
        (b'{"from": "+18001234567", "recipients": [{"to": 15555555551}]}', "Recipients[0].To"),
        (b"\xff\xfe\x00", "$"),
    ],
)
def test_bad_bodies_are_400_naming_the_field_and_change_nothing(
    app: StorageRecorder, payload: bytes, field: str
) -> None:
    status, res = call("POST", ADD, raw=payload)
    assert status == 400
    assert res["title"] == "One or more validation errors occurred."
    assert field in res["errors"]
    assert app.count == 0


def test_over_100_recipients_is_400(app: StorageRecorder) -> None:
    tos = [f"+1425555{i:04d}" for i in range(101)]
    status, res = call("POST", ADD, body(SENDER, *tos))
    assert status == 400 and "Recipients" in res["errors"]
    assert app.count == 0


def test_body_over_the_limit_is_413(app: StorageRecorder) -> None:
    status, res = call("POST", ADD, raw=b'{"from": "' + b"x" * 70_000 + b'"}')
    assert status == 413
    assert res["error"]["code"] == "RequestEntityTooLarge"


def test_wrong_method_and_unknown_route(app: StorageRecorder) -> None:
    assert call("GET", ADD)[0] == 405
    assert call("POST", "sms/optouts:delete", body(SENDER, "+15555555551"))[0] == 404


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"key": None}, "Authorization header is missing"),
        ({"key": OTHER_KEY}, "not valid"),
        ({"headers": {"x-ms-content-sha256": "AAAA"}}, "differs from generated content hash"),
        ({"headers": {"x-ms-date": "Thu, 10 Aug 2023 12:39:55 GMT"}}, "too far"),
        ({"headers": {"authorization": "Bearer abc"}}, "HMAC-SHA256"),
        ({"headers": "signed-for-another-host"}, "not valid"),
        ({"headers": "signed-for-another-path"}, "not valid"),
    ],
)
def test_unauthenticated_requests_get_401_and_change_nothing(
    app: StorageRecorder, kwargs: dict[str, Any], fragment: str
) -> None:
    payload = body(SENDER, "+15555555551")
    if kwargs.get("headers") == "signed-for-another-host":
        url = "http://other.example:7071/sms/optouts:add?api-version=2026-01-23"
        kwargs = {"headers": sign_request("POST", url, json.dumps(payload).encode(), TEST_KEY)}
    elif kwargs.get("headers") == "signed-for-another-path":
        url = "http://127.0.0.1:7071/sms/optouts:check?api-version=2026-01-23"
        kwargs = {"headers": sign_request("POST", url, json.dumps(payload).encode(), TEST_KEY)}
    status, res = call("POST", ADD, payload, **kwargs)
    assert status == 401
    assert res["error"]["code"] == "Denied"
    assert fragment in res["error"]["message"]
    assert app.count == 0


def test_either_configured_key_is_accepted(
    azurite: Azurite, tables: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "OPTOUT_ACCESS_KEYS": f"{OTHER_KEY}, {TEST_KEY}",
        **tables,
    }
    with app_against(env, monkeypatch):
        assert call("POST", CHECK, body(SENDER, "+15555555551"), key=TEST_KEY)[0] == 200
        assert call("POST", CHECK, body(SENDER, "+15555555551"), key=OTHER_KEY)[0] == 200


def test_health_reports_storage(
    azurite: Azurite, tables: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"AzureWebJobsStorage": azurite.connection_string, "OPTOUT_ACCESS_KEYS": TEST_KEY}
    with app_against({**env, **tables}, monkeypatch):
        status, res = call("GET", "health", key=None, query="")
        assert (status, res["status"]) == (200, "healthy")


def dead_storage_env(tables: dict[str, str]) -> dict[str, str]:
    from devhost.testing import ACCOUNT, ACCOUNT_KEY, free_port

    port = free_port()  # nothing listens there
    return {
        "AzureWebJobsStorage": (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"TableEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
        ),
        "OPTOUT_ACCESS_KEYS": TEST_KEY,
        **tables,
    }


def test_storage_outage_is_503_not_a_stack_trace(
    tables: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with app_against(dead_storage_env(tables), monkeypatch):
        status, res = call("GET", "health", key=None, query="")
        assert (status, res["status"]) == (503, "unhealthy")
        for route in (ADD, REMOVE, CHECK):
            status, res = call("POST", route, body(SENDER, "+15555555551"))
            assert status == 503
            assert res["error"]["code"] == "ServiceUnavailable"


def test_misconfigured_keys_are_a_clear_error(
    azurite: Azurite, tables: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"AzureWebJobsStorage": azurite.connection_string, "OPTOUT_ACCESS_KEYS": "%%%", **tables}
    with app_against(env, monkeypatch):
        status, res = call("POST", CHECK, body(SENDER, "+15555555551"))
        assert status == 500
        assert res["error"]["code"] == "ServiceMisconfigured"


# How the ACS clients answer a 503 with Retry-After: the JS client (core-rest-pipeline's
# throttling strategy, 3 retries by default) and the Python one (azure-core's RetryPolicy,
# which retries a POST's 503) wait Retry-After seconds and send the request again.
CLIENT_RETRIES = 3
RETRY_AFTER_SECONDS = float(storage_unavailable().headers["Retry-After"])


def test_concurrent_adds_and_removes_on_overlapping_recipients(
    app: StorageRecorder, service: TableServiceClient, tables: dict[str, str]
) -> None:
    import random
    from concurrent.futures import ThreadPoolExecutor

    people = [f"+1425557{i:04d}" for i in range(8)]
    rng = random.Random(7)
    jobs = [(rng.choice([ADD, REMOVE]), rng.sample(people, rng.randint(1, 5))) for _ in range(120)]

    def run(job: tuple[str, list[str]]) -> int:
        """One request, retried as the ACS clients retry: 24 threads changing the same 8
        people is far more contention on one pair than real traffic, and the service may
        refuse a change that lost MAX_CONFLICT_RETRIES races in a row with a retryable 503 +
        Retry-After (nothing else is retried: any other status fails the test below)."""
        for _ in range(CLIENT_RETRIES):
            status, res = call("POST", job[0], body(SENDER, *job[1]))
            if status != 503:
                return status
            assert res["error"]["code"] == "ServiceUnavailable"  # and Retry-After: the check
            time.sleep(RETRY_AFTER_SECONDS)
        return call("POST", job[0], body(SENDER, *job[1]))[0]

    with ThreadPoolExecutor(24) as pool:
        statuses = list(pool.map(run, jobs))
    assert set(statuses) == {200}
    # Afterwards a remove of everyone always leaves nobody opted out.
    assert call("POST", REMOVE, body(SENDER, *people))[0] == 200
    assert rows(service, tables["OPTOUT_TABLE_NAME"]) == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_non_json_content_type_is_415_and_changes_nothing(
    app: StorageRecorder, content_type: str
) -> None:
    status, res = call(
        "POST", ADD, body(SENDER, "+15555555551"), headers={"content-type": content_type}
    )
    assert status == 415 and res["error"]["code"] == "UnsupportedMediaType"
    assert app.count == 0
    ok = call(
        "POST",
        ADD,
        body(SENDER, "+1555555555"),
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert ok[0] == 200


def test_the_same_api_version_twice_is_accepted(app: StorageRecorder) -> None:
    twice = "api-version=2026-01-23&api-version=2026-01-23"
    assert call("POST", CHECK, body(SENDER, "+15555555551"), query=twice)[0] == 200
    mixed = "api-version=2026-01-23&api-version=2025-09-17"
    assert call("POST", CHECK, body(SENDER, "+15555555551"), query=mixed)[0] == 400


def test_the_recorder_flags_filters_that_or_rowkeys() -> None:
    """Every app test's recorder checks each `$filter` with this (app_against's teardown)."""
    recorder = StorageRecorder()
    recorder.requests += [
        ("GET", "/t()", "PartitionKey eq 'a' and ( RowKey eq '+1' or RowKey eq '+2' )"),
        ("GET", "/t()", "PartitionKey eq 'a' and RowKey gt '+1|' and RowKey lt '+1}'"),
        ("GET", "/t()", ""),
    ]
    assert recorder.rowkey_or_filters() == [recorder.requests[0][2]]


def test_check_remove_and_keywords_never_or_rowkeys(app: StorageRecorder) -> None:
    numbers = [f"+1425555{i:04d}" for i in range(20)]
    call("POST", ADD, body(SENDER, *numbers[:10]))
    call("POST", CHECK, body(SENDER, *numbers))
    call("POST", REMOVE, body(SENDER, *numbers))
    assert app.count > 0
    assert app.rowkey_or_filters() == []
