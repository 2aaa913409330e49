"""Unit tests for the optouts CLI's parts: configuration, wire helpers, the resumable chunked
import (with a stand-in client: the real one is tested against the app in test_cli*.py) and the
export writer."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import requests

from devhost.inprocess import OTHER_KEY, TEST_KEY
from optouts_cli import exporter, importer
from optouts_cli.client import (
    ApiError,
    Client,
    ExportFormat,
    error_message,
    follow,
    next_link,
    sender_path,
)
from optouts_cli.config import (
    DEFAULT_ENDPOINT,
    ConfigError,
    Target,
    parse_connection_string,
    resolve_target,
)
from shared.optouts.importfile import ImportFormat, parse_import

SENDER = "+18005550100"

# --- configuration ------------------------------------------------------------------------


def test_connection_string_any_case_and_order() -> None:
    assert parse_connection_string(f"AccessKey={TEST_KEY};Endpoint=https://x.example/") == (
        "https://x.example/",
        TEST_KEY,
    )
    with pytest.raises(ConfigError):
        parse_connection_string("endpoint=https://x.example/")


def test_key_precedence(tmp_path: Path) -> None:
    (tmp_path / "local.settings.json").write_text(
        json.dumps({"Values": {"OPTOUT_ACCESS_KEYS": OTHER_KEY}}), encoding="utf-8"
    )
    cs = f"endpoint=https://cs.example;accesskey={OTHER_KEY}"
    assert resolve_target(None, TEST_KEY, OTHER_KEY, cs, tmp_path).key == TEST_KEY
    assert resolve_target(None, None, f" ,{TEST_KEY},{OTHER_KEY}", cs, tmp_path).key == TEST_KEY
    from_cs = resolve_target(None, None, None, cs, tmp_path)
    assert (from_cs.endpoint, from_cs.key) == ("https://cs.example", OTHER_KEY)
    local = resolve_target(None, None, None, None, tmp_path)
    assert (local.endpoint, local.key) == (DEFAULT_ENDPOINT, OTHER_KEY)
    assert resolve_target("http://h:1/", None, None, cs, tmp_path).endpoint == "http://h:1"
    assert TEST_KEY not in repr(resolve_target(None, TEST_KEY, None, None, tmp_path))


@pytest.mark.parametrize(
    ("endpoint", "key"),
    [(None, None), (None, "not base64!"), (None, "c2hvcnQ="), ("ftp://x", None)],
)
def test_unusable_configuration(tmp_path: Path, endpoint: str | None, key: str | None) -> None:
    with pytest.raises(ConfigError):
        resolve_target(endpoint, key, None if key or endpoint else "", None, tmp_path)
    if endpoint:
        with pytest.raises(ConfigError):
            resolve_target(endpoint, TEST_KEY, None, None, tmp_path)


# --- wire helpers -------------------------------------------------------------------------


def test_next_link_and_sender_path() -> None:
    assert next_link('<http://h/x?pageToken=a-b_c>; rel="next"') == "http://h/x?pageToken=a-b_c"
    assert next_link("<http://h/x>; rel=next") == "http://h/x"
    assert next_link('<http://h/x>; rel="prev"') is None
    assert next_link("") is None
    assert sender_path("+18005550100") == "/sms/senders/+18005550100"
    assert sender_path("a/b") == "/sms/senders/a%2Fb"


def _response(status: int, body: object, **headers: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response.headers.update(headers)
    return response


HOST = "http://h:7071"
LIST_URL = f"{HOST}/sms/senders/+18005550100/optouts"


def test_follow_resolves_next_links_on_the_same_host_only() -> None:
    page = f"{LIST_URL}?maxpagesize=2"
    assert follow(page, f"{LIST_URL}?maxpagesize=2&pageToken=t") == f"{page}&pageToken=t"
    assert follow(page, "/sms/senders/+18005550100/optouts?pageToken=t") == (
        f"{LIST_URL}?pageToken=t"
    )
    assert follow(page, None) is None and follow(page, "") is None
    for elsewhere in ("http://evil:7071/x", "https://h:7071/x", "http://h:7072/x"):
        with pytest.raises(ApiError, match="another host"):
            follow(page, elsewhere)


def _paged_client(monkeypatch: pytest.MonkeyPatch, answers: dict[str, Any]) -> list[str]:
    """A client whose requests get `answers[url]`; returns the URLs it sends, in order."""
    sent: list[str] = []

    def send(method: str, url: str, *args: object) -> requests.Response:
        assert method == "GET"
        sent.append(url)
        return answers[url]

    monkeypatch.setattr(Client, "send", lambda self, *args: send(*args))
    return sent


def test_the_client_follows_each_next_link_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    second, third = f"{LIST_URL}?maxpagesize=2&pageToken=t1", f"{LIST_URL}?pageToken=t2"
    sent = _paged_client(
        monkeypatch,
        {
            f"{LIST_URL}?maxpagesize=2": _response(200, {"value": [1, 2], "nextLink": second}),
            second: _response(200, {"value": [3], "nextLink": third.removeprefix(HOST)}),
            third: _response(200, {"value": []}),  # the last page: no nextLink
        },
    )
    client = Client(Target(HOST, TEST_KEY))
    assert list(client.list_pages(SENDER, size=2)) == [[1, 2], [3], []]
    assert sent == [f"{LIST_URL}?maxpagesize=2", second, third]


def test_the_export_follows_each_link_header(monkeypatch: pytest.MonkeyPatch) -> None:
    first = f"{LIST_URL}:export?format=csv&maxpagesize=2"
    second = f"{LIST_URL}:export?format=csv&maxpagesize=2&pageToken=t1"
    sent = _paged_client(
        monkeypatch,
        {
            first: _response(200, b"to\r\n+1\r\n", Link=f'<{second}>; rel="next"'),
            second: _response(200, b"to\r\n+2\r\n"),
        },
    )
    client = Client(Target(HOST, TEST_KEY))
    pages = list(client.export_pages(SENDER, ExportFormat.CSV, page_size=2))
    assert pages == [b"to\r\n+1\r\n", b"to\r\n+2\r\n"] and sent == [first, second]


def test_error_messages_from_both_error_shapes() -> None:
    assert error_message(_response(401, {"error": {"code": "Denied", "message": "no"}})) == "no"
    problem = {"title": "x", "errors": {"maxpagesize": ["Must be 1 to 1000."]}}
    assert error_message(_response(400, problem)) == "maxpagesize: Must be 1 to 1000."
    assert error_message(_response(502, b"<html>bad gateway</html>")) == "<html>bad gateway</html>"


# --- import: chunks, state, resume --------------------------------------------------------


class StandIn:
    """Answers import requests like the service; fails the chunks listed in `fail` once."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.fail = set(fail or ())
        self.stored: set[str] = set()
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()

    def import_rows(self, sender: str, rows: Sequence[dict[str, str]], import_id: str) -> Any:
        numbers = [r["to"] for r in rows]
        with self.lock:
            self.calls.append(numbers)
            if numbers[0] in self.fail:
                self.fail.discard(numbers[0])
                raise ApiError(503, "storage unavailable")
            new = [n for n in numbers if n not in self.stored]
            self.stored.update(numbers)
        return {
            "added": len(new),
            "alreadyOptedOut": len(numbers) - len(new),
            "invalid": 1,
            "errors": [{"line": 2, "reason": "made up"}],
        }


