"""`GET /openapi.json` (anonymous): the OpenAPI 3 description of every endpoint.

The document is `shared/openapi.json`, data deployed with the app and kept beside the code it
describes. The tests validate it (openapi-spec-validator), hold its ACS operations to the
official ACS files, require an entry for every endpoint in `shared.api.ENDPOINTS`, and check
every response the test suite sees against it (openapi-core), so it cannot drift from the code.
A new endpoint: its path in the document, in the same change.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from shared.api.pipeline import NO_KEY, Call, Endpoint
from shared.api.wire import ApiResponse

DOCUMENT_PATH = Path(__file__).resolve().parent.parent / "openapi.json"


@functools.cache
def _text() -> str:
    return DOCUMENT_PATH.read_text(encoding="utf-8")


def document() -> dict[str, Any]:
    """A fresh copy of the document (callers may change it)."""
    return dict(json.loads(_text()))


def describe(call: Call) -> ApiResponse:
    return ApiResponse(200, document())


ENDPOINTS = [
    Endpoint(
        name="openapi",
        handler=describe,
        permission=NO_KEY,
        limit_body=False,
    )
]
