"""`GET /console` and `GET /console/{file}` (anonymous): the console, a single page for support
agents and compliance officers (docs/console.md).

The page is static files in `shared/console/`, data deployed with the app (no build step, nothing
loaded from elsewhere). It holds no secret and no data: the person pastes an access key, the
browser keeps it in sessionStorage and signs every API call with it, as the ACS clients do, so
the server only ever sees ordinary signed calls. Every file is sent with a strict
Content-Security-Policy (no inline script or style, nothing from another origin, no framing).
Only the files named in `FILES` are served; any other name is a 404.
"""

from __future__ import annotations

import functools
from pathlib import Path

from shared.api.pipeline import NO_KEY, Call, Endpoint
from shared.api.wire import ApiResponse, error

STATIC_DIR = Path(__file__).resolve().parent.parent / "console"
PAGE = "index.html"
# The files the page is made of, with their media types (the page itself is served at /console).
FILES = {
    PAGE: "text/html",
    "console.js": "text/javascript",
    "console.css": "text/css",
    "favicon.svg": "image/svg+xml",
}
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # Revalidated on every visit, so a deployment is seen at once (the files are small).
    "Cache-Control": "no-cache",
}


@functools.cache
def _read(name: str) -> bytes:
    return (STATIC_DIR / name).read_bytes()


def _file(name: str) -> ApiResponse:
    if name not in FILES:
        return error(404, "NotFound", "The console has no such file.")
    return ApiResponse(200, _read(name), dict(SECURITY_HEADERS), media_type=FILES[name])


def page(call: Call) -> ApiResponse:
    return _file(PAGE)


def asset(call: Call) -> ApiResponse:
    name = call.request.route_params.get("file", "")
    return _file("" if name == PAGE else name)  # the page has one address: /console


ENDPOINTS = [
    Endpoint(name="console", handler=page, permission=NO_KEY, limit_body=False),
    Endpoint(name="console_file", handler=asset, permission=NO_KEY, limit_body=False),
]