def _file(tmp_path: Path, count: int) -> tuple[Path, Any]:
    body = "to\n" + "".join(f"+1425555{i:04d}\n" for i in range(count)) + "nope\n"
    path = tmp_path / "list.csv"
    path.write_text(body, encoding="utf-8")
    return path, importer.read_file(path, ImportFormat.CSV)


def test_interrupted_import_resumes_without_resending_finished_chunks(tmp_path: Path) -> None:
    _, (parsed, digest) = _file(tmp_path, 95)
    parts = importer.chunks(parsed.rows, 10)
    state_path = tmp_path / "state.json"
    stand_in = StandIn(fail={"+14255550050"})
    state = importer.ImportState.open(state_path, digest, SENDER, 10)
    advanced: list[int] = []
    with pytest.raises(ApiError):
        importer.run_chunks(stand_in, state, parts, 1, advanced.append)  # type: ignore[arg-type]
    assert sorted(state.done) == [0, 1, 2, 3, 4]  # one at a time: stopped at the 6th
    assert sum(advanced) == 50
    resumed = importer.ImportState.open(state_path, digest, SENDER, 999)
    assert resumed.chunk_size == 10  # the interrupted run's chunking wins
    assert resumed.import_id == state.import_id
    sent_before = len(stand_in.calls)
    importer.run_chunks(stand_in, resumed, parts, 3, advanced.append)  # type: ignore[arg-type]
    assert len(stand_in.calls) - sent_before == 5  # chunks 5..9 only
    totals = importer.totals(parsed, resumed)
    assert (totals.added, totals.already_opted_out) == (95, 0)
    assert totals.invalid == 1 + 10  # the local bad line + one per chunk from the stand-in
    assert totals.errors[0] == (3, "made up")  # chunk 0's item 2 is the file's line 3
    assert (97, "The number is missing.") not in totals.errors
    assert any(line == 97 for line, _ in totals.errors)  # "nope"
    assert stand_in.stored == {r.number.e164 for r in parsed.rows}


