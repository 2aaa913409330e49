"""One paging convention on every paged endpoint (shared.api.paging): `maxpagesize`, its
deprecated alias `pageSize`, and `nextLink` (or, on a CSV page, `Link`) followed as it is, for the
history, a group's list and the report (the opt-out list and export: test_optout_listing.py).
Through the registered functions on Azurite; every response is held to shared/openapi.json."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from requests.utils import parse_header_links

from devhost import inprocess
from devhost.inprocess import BASE, TEST_KEY, StorageRecorder, app_against, call
from devhost.testing import Azurite
from shared import runtime
from shared.api.paging import page_size
from shared.domain.model import Action, HistoryRecord, Outcome, Source
from tests.pages import get_link, link_query, walk
from tests.test_groups_api import keyword, put_program

SENDER, PERSON, OTHER = "+18005550100", "+14255550123", "+14255550999"
GROUP, GROUP_SENDER = "contoso", "+18005550111"
HISTORY = f"sms/senders/{SENDER}/history"
REPORT = f"sms/senders/{SENDER}/report"
GROUP_LIST = f"sms/groups/{GROUP}/optouts"
# Two days ago: inside the report's default window (the last 30 days).
T0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=2)
WINDOW = urlencode({"from": T0.isoformat(), "to": (T0 + timedelta(days=1)).isoformat()})
MEMBERS = [f"+1425555{i:04d}" for i in range(7)]  # the group's opted-out people, in order
# Each paged endpoint, and the query its pages need besides their size.
PAGED = {"history": (HISTORY, ""), "group": (GROUP_LIST, ""), "report": (REPORT, WINDOW)}
CSV = {"accept": "text/csv"}


TOKEN = "continuationToken"  # the wire name, written out (not the code's constant)


def joined(*parts: str) -> str:
    return "&".join(part for part in parts if part)


# --- maxpagesize and its alias, alone ---------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "size", "wrong"),
    [
        ({}, 100, set()),
        ({"maxpagesize": "", "pageSize": ""}, 100, set()),  # empty: not given
        ({"maxpagesize": "7"}, 7, set()),
        ({"pageSize": "7"}, 7, set()),
        ({"maxpagesize": "7", "pageSize": "7"}, 7, set()),
        ({"maxpagesize": "7", "pageSize": "8"}, 100, {"maxpagesize"}),
        ({"maxpagesize": "0"}, 100, {"maxpagesize"}),
        ({"maxpagesize": "1001"}, 100, {"maxpagesize"}),
        ({"maxpagesize": "\uff17"}, 100, {"maxpagesize"}),  # a full-width 7
        ({"maxpagesize": "7,7"}, 100, {"maxpagesize"}),  # given twice
        ({"pageSize": "-1"}, 100, {"pageSize"}),
        ({"maxpagesize": "7", "pageSize": "x"}, 100, {"pageSize"}),
    ],
)
def test_page_size_and_its_deprecated_alias(
    params: dict[str, str], size: int, wrong: set[str]
) -> None:
    errors: dict[str, list[str]] = {"sender": ["kept"]}
    assert page_size(params, 100, 1000, errors, legacy=True) == size
    assert set(errors) == {"sender", *wrong}


def test_the_alias_is_only_where_it_was() -> None:
    errors: dict[str, list[str]] = {}
    assert page_size({"pageSize": "7"}, 100, 1000, errors) == 100 and errors == {}


# --- on Azurite ---------------------------------------------------------------------------------


def record(i: int, person: str) -> HistoryRecord:
    return HistoryRecord(
        sender=SENDER,
        recipient=person,
        action=Action.OPT_OUT if i % 2 == 0 else Action.OPT_IN,
        source=Source.API,
        event_id=f"paging-{i}",
        event_at=T0 + timedelta(minutes=i),
        outcome=Outcome.APPLIED,
    )


@pytest.fixture(scope="module")
def seeded(azurite: Azurite) -> Iterator[dict[str, str]]:
    """12 events of PERSON and 5 of OTHER in SENDER's history; MEMBERS opted out of GROUP."""
    suffix = uuid.uuid4().hex[:8]
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "OPTOUT_ACCESS_KEYS": TEST_KEY,
        "OPTOUT_TABLE_NAME": f"PgO{suffix}",
        "OPTOUT_HISTORY_TABLE_NAME": f"PgH{suffix}",
        "SENDER_PROGRAMS_TABLE_NAME": f"PgP{suffix}",
        "GROUP_OPTOUTS_TABLE_NAME": f"PgG{suffix}",
    }
    with pytest.MonkeyPatch.context() as monkeypatch, app_against(env, monkeypatch):
        runtime.store().ensure_tables()
        trail = [record(i, PERSON) for i in range(12)] + [record(20 + i, OTHER) for i in range(5)]
        runtime.store().history.record_history(trail)
        assert put_program(GROUP_SENDER, {"group": GROUP, "revokeAll": True})[0] == 200
        for n, person in enumerate(MEMBERS):
            keyword(GROUP_SENDER, "STOP", n, person=person)
        yield env


