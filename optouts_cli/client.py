"""The service's HTTP API, signed as the ACS clients sign (shared.platform.hmac_auth), with retries.

Every call the tool makes is idempotent (add, remove, check, import, reads), so a request that
failed in flight (connection reset, 5xx, 429) is simply sent again, after `Retry-After` when the
service gives one.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator, Sequence
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

import requests

from optouts_cli.config import Target
from shared.platform.hmac_auth import sign_request

API_VERSION = "2026-01-23"
RECIPIENTS_PER_REQUEST = 100
RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class Action(StrEnum):
    ADD = "add"
    REMOVE = "remove"
    CHECK = "check"


class ExportFormat(StrEnum):
    CSV = "csv"
    NDJSON = "ndjson"


class ApiError(Exception):
    """The service refused a request (4xx), or kept failing after the retries."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status


def error_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason or "no details"
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message") or body["error"].get("code"))
    if isinstance(body, dict) and isinstance(body.get("errors"), dict):
        return "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in body["errors"].items())
    return json.dumps(body)[:300]


class Client:
    def __init__(self, target: Target, *, timeout: float = 120.0, retries: int = 4) -> None:
        self.target = target
        self.timeout = timeout
        self.retries = retries
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def url(self, path: str, **query: str | int | None) -> str:
        params = {k: v for k, v in query.items() if v is not None and v != ""}
        return self.target.endpoint + path + (f"?{urlencode(params)}" if params else "")

    def send(
        self, method: str, url: str, body: bytes = b"", content_type: str = "application/json"
    ) -> requests.Response:
        """One signed request, retried on transient failures; 4xx raise ApiError."""
        for attempt in range(self.retries + 1):
            headers = {
                "Content-Type": content_type,
                **sign_request(method, url, body, self.target.key),
            }
            try:
                response = self._session().request(
                    method, url, data=body, headers=headers, timeout=self.timeout
                )
            except requests.RequestException as exc:
                if attempt == self.retries:
                    raise ApiError(0, f"cannot reach {self.target.endpoint}: {exc}") from exc
                time.sleep(_backoff(attempt, None))
                continue
            if response.status_code < 400:
                return response
            if response.status_code not in RETRYABLE or attempt == self.retries:
                raise ApiError(response.status_code, error_message(response))
            time.sleep(_backoff(attempt, response.headers.get("Retry-After")))
        raise AssertionError("unreachable")

    def recipients(
        self, action: Action, sender: str, numbers: Sequence[str]
    ) -> list[dict[str, Any]]:
        """POST /sms/optouts:{action} in requests of at most 100 numbers; items in order."""
        items: list[dict[str, Any]] = []
        url = self.url(f"/sms/optouts:{action}", **{"api-version": API_VERSION})
        for start in range(0, len(numbers), RECIPIENTS_PER_REQUEST):
            chunk = numbers[start : start + RECIPIENTS_PER_REQUEST]
            body = {"from": sender, "recipients": [{"to": n} for n in chunk]}
            items.extend(self.send("POST", url, json.dumps(body).encode()).json()["value"])
        return items

    def import_rows(
        self, sender: str, rows: Sequence[dict[str, str]], import_id: str
    ) -> dict[str, Any]:
        """POST /sms/senders/{sender}/optouts:import with a JSON array of rows."""
        url = self.url(f"{sender_path(sender)}/optouts:import", importId=import_id)
        result: dict[str, Any] = self.send("POST", url, json.dumps(list(rows)).encode()).json()
        return result

    def export_pages(
        self,
        sender: str,
        fmt: ExportFormat,
        since: str | None = None,
        country: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[bytes]:
        """The bodies of the export's pages (`page_size` rows each; None: the service's
        default), following each response's Link rel="next" (its nextLink) as it is."""
        url: str | None = self.url(
            f"{sender_path(sender)}/optouts:export",
            format=fmt,
            since=since,
            country=country,
            maxpagesize=page_size,
        )
        while url:
            response = self.send("GET", url)
            yield response.content
            url = follow(url, next_link(response.headers.get("Link", "")))

    def list_pages(
        self, sender: str, since: str | None = None, country: str | None = None, size: int = 1000
    ) -> Iterator[list[dict[str, Any]]]:
        """The listing's pages (JSON), following each page's nextLink as it is."""
        url: str | None = self.url(
            f"{sender_path(sender)}/optouts", maxpagesize=size, since=since, country=country
        )
        while url:
            page = self.send("GET", url).json()
            yield list(page["value"])
            url = follow(url, page.get("nextLink"))

    def reconcile_pages(
        self, sender: str, *, fix: bool, page_size: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """POST /sms/senders/{sender}/optouts:reconcile page by page (each call bounded, the
        work done in the service with its ACS credentials), following each page's nextLink."""
        url: str | None = self.url(
            f"{sender_path(sender)}/optouts:reconcile",
            fix="true" if fix else "false",
            maxpagesize=page_size,
        )
        while url:
            page: dict[str, Any] = self.send("POST", url).json()
            yield page
            url = follow(url, page.get("nextLink"))

    def access(self) -> dict[str, Any]:
        """GET /sms/access: the calling key's name, permissions and senders."""
        return dict(
            self.send("GET", self.url("/sms/access", **{"api-version": API_VERSION})).json()
        )


def sender_path(sender: str) -> str:
    return "/sms/senders/" + quote(sender, safe="+")


def next_link(header: str) -> str | None:
    match = _LINK_NEXT.search(header)
    return match.group(1) if match else None


def follow(current: str, link: str | None) -> str | None:
    """The URL of the page after `current`, from its nextLink (None: the last page). Every paged
    endpoint gives an absolute URL; a relative one is resolved against `current`. A link to
    another host is refused: the tool signs every request it sends."""
    if not link:
        return None
    url = urljoin(current, link)
    if urlsplit(url)[:2] != urlsplit(current)[:2]:
        raise ApiError(0, f"the service's next link leads to another host: {url[:200]}")
    return url


def _backoff(attempt: int, retry_after: str | None) -> float:
    if retry_after and retry_after.strip().isdigit():
        return min(float(retry_after), 30.0)
    return min(0.5 * 2**attempt, 10.0)
