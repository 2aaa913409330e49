"""The HTTP side of the host: a Starlette app that routes requests to HTTP-triggered functions.

Each request becomes an `azure.functions.HttpRequest` whose URL is exactly what the client sent
(scheme, Host header, raw path and query), so signatures over them verify. Unknown paths answer
404, a known path with another method 405, a function that raises 500 with a generic body (the
exception is logged here, never sent). Request bodies and headers are never logged.

Test support: with `DEVHOST_EXCHANGE_LOG_DIR` set to a directory, every response that a function
gave (app as `<script root>:<module>`, method, URL, status, headers, body; never the request
body) is appended as a
JSON line to `exchanges-<pid>.jsonl` there, so the tests can check responses that other
processes (the official JS client) received. Off unless set; never set in Azure.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import azure.functions as func
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from devhost.functions import HttpFunction
from devhost.invocation import HTTP_REASON, Invocation, invoke_async
from devhost.payloads import HttpReply, http_reply
from devhost.workers import WorkerPool

log = logging.getLogger("devhost")

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]
STATUS_PATH = "/admin/host/status"
EXCHANGE_LOG_SETTING = "DEVHOST_EXCHANGE_LOG_DIR"


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


def reply_response(reply: HttpReply) -> Response:
    response = Response(status_code=reply.status)
    response.raw_headers = list(reply.headers)
    response.body = reply.body
    return response


def to_response(result: Any) -> Response:
    """Turn the function's return value into a response, as the Python worker does."""
    return reply_response(http_reply(result))


class ExchangeLog:
    """Appends one JSON line per function response (test support, off by default)."""

    def __init__(self, directory: str | os.PathLike[str], app: str) -> None:
        self.path = Path(directory) / f"exchanges-{os.getpid()}.jsonl"
        self.app = app
        self._lock = threading.Lock()

    def record(self, request: Request, response: Response) -> None:
        line = json.dumps(
            {
                "app": self.app,
                "method": request.method,
                "url": request_url(request.scope, request.headers.get("host")),
                "status": response.status_code,
                "headers": {
                    k.decode("latin-1"): v.decode("latin-1") for k, v in response.raw_headers
                },
                "body": base64.b64encode(bytes(response.body)).decode("ascii"),
            }
        )
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")


class HttpDispatcher:
    def __init__(
        self,
        functions: list[HttpFunction],
        exchange_log: ExchangeLog | None = None,
        workers: WorkerPool | None = None,
    ) -> None:
        self.workers = workers
        self.functions = sorted(
            functions, key=lambda f: f.template.precedence if f.template else ((), 0)
        )
        self.exchange_log = exchange_log

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
        response = await self._invoke(fn, request, route_params)
        if self.exchange_log is not None:
            self.exchange_log.record(request, response)
        return response

    async def _invoke(
        self, fn: HttpFunction, request: Request, route_params: dict[str, str]
    ) -> Response:
        body = await request.body()
        http_request = to_http_request(request, body, route_params)
        invocation = Invocation(fn, reason=HTTP_REASON)
        if self.workers is not None:
            try:
                reply = await self.workers.invoke_async(invocation, http_request)
            except Exception:  # logged by the worker, or by the pool when the worker died
                return _error(500, "InternalServerError", "An internal error occurred.")
            return reply_response(reply)
        try:
            result = await invoke_async(invocation, http_request)
            return to_response(result)
        except Exception as exc:
            if not invocation.started:  # failed before the invocation was logged
                log.exception("Functions.%s: %s", fn.name, type(exc).__name__)
            elif isinstance(exc, TypeError) and "not HttpResponse" in str(exc):
                log.error("Functions.%s: %s", fn.name, exc)
            return _error(500, "InternalServerError", "An internal error occurred.")


def create_app(
    functions: list[HttpFunction], app: str = "", workers: WorkerPool | None = None
) -> Starlette:
    directory = os.environ.get(EXCHANGE_LOG_SETTING)
    exchanges = ExchangeLog(directory, app) if directory else None
    dispatcher = HttpDispatcher(functions, exchanges, workers)
    return Starlette(routes=[Route("/{path:path}", dispatcher.handle, methods=METHODS)])