def test_state_of_another_file_or_sender_is_refused(tmp_path: Path) -> None:
    _, (_, digest) = _file(tmp_path, 3)
    state = importer.ImportState.open(tmp_path / "s.json", digest, SENDER, 10)
    state.record(0, importer.ChunkResult(3, 0, 0, []))
    with pytest.raises(importer.StateMismatch):
        importer.ImportState.open(tmp_path / "s.json", "0" * 64, SENDER, 10)
    with pytest.raises(importer.StateMismatch):
        importer.ImportState.open(tmp_path / "s.json", digest, "+18005550199", 10)
    (tmp_path / "s.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(importer.StateMismatch):
        importer.ImportState.open(tmp_path / "s.json", digest, SENDER, 10)


def test_wire_rows_and_file_format(tmp_path: Path) -> None:
    parsed = parse_import(
        b"to,optedOutAt\n+14255550100,2024-01-01\n14255550101,\n", ImportFormat.CSV
    )
    assert importer.wire_rows(parsed.rows) == [
        {"to": "+14255550100", "optedOutAt": "2024-01-01T00:00:00+00:00"},
        {"to": "+14255550101"},
    ]
    assert importer.file_format(Path("a.JSONL"), None) is ImportFormat.NDJSON
    assert importer.file_format(Path("a.json"), None) is ImportFormat.JSON
    assert importer.file_format(Path("a.txt"), None) is ImportFormat.CSV
    assert importer.file_format(Path("a.csv"), "json") is ImportFormat.JSON


# --- export writer ------------------------------------------------------------------------


class Pages:
    def __init__(self, pages: list[bytes]) -> None:
        self.pages = pages

    def export_pages(self, *args: object) -> Iterator[bytes]:
        yield from self.pages


def test_csv_pages_are_joined_with_one_header() -> None:
    head = b"to,country,optedOutAt,source\r\n"
    pages = [head + b"+1,US,t,api\r\n+2,US,t,api\r\n", head, head + b"+3,CA,t,import\r\n"]
    out, counts = io.BytesIO(), []
    rows = exporter.export(Pages(pages), SENDER, ExportFormat.CSV, out, counts.append)  # type: ignore[arg-type]
    assert out.getvalue() == head + b"+1,US,t,api\r\n+2,US,t,api\r\n+3,CA,t,import\r\n"
    assert rows == 3
    assert counts == [2, 0, 1]


def test_ndjson_pages_are_concatenated() -> None:
    pages = [b'{"to":"+1"}\n', b'{"to":"+2"}\n{"to":"+3"}\n']
    out = io.BytesIO()
    rows = exporter.export(Pages(pages), SENDER, ExportFormat.NDJSON, out, lambda n: None)  # type: ignore[arg-type]
    assert rows == 3
    assert out.getvalue() == b"".join(pages)
