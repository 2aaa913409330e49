"""Named, scoped keys (OPTOUT_KEYS, docs/access.md), through the registered functions against a
real Azurite: the permission x endpoint matrix over every endpoint, sender and group scopes,
rotation under one name, GET /sms/access, and the actor in history, events and the report."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueClient

from devhost.acs_double import AcsDouble
from devhost.inprocess import TEST_KEY, app_against, call, call_link
from devhost.queues import QUEUE_API_VERSION
from devhost.testing import ROOT, Azurite
from shared.api import ENDPOINTS
from shared.api.pipeline import ANY_KEY, NO_KEY
from shared.domain.access import Permission


def secret(name: str) -> str:
    return base64.b64encode(f"{name}: a key of at least 16 bytes".encode()).decode()


S1, S2, S3, S4 = "+18005550171", "+18005550172", "+18005550173", "+18005550174"
PERSON = "+14255550171"
SEND_VERSION = "api-version=2021-03-07"

# One key per permission, every sender: the matrix.
PER_PERMISSION = [
    {"name": f"only-{p}", "key": secret(f"only-{p}"), "permissions": [p], "senders": ["*"]}
    for p in Permission
]
SCOPED = [
    {
        "name": "one",
        "key": secret("one"),
        "permissions": ["read", "write", "send"],
        "senders": [S1],
    },
    {
        "name": "brand",
        "key": secret("brand"),
        "permissions": ["read", "write"],
        "senders": ["group:Brand1"],
    },
    # A rotation: two secrets under one name, both in use until the old one is removed.
    {"name": "crm", "key": secret("crm-old"), "permissions": ["check"], "senders": ["*"]},
    {"name": "crm", "key": secret("crm-new"), "permissions": ["check"], "senders": ["*"]},
    {"name": "desk", "key": secret("desk"), "permissions": ["write", "read"], "senders": ["*"]},
]

# What each endpoint needs: the table of docs/access.md. A new endpoint fails
# test_every_endpoint_declares_what_the_docs_say until it is here and in the docs.
EXPECTED: dict[tuple[str, str], str] = {
    ("optouts_add", "POST"): "write",
    ("optouts_remove", "POST"): "write",
    ("optouts_check", "POST"): "check",
    ("health", "GET"): NO_KEY,
    ("sms_access", "GET"): ANY_KEY,
    ("sender_program", "GET"): "read",
    ("sender_program", "PUT"): "write",
    ("sender_program", "DELETE"): "write",
    ("sender_history", "GET"): "read",
    ("inbound_poison_replay", "POST"): "admin",
    ("inbound_deadletter_replay", "POST"): "admin",
    ("group_optouts", "GET"): "read",
    ("openapi", "GET"): NO_KEY,
    ("sms_send", "POST"): "send",
    ("recipient_status", "GET"): "read",
    ("sender_report", "GET"): "read",
    ("sender_optouts_list", "GET"): "read",
    ("sender_optouts_export", "GET"): "read",
    ("sender_optouts_import", "POST"): "write",
    ("delivery_report", "GET"): "send",
    ("console", "GET"): NO_KEY,
    ("console_file", "GET"): NO_KEY,
    ("sender_mirror_status", "GET"): "read",
    ("sender_optouts_reconcile", "POST"): "admin",
}


def optouts_body(sender: str, *people: str) -> dict[str, Any]:
    return {"from": sender, "recipients": [{"to": p} for p in people]}


# A valid request of each endpoint and method, for sender S1: (route, query, body, headers).
def sample(name: str, method: str) -> tuple[str, str, Any, dict[str, str] | None]:
    version = "api-version=2026-01-23"
    csv = {"content-type": "text/csv"}
    return {
        ("optouts_add", "POST"): ("sms/optouts:add", version, optouts_body(S1, PERSON), None),
        ("optouts_remove", "POST"): ("sms/optouts:remove", version, optouts_body(S1, PERSON), None),
        ("optouts_check", "POST"): ("sms/optouts:check", version, optouts_body(S1, PERSON), None),
        ("sms_access", "GET"): ("sms/access", version, None, None),
        ("sender_program", "GET"): (f"sms/senders/{S1}/program", "", None, None),
        ("sender_program", "PUT"): (f"sms/senders/{S1}/program", "", {"brand": "Contoso"}, None),
        ("sender_program", "DELETE"): (f"sms/senders/{S1}/program", "", None, None),
        ("sender_history", "GET"): (f"sms/senders/{S1}/history", "", None, None),
        ("inbound_poison_replay", "POST"): ("sms/inbound/poison:replay", "limit=1", None, None),
        ("inbound_deadletter_replay", "POST"): (
            "sms/inbound/deadletter:replay",
            "limit=1",
            None,
            None,
        ),
        ("group_optouts", "GET"): ("sms/groups/brand1/optouts", "", None, None),
        ("sms_send", "POST"): (
            "sms",
            SEND_VERSION,
            {"from": S1, "smsRecipients": [{"to": PERSON}], "message": "Hello"},
            None,
        ),
        ("recipient_status", "GET"): (f"sms/senders/{S1}/recipients/{PERSON}", "", None, None),
        ("sender_report", "GET"): (f"sms/senders/{S1}/report", "", None, None),
        ("sender_optouts_list", "GET"): (f"sms/senders/{S1}/optouts", "", None, None),
        ("sender_optouts_export", "GET"): (f"sms/senders/{S1}/optouts:export", "", None, None),
        ("sender_mirror_status", "GET"): (f"sms/senders/{S1}/mirror", "", None, None),
        ("sender_optouts_reconcile", "POST"): (
            f"sms/senders/{S1}/optouts:reconcile",
            "",
            None,
            None,
        ),
        ("sender_optouts_import", "POST"): (
            f"sms/senders/{S1}/optouts:import",
            "",
            None,
            csv,
        ),
        ("delivery_report", "GET"): ("deliveryReports/DryRun_unknown", version, None, None),
    }[(name, method)]


IMPORT_CSV = f"to\n{PERSON}\n".encode()


@pytest.fixture
def names() -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {
        "OPTOUT_TABLE_NAME": f"AccOptOuts{suffix}",
        "OPTOUT_HISTORY_TABLE_NAME": f"AccHistory{suffix}",
        "SENDER_PROGRAMS_TABLE_NAME": f"AccPrograms{suffix}",
        "GROUP_OPTOUTS_TABLE_NAME": f"AccGroups{suffix}",
        "OPTOUT_EVENTS_QUEUE_NAME": f"acc-events-{suffix}",
    }


@pytest.fixture
def app(azurite: Azurite, names: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "OPTOUT_ACCESS_KEYS": TEST_KEY,  # key1: every permission, every sender
        "OPTOUT_KEYS": json.dumps(PER_PERMISSION + SCOPED),
        "SEND_DRY_RUN": "true",
        **names,
    }
    with app_against(env, monkeypatch):
        yield


def request(name: str, method: str, key: str) -> tuple[int, Any]:
    route, query, body, headers = sample(name, method)
    raw = IMPORT_CSV if name == "sender_optouts_import" else None
    return call(method, route, body, query=query, key=key, raw=raw, headers=headers)


# --- every endpoint declares its permission, as the docs say --------------------------------


def declared() -> dict[tuple[str, str], str]:
    out = {}
    for e in ENDPOINTS:
        for m in e.methods:
            needed = e.permission_for(m)
            out[(e.name, m)] = str(needed) if needed is not None else str(e.permission)
    return out


def test_every_endpoint_declares_what_the_docs_say() -> None:
    assert declared() == EXPECTED


def test_the_docs_table_lists_every_endpoint_with_its_permission() -> None:
    text = (ROOT / "docs" / "access.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+ /[^`]*)` \| ([^|]+?) \|", text, re.MULTILINE))
    routes = {e.name: e.route for e in ENDPOINTS}
    words = {NO_KEY: "none (anonymous)", ANY_KEY: "any key"}
    for (name, method), needed in EXPECTED.items():
        assert rows.get(f"{method} /{routes[name]}") == words.get(needed, needed), (name, method)


# --- the matrix: every endpoint x a key holding each one permission --------------------------


@pytest.mark.parametrize(
    ("name", "method"),
    [(n, m) for (n, m), need in EXPECTED.items() if need != NO_KEY],
    ids=lambda v: str(v),
)
def test_permission_matrix(app: None, name: str, method: str) -> None:
    needed = EXPECTED[(name, method)]
    for key in PER_PERMISSION:
        held = {key["permissions"][0]} | ({"check"} if key["permissions"] == ["read"] else set())
        status, body = request(name, method, key["key"])
        if needed == ANY_KEY or needed in held:
            assert status not in (401, 403) and status < 500, (key["name"], status, body)
        else:
            assert status == 403, (key["name"], status, body)
            assert body["error"]["code"] == "MissingPermission"
            assert f"'{needed}'" in body["error"]["message"]
            assert key["name"] in body["error"]["message"]


def test_a_check_only_key_cannot_add_remove_send_or_read_a_list(app: None) -> None:
    crm = secret("crm-new")
    assert call("POST", "sms/optouts:check", optouts_body(S1, PERSON), key=crm)[0] == 200
    for route, query, body in (
        ("sms/optouts:add", "api-version=2026-01-23", optouts_body(S1, PERSON)),
        ("sms/optouts:remove", "api-version=2026-01-23", optouts_body(S1, PERSON)),
        ("sms", SEND_VERSION, {"from": S1, "smsRecipients": [{"to": PERSON}], "message": "x"}),
    ):
        assert call("POST", route, body, query=query, key=crm)[0] == 403
    assert call("GET", f"sms/senders/{S1}/optouts", query="", key=crm)[0] == 403
    assert call("GET", f"sms/senders/{S1}/optouts:export", query="", key=crm)[0] == 403
    # Nothing was added by the refused add.
    full = call("POST", "sms/optouts:check", optouts_body(S1, PERSON))
    assert full[1]["value"][0]["isOptedOut"] is False


def test_read_implies_check_and_write_implies_nothing(app: None) -> None:
    read, write = secret("only-read"), secret("only-write")
    assert call("POST", "sms/optouts:check", optouts_body(S1, PERSON), key=read)[0] == 200
    assert call("POST", "sms/optouts:check", optouts_body(S1, PERSON), key=write)[0] == 403
    assert call("GET", f"sms/senders/{S1}/history", query="", key=write)[0] == 403


# --- sender scope ----------------------------------------------------------------------------


def rows(azurite: Azurite, table: str, sender: str) -> list[dict[str, Any]]:
    client = TableServiceClient.from_connection_string(azurite.connection_string)
    try:
        found = client.get_table_client(table).query_entities(
            "PartitionKey eq @pk", parameters={"pk": sender}
        )
        return [dict(e) for e in found]
    except ResourceNotFoundError:
        return []


def test_a_key_scoped_to_one_sender_cannot_touch_another(
    app: None, azurite: Azurite, names: dict[str, str]
) -> None:
    one = secret("one")
    assert call("POST", "sms/optouts:add", optouts_body(S1, PERSON), key=one)[0] == 200
    status, body = call("POST", "sms/optouts:add", optouts_body(S2, PERSON), key=one)
    assert status == 403
    assert body["error"]["code"] == "SenderOutOfScope"
    assert "'one'" in body["error"]["message"]
    # Nothing read or changed: no entry, no history row, no feed row for S2.
    assert rows(azurite, names["OPTOUT_TABLE_NAME"], S2) == []
    assert rows(azurite, names["OPTOUT_HISTORY_TABLE_NAME"], S2) == []
    for route in (
        f"sms/senders/{S2}/history",
        f"sms/senders/{S2}/optouts",
        f"sms/senders/{S2}/report",
        f"sms/senders/{S2}/program",
        f"sms/senders/{S2}/recipients/{PERSON}",
    ):
        assert call("GET", route, query="", key=one)[0] == 403, route
    assert call("PUT", f"sms/senders/{S2}/program", {"brand": "X"}, query="", key=one)[0] == 403
    send = {"from": S2, "smsRecipients": [{"to": PERSON}], "message": "Hello"}
    assert call("POST", "sms", send, query=SEND_VERSION, key=one)[0] == 403
    imported = call(
        "POST",
        f"sms/senders/{S2}/optouts:import",
        query="",
        raw=IMPORT_CSV,
        headers={"content-type": "text/csv"},
        key=one,
    )
    assert imported[0] == 403
    assert rows(azurite, names["OPTOUT_TABLE_NAME"], S2) == []
    # The group list is outside a sender-only scope.
    assert call("GET", "sms/groups/brand1/optouts", query="", key=one)[0] == 403


def test_bad_input_is_400_before_the_scope(app: None) -> None:
    one = secret("one")
    bad = {"from": S2, "recipients": []}
    status, body = call("POST", "sms/optouts:add", bad, key=one)
    assert status == 400 and "Recipients" in body["errors"]
    assert call("GET", f"sms/senders/{S2}/history", query="maxpagesize=0", key=one)[0] == 400
    assert call("GET", "sms/senders/not a sender!/history", query="", key=one)[0] == 400
    # And a 401 stays a 401.
    assert call("POST", "sms/optouts:add", optouts_body(S1, PERSON), key=None)[0] == 401


def test_group_scope_covers_the_groups_senders_and_its_list(app: None) -> None:
    brand = secret("brand")
    # S3 names the group (set with the full key); S4 has no program.
    program = {"group": "brand1", "revokeAll": True}
    assert call("PUT", f"sms/senders/{S3}/program", program, query="")[0] == 200
    assert call("POST", "sms/optouts:add", optouts_body(S3, PERSON), key=brand)[0] == 200
    status, body = call("POST", "sms/optouts:add", optouts_body(S4, PERSON), key=brand)
    assert (status, body["error"]["code"]) == (403, "SenderOutOfScope")
    assert call("GET", f"sms/senders/{S3}/history", query="", key=brand)[0] == 200
    assert call("GET", "sms/groups/brand1/optouts", query="", key=brand)[0] == 200
    status, body = call("GET", "sms/groups/brand2/optouts", query="", key=brand)
    assert (status, body["error"]["code"]) == (403, "SenderOutOfScope")
    # A sender that leaves the group leaves the scope.
    assert call("PUT", f"sms/senders/{S3}/program", {"brand": "X"}, query="")[0] == 200
    assert call("POST", "sms/optouts:add", optouts_body(S3, PERSON), key=brand)[0] == 403


# --- GET /sms/access, rotation -----------------------------------------------------------------


def test_access_answers_the_calling_keys_name_permissions_and_senders(app: None) -> None:
    assert call("GET", "sms/access", key=secret("only-read")) == (
        200,
        {"name": "only-read", "permissions": ["check", "read"], "senders": ["*"]},
    )
    assert call("GET", "sms/access", key=secret("brand")) == (
        200,
        {"name": "brand", "permissions": ["check", "read", "write"], "senders": ["group:Brand1"]},
    )
    status, body = call("GET", "sms/access")  # OPTOUT_ACCESS_KEYS's first: key1, a full key
    assert (status, body["name"], body["senders"]) == (200, "key1", ["*"])
    assert body["permissions"] == sorted(str(p) for p in Permission)
    assert TEST_KEY not in json.dumps(body)
    assert call("GET", "sms/access", query="")[0] == 400  # an api-version, as the ACS routes


def test_rotation_two_secrets_under_one_name(app: None) -> None:
    for old_or_new in ("crm-old", "crm-new"):
        status, body = call("GET", "sms/access", key=secret(old_or_new))
        assert (status, body["name"]) == (200, "crm")
        check = call("POST", "sms/optouts:check", optouts_body(S1, PERSON), key=secret(old_or_new))
        assert check[0] == 200


# --- the actor ---------------------------------------------------------------------------------


def events(azurite: Azurite, queue: str) -> list[dict[str, Any]]:
    client = QueueClient.from_connection_string(
        azurite.connection_string, queue, api_version=QUEUE_API_VERSION
    )
    return [json.loads(m.content) for m in client.peek_messages(max_messages=32)]


def test_the_actor_in_history_events_status_and_report(
    app: None, azurite: Azurite, names: dict[str, str]
) -> None:
    desk, one = secret("desk"), secret("one")
    assert call("POST", "sms/optouts:add", optouts_body(S1, PERSON), key=desk)[0] == 200
    assert call("POST", "sms/optouts:remove", optouts_body(S1, PERSON), key=one)[0] == 200
    imported = call(
        "POST",
        f"sms/senders/{S1}/optouts:import",
        query="",
        raw=IMPORT_CSV,
        headers={"content-type": "text/csv"},
        key=desk,
    )
    assert imported[0] == 200 and imported[1]["added"] == 1

    # "Who opted this person back in, when, with which key": one request.
    status, page = call(
        "GET", f"sms/senders/{S1}/history", query=f"recipient=%2B{PERSON[1:]}", key=desk
    )
    assert status == 200
    trail = [(r["action"], r["source"], r["actor"]) for r in page["value"]]
    assert sorted(trail) == sorted(
        [("optout", "api", "desk"), ("optin", "api", "one"), ("optout", "import", "desk")]
    )
    (back_in,) = [r for r in page["value"] if r["action"] == "optin"]
    assert back_in["actor"] == "one" and back_in["effectiveAt"]

    status, answer = call("GET", f"sms/senders/{S1}/recipients/{PERSON}", query="", key=desk)
    assert status == 200
    assert {e["actor"] for e in answer["events"]} == {"desk", "one"}

    status, report = call("GET", f"sms/senders/{S1}/report", query="", key=desk)
    assert status == 200
    assert sorted(r["actor"] for r in report["value"]) == ["desk", "desk", "one"]
    csv_status, csv_body = call(
        "GET", f"sms/senders/{S1}/report", query="", key=desk, headers={"accept": "text/csv"}
    )
    assert csv_status == 200 and csv_body.splitlines()[0].endswith(",actor")

    # The Table rows carry it as Actor; the change events as data.actor.
    history = rows(azurite, names["OPTOUT_HISTORY_TABLE_NAME"], S1)
    kept = [r for r in history if not r["RowKey"].startswith("~")]
    assert sorted(r["Actor"] for r in kept) == ["desk", "desk", "one"]
    copies = [r for r in history if r["RowKey"].startswith("~time|")]  # the rows' time copies
    assert sorted(r["Actor"] for r in copies) == ["desk", "desk", "one"]
    sent = [e for e in events(azurite, names["OPTOUT_EVENTS_QUEUE_NAME"]) if e["data"]]
    assert [(e["type"], e["data"]["actor"]) for e in sent] == [
        ("Sms.OptOut.Added", "desk"),
        ("Sms.OptOut.Removed", "one"),
        ("Sms.OptOut.Added", "desk"),
    ]


def test_the_refusal_is_logged_with_the_keys_name_never_the_key(
    app: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    call("POST", "sms/optouts:add", optouts_body(S2, PERSON), key=secret("one"))
    refusals = [r.getMessage() for r in caplog.records if "Refused" in r.getMessage()]
    assert refusals and "one" in refusals[0]
    assert secret("one") not in caplog.text
    assert S2 not in caplog.text  # a sender number is masked


def test_only_named_keys_configured_pages_are_sealed_with_them(
    azurite: Azurite, names: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without OPTOUT_ACCESS_KEYS, the named keys authenticate and seal page tokens."""
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "OPTOUT_KEYS": json.dumps(SCOPED),
        **names,
    }
    with app_against(env, monkeypatch):
        desk = secret("desk")
        people = ("+14255550181", "+14255550182")
        assert call("POST", "sms/optouts:add", optouts_body(S1, *people), key=desk)[0] == 200
        status, first = call("GET", f"sms/senders/{S1}/optouts", query="maxpagesize=1", key=desk)
        assert status == 200 and first["nextLink"]
        status, second = call_link(first["nextLink"], key=desk)
        assert status == 200
        assert [e["to"] for e in first["value"] + second["value"]] == list(people)
        assert call("GET", "sms/access", key=TEST_KEY)[0] == 401  # not configured here


