"""The program endpoint's languages / texts / group / revokeAll fields, `check` across a
revoke-all group, and `GET /sms/groups/{group}/optouts`, through the app's HTTP functions on
Azurite."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devhost.inprocess import TEST_KEY, StorageRecorder, app_against, call
from devhost.testing import Azurite
from shared import runtime
from shared.inbound.processor import handle_queue_message
from tests.pages import walk

A, B, OUTSIDER = "+18005550111", "+18005550112", "+18005550199"
PERSON = "+14255550123"
CHECK = "sms/optouts:check"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def app(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[StorageRecorder]:
    suffix = uuid.uuid4().hex[:8]
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "OPTOUT_ACCESS_KEYS": TEST_KEY,
        "OPTOUT_TABLE_NAME": f"O{suffix}",
        "OPTOUT_HISTORY_TABLE_NAME": f"H{suffix}",
        "SENDER_PROGRAMS_TABLE_NAME": f"P{suffix}",
        "GROUP_OPTOUTS_TABLE_NAME": f"G{suffix}",
    }
    with app_against(env, monkeypatch) as recorder:
        yield recorder


def program_route(sender: str) -> str:
    return f"sms/senders/{sender}/program"


def put_program(sender: str, program: dict[str, Any]) -> tuple[int, Any]:
    return call("PUT", program_route(sender), program, query="")


def keyword(sender: str, text: str, n: int, person: str = PERSON) -> None:
    message_id = f"Incoming_{uuid.uuid4().hex}"
    ts = (T0 + timedelta(seconds=n)).isoformat().replace("+00:00", "Z")
    data = {"MessageId": message_id, "From": person, "To": sender, "Message": text}
    body = {
        "id": message_id,
        "eventType": "Microsoft.Communication.SMSReceived",
        "data": {**data, "ReceivedTimestamp": ts},
    }
    handle_queue_message(json.dumps(body), runtime.inbound_processor())


def checked(sender: str, *people: str) -> list[bool]:
    status, res = call("POST", CHECK, {"from": sender, "recipients": [{"to": p} for p in people]})
    assert status == 200, res
    return [item["isOptedOut"] for item in res["value"]]


FULL = {
    "brand": "Contoso",
    "languages": ["fr", "en"],
    "texts": {
        "fr": {"optOutText": "{brand} : désabonné.", "helpText": "{brand} : ARRET pour annuler."},
        "de": {"optInText": "{brand}: wieder angemeldet."},
    },
    "group": "contoso",
    "revokeAll": True,
    "mirrorToAcs": True,
}


def test_check_reads_programs_through_the_cache_that_a_program_change_refreshes(
    app: StorageRecorder,
) -> None:
    """A steady `check` of n costs n point reads (the program is remembered); a program change
    made on this instance is seen by the very next check, not 30 s later."""
    for sender in (A, B):
        assert put_program(sender, {"group": "contoso", "revokeAll": True})[0] == 200
    keyword(A, "STOP", 1)  # group-wide
    assert checked(B, PERSON) == [True]
    app.clear()
    assert checked(OUTSIDER, PERSON, "+14255550999") == [False, False]
    assert checked(OUTSIDER, PERSON, "+14255550999") == [False, False]
    assert app.count == 1 + 2 + 2  # the outsider's program once (a miss), then its entries only
    assert put_program(B, {"group": "contoso", "revokeAll": False})[0] == 200
    app.clear()
    assert checked(B, PERSON) == [False]  # at once: B left the revoke-all group here
    assert app.count == 1 + 1  # B's program read again (the change forgot it), B's entry
    assert put_program(B, {"group": "contoso", "revokeAll": True})[0] == 200
    assert checked(B, PERSON) == [True]


def test_program_fields_round_trip(app: StorageRecorder) -> None:
    status, res = put_program(A, FULL)
    assert status == 200 and res == {"sender": A, **FULL}
    assert call("GET", program_route(A), query="") == (200, {"sender": A, **FULL})
    # case-insensitive names, group folded to lower case
    status, res = put_program(B, {"Languages": ["EN"], "GROUP": "Contoso", "revokeall": False})
    assert status == 200
    assert res == {"sender": B, "languages": ["en"], "group": "contoso", "revokeAll": False}


BAD_PROGRAMS: list[tuple[dict[str, Any], str]] = [
    ({"languages": []}, "languages"),
    ({"languages": ["en", "en"]}, "languages"),
    ({"languages": ["xx"]}, "languages"),
    ({"languages": "en"}, "languages"),
    ({"texts": {"fr": {"helpText": "Aide : 1-800. Merci."}}}, "texts.fr.helpText"),
    ({"texts": {"fr": {"optOutText": "{name} bye"}}}, "texts.fr.optOutText"),
    ({"texts": {"fr": {"bogus": "x"}}}, "texts"),
    ({"texts": {"xx": {"optOutText": "x"}}}, "texts"),
    ({"texts": {"fr": "x"}}, "texts"),
    ({"texts": ["fr"]}, "texts"),
    ({"texts": {"es": {"helpText": "Ayuda: llame. Responda STOP."}}}, ""),  # STOP is Spanish too
    ({"group": "con/toso"}, "group"),
    ({"group": ""}, "group"),
    ({"group": 5}, "group"),
    ({"revokeAll": True}, "revokeAll"),
    ({"revokeAll": "yes", "group": "contoso"}, "revokeAll"),
    ({"mirrorToAcs": "yes"}, "mirrorToAcs"),
    ({"mirrorToAcs": 1}, "mirrorToAcs"),
]


@pytest.mark.parametrize(("program", "field"), BAD_PROGRAMS)
def test_program_validation(app: StorageRecorder, program: dict[str, Any], field: str) -> None:
    status, res = put_program(A, program)
    if not field:
        assert status == 200, res
        return
    assert status == 400, res
    assert field in res["errors"], res
    assert call("GET", program_route(A), query="")[0] == 404  # nothing half-written


def test_stop_to_one_group_sender_is_seen_by_check_on_another(app: StorageRecorder) -> None:
    for sender in (A, B):
        assert put_program(sender, {"group": "contoso", "revokeAll": True})[0] == 200
    keyword(A, "STOP", 1)
    assert checked(B, PERSON, "+14255550999") == [True, False]
    assert checked(A, PERSON) == [True]
    assert checked(OUTSIDER, PERSON) == [False]
    app.clear()
    checked(B, PERSON)
    # B's entry and the group's entry, concurrently; the program comes from the 30 s cache
    assert app.count == 1 + 1

    status, res = call("GET", "sms/groups/Contoso/optouts", query="")
    assert status == 200
    assert res["group"] == "contoso" and "nextLink" not in res
    assert [(e["recipient"], e["sender"]) for e in res["value"]] == [(PERSON, A)]

    keyword(B, "START", 2)
    assert checked(B, PERSON) == [False]
    assert checked(A, PERSON) == [True]  # A's own entry, from the STOP sent to A
    assert call("GET", "sms/groups/contoso/optouts", query="")[1]["value"] == []


def test_group_listing_pages_and_refuses_bad_input(app: StorageRecorder) -> None:
    put_program(A, {"group": "contoso", "revokeAll": True})
    people = [f"+1425555{i:04d}" for i in range(5)]
    for n, person in enumerate(people):
        keyword(A, "STOP", n, person=person)
    pages = walk("sms/groups/contoso/optouts", "maxpagesize=2")
    assert all(len(page["value"]) <= 2 and page["group"] == "contoso" for page in pages)
    assert [e["recipient"] for page in pages for e in page["value"]] == people
    assert call("GET", "sms/groups/bad%2Fname/optouts", query="")[0] in (400, 404)
    assert call("GET", "sms/groups/-x/optouts", query="")[0] == 400
    assert call("GET", "sms/groups/contoso/optouts", query="maxpagesize=0")[0] == 400
    assert call("GET", "sms/groups/contoso/optouts", query="pageSize=0")[0] == 400
    assert call("GET", "sms/groups/contoso/optouts", query="continuationToken=zzz")[0] == 400
    assert call("GET", "sms/groups/contoso/optouts", query="", key=None)[0] == 401
