"""The HTTP side of the host: a Starlette app that routes requests to HTTP-triggered functions.

Each request becomes an `azure.functions.HttpRequest` whose URL is exactly what the client sent
(scheme, Host header, raw path and query), so signatures over them verify. Unknown paths answer
404, a known path with another method 405, a function that raises 500 with a generic body (the
exception is logged here, never sent). Request bodies and headers are never logged.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qsl

import azure.functions as func
from azure.functions import _abc as func_abc
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from devhost.functions import HttpFunction
from devhost.invocation import HTTP_REASON, Invocation, invoke_async

log = logging.getLogger("devhost")

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]
STATUS_PATH = "/admin/host/status"


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def request_url(scope: dict[str, Any], host_header: str | None) -> str:
    """The URL as the client sent it: scheme://Host/raw-path?raw-query."""
    scheme = scope.get("scheme", "http")
    host = host_header
    if not host:
        server = scope.get("server") or ("127.0.0.1", None)
        host = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
    raw_path = scope.get("raw_path")
    path = _decode(raw_path) if raw_path else scope.get("path", "/")
    query = _decode(scope.get("query_string") or b"")
    return f"{scheme}://{host}{path}" + (f"?{query}" if query else "")


def to_http_request(
    request: Request, body: bytes, route_params: dict[str, str]
) -> func.HttpRequest:
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    params: dict[str, str] = {}
    for name, value in parse_qsl(
        _decode(request.scope.get("query_string") or b""), keep_blank_values=True
    ):
        params[name] = f"{params[name]},{value}" if name in params else value
    return func.HttpRequest(
        method=request.method,
        url=request_url(request.scope, request.headers.get("host")),
        headers=headers,
        params=params,
        route_params=route_params,
        body=body,
    )


def to_response(result: Any) -> Response:
    """Turn the function's return value into a response, as the Python worker does."""
    if result is None:
        return Response(status_code=204)
    if isinstance(result, str):
        return Response(result.encode("utf-8"), media_type="text/plain; charset=utf-8")
    if not isinstance(result, func_abc.HttpResponse):
        raise TypeError(f"an HTTP function returned {type(result).__name__}, not HttpResponse")
    body = result.get_body() or b""
    items = list(result.headers.items())
    if not any(k.lower() == "content-type" for k, _ in items):
        mimetype = result.mimetype or "text/plain"
        ct = f"{mimetype}; charset={result.charset}" if mimetype.startswith("text/") else mimetype
        items.append(("content-type", ct))
    response = Response(status_code=int(result.status_code))
    raw = [(b"content-length", str(len(body)).encode())]
    raw += [
        (k.lower().encode("latin-1"), str(v).encode("latin-1"))
        for k, v in items
        if k.lower() != "content-length"
    ]
    response.raw_headers = raw
    response.body = body
    return response


class HttpDispatcher:
    def __init__(self, functions: list[HttpFunction]) -> None:
        self.functions = sorted(
            functions, key=lambda f: f.template.precedence if f.template else ((), 0)
        )

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        if path.rstrip("/") == STATUS_PATH and request.method in ("GET", "HEAD"):
            return Response(
                json.dumps({"state": "Running", "host": "devhost"}).encode(),
                media_type="application/json",
            )
        matched: list[tuple[HttpFunction, dict[str, str]]] = []
        for fn in self.functions:
            values = fn.template.match(path) if fn.template else None
            if values is not None:
                matched.append((fn, values))
        if not matched:
            return _error(404, "NotFound", "No function matches this path.")
        method = request.method.upper()
        chosen = next(
            ((fn, v) for fn, v in matched if fn.methods is None or method in fn.methods), None
        )
        if chosen is None:
            allowed = sorted({m for fn, _ in matched for m in (fn.methods or ())})
            return _error(
                405,
                "MethodNotAllowed",
                f"The method {method} is not allowed for this path.",
                headers={"Allow": ", ".join(allowed)},
            )
        fn, route_params = chosen
        body = await request.body()
        http_request = to_http_request(request, body, route_params)
        invocation = Invocation(fn, reason=HTTP_REASON)
        try:
            result = await invoke_async(invocation, http_request)
            return to_response(result)
        except Exception as exc:
            if not invocation.started:  # failed before the invocation was logged
                log.exception("Functions.%s: %s", fn.name, type(exc).__name__)
            elif isinstance(exc, TypeError) and "not HttpResponse" in str(exc):
                log.error("Functions.%s: %s", fn.name, exc)
            return _error(500, "InternalServerError", "An internal error occurred.")


def create_app(functions: list[HttpFunction]) -> Starlette:
    dispatcher = HttpDispatcher(functions)
    return Starlette(routes=[Route("/{path:path}", dispatcher.handle, methods=METHODS)])