def test_a_delivery_report_is_read_only_by_a_key_for_its_sender(app: None) -> None:
    """GET /deliveryReports/{id} names no sender: the scope is checked on the answer's `from`
    (here dry-run messages, answered by the service)."""
    one = secret("one")
    ids = {}
    for sender in (S1, S2):
        body = {"from": sender, "smsRecipients": [{"to": PERSON}], "message": "Hello"}
        status, sent = call("POST", "sms", body, query=SEND_VERSION)  # key1: every sender
        assert status == 202
        ids[sender] = sent["value"][0]["messageId"]
    version = "api-version=2026-01-23"
    status, report = call("GET", f"deliveryReports/{ids[S1]}", query=version, key=one)
    assert (status, report["from"]) == (200, S1)
    status, refused = call("GET", f"deliveryReports/{ids[S2]}", query=version, key=one)
    assert status == 403 and refused["error"]["code"] == "SenderOutOfScope"
    assert "'one'" in refused["error"]["message"]
    # An id nobody has is a 404 for any key holding `send` (nothing to hide).
    assert call("GET", "deliveryReports/DryRun_none", query=version, key=one)[0] == 404


def test_a_report_acs_answers_is_held_to_the_keys_senders_too(
    azurite: Azurite, names: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    acs = AcsDouble().start()
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "OPTOUT_ACCESS_KEYS": TEST_KEY,
        "OPTOUT_KEYS": json.dumps(SCOPED),
        "ACS_CONNECTION_STRING": acs.connection_string,
        **names,
    }
    try:
        with app_against(env, monkeypatch):
            acs.report("Outgoing_s1")  # ACS's report of a message from S1 ...
            acs.reports["Outgoing_s1"]["from"] = S1
            acs.report("Outgoing_s2")  # ... and one from S2
            acs.reports["Outgoing_s2"]["from"] = S2
            version = "api-version=2026-01-23"
            one = secret("one")
            status, report = call("GET", "deliveryReports/Outgoing_s1", query=version, key=one)
            assert (status, report["from"]) == (200, S1)
            status, refused = call("GET", "deliveryReports/Outgoing_s2", query=version, key=one)
            assert (status, refused["error"]["code"]) == (403, "SenderOutOfScope")
    finally:
        acs.stop()
