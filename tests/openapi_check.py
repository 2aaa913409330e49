"""Test support: hold an HTTP exchange to `shared/openapi.json` with openapi-core.

`check_response(method, url, status, headers, body)` raises AssertionError when the document
does not describe the response: an unknown path, method or status, a missing required header,
another content type, or a body its schema refuses. Validation is strict: every object schema
that lists its `properties` is closed here (`additionalProperties: false` unless it says
otherwise), so a property the code sends but the document does not name fails too, while the
served document stays open to additions, as Azure's are.

Hooked by tests/conftest.py into every way the tests reach the app: `devhost.inprocess.call`
(RESPONSE_CHECKS) and every local host the tests start (their exchange logs, checked after each
test), so every endpoint is validated without each test asking.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from openapi_core import Config, OpenAPI
from openapi_core.deserializing.media_types.util import plain_loads
from openapi_core.exceptions import OpenAPIError
from openapi_core.testing import MockRequest, MockResponse

from devhost.host import REPO_ROOT as ROOT
from shared.api.openapi import document


def close_objects(node: Any) -> Any:
    """A copy of `node` where each object schema with `properties` forbids other properties."""
    if isinstance(node, list):
        return [close_objects(item) for item in node]
    if not isinstance(node, dict):
        return node
    closed = {key: close_objects(value) for key, value in node.items()}
    is_object = node.get("type") == "object" and isinstance(node.get("properties"), dict)
    if is_object and "additionalProperties" not in node:
        closed["additionalProperties"] = False
    return closed


# Text bodies the service may send besides JSON (an export page), read as text.
TEXT_MEDIA_TYPES = (
    "text/csv",
    "application/x-ndjson",
    "text/html",
    "text/javascript",
    "text/css",
    "image/svg+xml",
)


@functools.cache
def strict_openapi() -> OpenAPI:
    config = Config(extra_media_type_deserializers=dict.fromkeys(TEXT_MEDIA_TYPES, plain_loads))
    return OpenAPI.from_dict(close_objects(copy.deepcopy(document())), config=config)


def _decoded(path: str) -> str:
    """The path with each segment percent-decoded, as routing sees it (`%2F` stays in its
    segment: `/sms/groups/bad%2Fname/optouts` is still one group name)."""
    return "/".join(unquote(segment).replace("/", "%2F") for segment in path.split("/"))


def _header(headers: Mapping[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name), "")


def check_response(
    method: str,
    url: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    api: OpenAPI | None = None,
) -> None:
    """Raise AssertionError unless the document describes this response to `method url`."""
    parts = urlsplit(url)
    request = MockRequest(
        f"{parts.scheme}://{parts.netloc}",
        method,
        _decoded(parts.path),
        args=dict(parse_qsl(parts.query, keep_blank_values=True)),
    )
    response = MockResponse(
        body,
        status_code=status,
        headers=dict(headers),
        content_type=_header(headers, "content-type").split(";")[0].strip().lower(),
    )
    try:
        (api or strict_openapi()).validate_response(request, response)
    except OpenAPIError as exc:
        raise AssertionError(
            f"{method} {parts.path} answered {status}, which shared/openapi.json does not "
            f"describe: {type(exc).__name__}: {exc}\nbody: {body[:600]!r}"
        ) from exc


@dataclass
class ExchangeLogs:
    """The responses local hosts recorded in `directory` (their DEVHOST_EXCHANGE_LOG_DIR), one
    file per host process; `check_new` checks the ones not checked yet."""

    directory: Path
    app: str = f"{ROOT}:function_app"  # other apps' hosts (test_devhost's toy app) are not ours
    offsets: dict[Path, int] = field(default_factory=dict)

    def check_new(self) -> int:
        """Check every complete record since the last call; return how many were ours."""
        checked = 0
        for path in sorted(self.directory.glob("exchanges-*.jsonl")):
            offset = self.offsets.get(path, 0)
            with path.open("rb") as recorded:
                recorded.seek(offset)
                data = recorded.read()
            complete = data[: data.rfind(b"\n") + 1]
            self.offsets[path] = offset + len(complete)
            for line in complete.splitlines():
                x = json.loads(line)
                if x["app"] == self.app:
                    body = base64.b64decode(x["body"])
                    check_response(x["method"], x["url"], x["status"], x["headers"], body)
                    checked += 1
        return checked
