"""The service's OpenAPI 3 description, `shared/openapi.json`, deployed with the app.

The document is data, kept beside the code that it describes; tests validate it
(openapi-spec-validator), hold its ACS operations to the official ACS files and check every
response the test suite sees against it (openapi-core), so it cannot drift from the code.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

DOCUMENT_PATH = Path(__file__).resolve().parent / "openapi.json"


@functools.cache
def document_bytes() -> bytes:
    """The document as served: compact JSON, UTF-8."""
    return json.dumps(document(), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@functools.cache
def _load() -> str:
    return DOCUMENT_PATH.read_text(encoding="utf-8")


def document() -> dict[str, Any]:
    """A fresh copy of the document (callers may change it)."""
    return dict(json.loads(_load()))