@pytest.fixture
def app(seeded: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[StorageRecorder]:
    with app_against(seeded, monkeypatch) as recorder:
        yield recorder


def items(pages: list[dict[str, Any]], *fields: str) -> list[tuple[Any, ...]]:
    return [tuple(item[f] for f in fields) for page in pages for item in page["value"]]


def test_history_pages_by_following_nextlink(app: StorageRecorder) -> None:
    pages = walk(HISTORY, f"recipient={quote(PERSON)}&maxpagesize=5")
    times = [(T0 + timedelta(minutes=i)).isoformat() for i in range(12)]
    assert items(pages, "recipient", "eventTime") == [(PERSON, t) for t in times]
    assert [len(page["value"]) for page in pages][:2] == [5, 5]
    link = pages[0]["nextLink"]
    assert link.startswith(f"{BASE}/{HISTORY}?")
    assert list(link_query(link)) == ["recipient", "maxpagesize", "continuationToken"]
    assert link_query(link)["recipient"] == PERSON and link_query(link)["maxpagesize"] == "5"
    everyone = items(walk(HISTORY, "maxpagesize=4"), "recipient", "eventTime")
    assert len(everyone) == len(set(everyone)) == 17


def test_a_group_list_pages_by_following_nextlink(app: StorageRecorder) -> None:
    pages = walk(GROUP_LIST, "maxpagesize=3")
    assert [r for (r,) in items(pages, "recipient")] == MEMBERS
    assert all(page["group"] == GROUP and len(page["value"]) <= 3 for page in pages)
    link = pages[0]["nextLink"]
    assert link.startswith(f"{BASE}/{GROUP_LIST}?")
    assert list(link_query(link)) == ["maxpagesize", "continuationToken"]


def test_the_report_pages_by_following_nextlink(app: StorageRecorder) -> None:
    pages = walk(REPORT, f"{WINDOW}&maxpagesize=5")
    rows = items(pages, "recipient", "receivedAt")
    assert len(rows) == len(set(rows)) == 17
    assert [page["totalsComplete"] for page in pages] == [False] * (len(pages) - 1) + [True]
    assert pages[-1]["totals"]["rows"] == 17
    for page in pages[:-1]:
        query = link_query(page["nextLink"])
        assert list(query) == ["from", "to", "maxpagesize", "continuationToken"]
        assert (
            (query["from"], query["to"])
            == (page["from"], page["to"])
            == (
                T0.isoformat(),
                (T0 + timedelta(days=1)).isoformat(),
            )
        )


def test_the_default_window_is_carried_by_the_link(app: StorageRecorder) -> None:
    status, first = call("GET", REPORT, query="maxpagesize=5")
    assert status == 200, first
    query = link_query(first["nextLink"])
    assert (query["from"], query["to"]) == (first["from"], first["to"])
    status, second = get_link(first["nextLink"])
    assert status == 200 and (second["from"], second["to"]) == (first["from"], first["to"])


def test_a_csv_report_pages_by_following_its_link_header(
    app: StorageRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers: list[Mapping[str, str]] = []  # of each response, as the host sends them
    capture = [*inprocess.RESPONSE_CHECKS, lambda m, u, s, h, b: headers.append(h)]
    monkeypatch.setattr(inprocess, "RESPONSE_CHECKS", capture)
    status, text = call("GET", REPORT, query=f"{WINDOW}&maxpagesize=5", headers=CSV)
    assert status == 200, text
    bodies = [text]
    while link := next_link(headers[-1]):
        assert link.startswith(f"{BASE}/{REPORT}?")
        status, text = get_link(link, **CSV)
        assert status == 200, text
        bodies.append(text)
    lines = [line for body in bodies for line in body.splitlines()[1:]]  # each without its header
    assert len(bodies) >= 4 and len(lines) == len(set(lines)) == 17


def next_link(headers: Mapping[str, str]) -> str | None:
    link = next((v for k, v in headers.items() if k.lower() == "link"), "")
    return next((x["url"] for x in parse_header_links(link) if x.get("rel") == "next"), None)


@pytest.mark.parametrize("endpoint", PAGED)
def test_the_deprecated_page_size_still_works(app: StorageRecorder, endpoint: str) -> None:
    route, query = PAGED[endpoint]
    pages = {
        size: call("GET", route, query=joined(query, size))
        for size in ("maxpagesize=2", "pageSize=2", "maxpagesize=2&pageSize=2")
    }
    assert {status for status, _ in pages.values()} == {200}
    assert len({str(page["value"]) for _, page in pages.values()}) == 1  # the same page
    old = pages["pageSize=2"][1]
    assert link_query(old["nextLink"])["maxpagesize"] == "2"  # the link says it the new way
    assert "pageSize" not in link_query(old["nextLink"])
    assert get_link(old["nextLink"])[0] == 200
    token = link_query(old["nextLink"])["continuationToken"]  # an old client's hand-made URL
    by_hand = joined(query, "pageSize=2", urlencode({"pageToken": token}))
    status, second = call("GET", route, query=by_hand)
    assert status == 200 and second["value"] == get_link(old["nextLink"])[1]["value"]


@pytest.mark.parametrize("endpoint", PAGED)
def test_an_alias_that_disagrees_is_a_400(app: StorageRecorder, endpoint: str) -> None:
    route, query = PAGED[endpoint]
    status, body = call("GET", route, query=joined(query, "maxpagesize=2&pageSize=3"))
    assert status == 400, body
    assert "pageSize" in body["errors"]["maxpagesize"][0]
    link = call("GET", route, query=joined(query, "maxpagesize=2"))[1]["nextLink"]
    assert get_link(link + "&pageSize=3")[0] == 400


@pytest.mark.parametrize("endpoint", PAGED)
@pytest.mark.parametrize("name", ["maxpagesize", "pageSize"])
@pytest.mark.parametrize("bad", ["0", "1001", "-1", "abc", "1.5", "\uff12", " 2"])
def test_a_bad_size_is_a_400_naming_it(
    app: StorageRecorder, endpoint: str, name: str, bad: str
) -> None:
    route, query = PAGED[endpoint]
    status, body = call("GET", route, query=joined(query, urlencode({name: bad})))
    assert status == 400, body
    assert set(body["errors"]) == {name}


def test_a_page_token_opens_only_for_the_request_it_was_issued_for(app: StorageRecorder) -> None:
    history = call("GET", HISTORY, query=f"recipient={quote(PERSON)}&maxpagesize=2")[1]
    report = call("GET", REPORT, query=f"{WINDOW}&maxpagesize=2")[1]
    token = urlencode({TOKEN: link_query(history["nextLink"])[TOKEN]})
    report_token = urlencode({TOKEN: link_query(report["nextLink"])[TOKEN]})
    altered = history["nextLink"].replace(f"{TOKEN}=", f"{TOKEN}=A")
    earlier = quote((T0 - timedelta(minutes=1)).isoformat(), safe="")
    window = report["nextLink"].replace(quote(T0.isoformat(), safe=""), earlier)
    assert window != report["nextLink"]
    for status, body in [
        call("GET", HISTORY, query=f"recipient={quote(OTHER)}&{token}"),  # another filter
        call("GET", HISTORY, query=token),  # without it
        call("GET", f"sms/senders/{GROUP_SENDER}/history", query=token),  # another sender
        call("GET", GROUP_LIST, query=token),  # another endpoint
        call("GET", REPORT, query=f"{WINDOW}&{token}"),
        call("GET", HISTORY, query=report_token),
        get_link(altered),
        get_link(window),  # the report's window changed in its link
    ]:
        assert status == 400, body
        assert set(body["errors"]) == {TOKEN}, body
    # A token of the first versions, under the deprecated name: the 400 names what was given.
    status, body = call("GET", HISTORY, query="pageToken=eyJQYXJ0aXRpb25LZXkiOiAieCJ9")
    assert status == 400 and set(body["errors"]) == {"pageToken"}, body


@pytest.mark.parametrize("endpoint", PAGED)
def test_the_deprecated_page_token_still_works_and_must_agree(
    app: StorageRecorder, endpoint: str
) -> None:
    route, query = PAGED[endpoint]
    link = call("GET", route, query=joined(query, "maxpagesize=2"))[1]["nextLink"]
    token = link_query(link)[TOKEN]
    status, by_alias = call(
        "GET", route, query=joined(query, "maxpagesize=2", f"pageToken={token}")
    )
    assert status == 200 and by_alias["value"] == get_link(link)[1]["value"]
    both = joined(query, "maxpagesize=2", f"pageToken={token}")
    assert get_link(link + "&" + urlencode({"pageToken": token}))[0] == 200  # the same: fine
    status, body = call("GET", route, query=both.replace("pageToken=", f"{TOKEN}=x&pageToken="))
    assert status == 400 and "pageToken" in body["errors"][TOKEN][0], body
