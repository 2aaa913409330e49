"""Test support (tests and `make bench`; not deployed): call the app's registered functions in
process, the way the host does, and watch the storage requests the app makes (count them, and
hold them to the real service's limits)."""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import azure.functions as func

from devhost.http import to_response
from devhost.query_rules import request_violation, rowkey_or
from shared import runtime
from shared.platform.hmac_auth import sign_request

TEST_KEY = "dGVzdC1hY2Nlc3Mta2V5LW9mLTMyLWJ5dGVzLWxvbmchIQ=="
OTHER_KEY = "YW5vdGhlci1rZXktdGhhdC1pcy1ub3QtY29uZmlndXJlZA=="
BASE = "http://127.0.0.1:7071"
COMPARISON = re.compile(r"\s(eq|ne|gt|ge|lt|le)\s")


# Checks run on every response `call` gets, as the host would send it: (method, url, status,
# headers, body). The tests install one that holds responses to shared/openapi.json
# (tests/conftest.py); `make bench` installs none, so its timings do not include it.
ResponseCheck = Callable[[str, str, int, Mapping[str, str], bytes], None]
RESPONSE_CHECKS: list[ResponseCheck] = []

_functions_lock = threading.Lock()


def registered_http_functions() -> dict[tuple[str, str], Any]:
    with _functions_lock:  # get_functions() may be called only once (the host does the same)
        return _registered_http_functions()


@functools.cache
def _registered_http_functions() -> dict[tuple[str, str], Any]:
    """(route, METHOD) -> user function, from function_app.app.get_functions()."""
    import function_app

    table: dict[tuple[str, str], Any] = {}
    for fn in function_app.app.get_functions():
        trigger = fn.get_trigger()
        if trigger.type != "httpTrigger":
            continue
        for method in trigger.methods:
            name = method.value if hasattr(method, "value") else str(method)
            table[(trigger.route, name.upper())] = fn.get_user_function()
    return table


def match_route(path: str, templates: set[str]) -> tuple[str | None, dict[str, str]]:
    """The registered route template matching `path`, and its parameters."""
    for template in templates:
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        m = re.fullmatch(pattern, path)
        if m:
            return template, m.groupdict()
    return None, {}


def call(
    method: str,
    route: str,
    body: Any = None,
    *,
    query: str = "api-version=2026-01-23",
    key: str | None = TEST_KEY,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """Invoke the function registered for `route`/`method` with a signed func.HttpRequest.

    Each of RESPONSE_CHECKS sees the response as the host would send it."""
    functions = registered_http_functions()
    template, route_params = match_route(route, {r for r, _ in functions})
    if template is None:
        return 404, None
    if (template, method) not in functions:
        return 405, None
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    url = f"{BASE}/{route}" + (f"?{query}" if query else "")
    hdrs = {"host": "127.0.0.1:7071", "content-type": "application/json"}
    if key is not None:
        hdrs.update(sign_request(method, url, data, key))
    hdrs.update(headers or {})
    # Repeated query parameters reach the function joined with commas, as the host passes them.
    query_items = parse_qs(urlsplit(url).query, keep_blank_values=True).items()
    params = {k: ",".join(v) for k, v in query_items}
    req = func.HttpRequest(
        method=method,
        url=url,
        headers=hdrs,
        params=params,
        route_params=route_params,
        body=data,
    )
    resp = functions[(template, method)](req)
    payload = resp.get_body()
    if RESPONSE_CHECKS:
        sent = to_response(resp)
        for check in RESPONSE_CHECKS:
            check(method, url, sent.status_code, dict(sent.headers), bytes(sent.body))
    if not payload:
        return resp.status_code, None
    if "json" in (resp.mimetype or "") and "ndjson" not in (resp.mimetype or ""):
        return resp.status_code, json.loads(payload)
    return resp.status_code, payload.decode("utf-8")  # CSV, NDJSON: the text as sent


def call_link(
    link: str, *, headers: dict[str, str] | None = None, key: str | None = TEST_KEY
) -> tuple[int, Any]:
    """GET a page's next link as it is with `call`: an absolute URL on BASE, as the app builds
    them from the request's own URL."""
    parts = urlsplit(link)
    if f"{parts.scheme}://{parts.netloc}" != BASE or parts.fragment:
        raise ValueError(f"not a link to a page of {BASE}: {link}")
    return call("GET", parts.path.lstrip("/"), query=parts.query, headers=headers, key=key)


@dataclass
class StorageRecorder:
    """Every HTTP request the table client sends: method, path and $filter."""

    requests: list[tuple[str, str, str]] = field(default_factory=list)

    def __call__(self, request: Any) -> None:
        http = request.http_request
        parts = urlsplit(http.url)
        flt = parse_qs(parts.query).get("$filter", [""])[0]
        self.requests.append((http.method, parts.path, flt))

    def clear(self) -> None:
        self.requests.clear()

    @property
    def count(self) -> int:
        return len(self.requests)

    def rowkey_or_filters(self) -> list[str]:
        """Filters that `or` RowKey comparisons: a partition scan on the real service."""
        return [f for _, _, f in self.requests if rowkey_or(f)]

    def scans(self) -> list[str]:
        """Queries that break the real service's query rules (devhost/query_rules.py): no
        `PartitionKey eq`, an `or` over RowKeys, a time window that is no key range."""
        return [
            problem
            for method, path, flt in self.requests
            if (problem := request_violation(method, f"{path}?{urlencode({'$filter': flt})}"))
        ]

    def queries(self) -> int:
        """Entity queries (not point reads, not writes)."""
        return sum(1 for m, p, _ in self.requests if m == "GET" and unquote(p).endswith("()"))

    def max_comparisons(self) -> int:
        return max((len(COMPARISON.findall(f" {f} ")) for _, _, f in self.requests), default=0)


@contextmanager
def app_against(env: dict[str, str], monkeypatch: Any) -> Iterator[StorageRecorder]:
    """Point the app (via its settings) at `env`, recording its storage requests."""
    recorder = StorageRecorder()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setitem(runtime.STORAGE_CLIENT_OPTIONS, "raw_request_hook", recorder)
    runtime.reset()
    try:
        yield recorder
        assert recorder.scans() == []
    finally:
        runtime.reset()
