"""Helpers for the listing / export / import tests: call the registered functions with any body,
content type and full URL (nextLinks), and get the whole response back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import azure.functions as func
import pytest

from devhost.inprocess import BASE, TEST_KEY, app_against, match_route, registered_http_functions
from devhost.testing import Azurite
from shared.platform.hmac_auth import sign_request


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def request(
    method: str,
    url: str,
    body: bytes = b"",
    *,
    content_type: str = "application/json",
    key: str | None = TEST_KEY,
) -> Reply:
    """`url` is a path ("/sms/...?...") or a full URL (a nextLink)."""
    url = url if url.startswith("http") else BASE + url
    parts = urlsplit(url)
    functions = registered_http_functions()
    template, route_params = match_route(parts.path.lstrip("/"), {r for r, _ in functions})
    assert template is not None, url
    headers = {"host": parts.netloc, "content-type": content_type}
    if key is not None:
        headers.update(sign_request(method, url, body, key))
    params = {k: ",".join(v) for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    req = func.HttpRequest(
        method=method,
        url=url,
        headers=headers,
        params=params,
        route_params=route_params,
        body=body,
    )
    resp = functions[(template, method)](req)
    out = dict(resp.headers)
    # The Content-Type the Python worker sends: the mimetype, with the charset for text/*.
    text = resp.mimetype.startswith("text/")
    out["Content-Type"] = f"{resp.mimetype}; charset={resp.charset}" if text else resp.mimetype
    return Reply(resp.status_code, resp.get_body() or b"", out)


def csv_body(numbers: list[str], extra: str = "") -> bytes:
    return ("to\n" + "".join(f"{n}\n" for n in numbers) + extra).encode()


def import_csv(sender: str, body: bytes, query: str = "") -> Reply:
    path = f"/sms/senders/{sender}/optouts:import" + (f"?{query}" if query else "")
    return request("POST", path, body, content_type="text/csv")


def numbers(count: int, prefix: str = "+1425") -> list[str]:
    return [f"{prefix}{i:07d}" for i in range(count)]


@pytest.fixture
def bulk_app(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import uuid

    suffix = uuid.uuid4().hex[:8]
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "OPTOUT_ACCESS_KEYS": TEST_KEY,
        "OPTOUT_TABLE_NAME": f"BulkOptOuts{suffix}",
        "OPTOUT_HISTORY_TABLE_NAME": f"BulkHistory{suffix}",
        "SENDER_PROGRAMS_TABLE_NAME": f"BulkPrograms{suffix}",
        "OPTOUT_EVENTS_QUEUE_NAME": f"bulk-events-{suffix}",
    }
    with app_against(env, monkeypatch) as recorder:
        recorder.tables = env  # type: ignore[attr-defined]
        yield recorder
    assert recorder.max_comparisons() <= 15
