"""The HTTP surface: the only code that knows ACS's wire format.

`function_app.py` registers every route of `ROUTES` (`routes.py`) with the Functions host and
hands each request to `pipeline.serve` with `endpoint(name)`. `ROUTES` is what the host is told
at start (function name, route, methods) and which module here serves it; it imports nothing, so
indexing the app loads no handler (nor what handlers use: phone numbers, storage, SDKs). A
module is imported by the first request to one of its routes. `ENDPOINTS`, every endpoint
(tests), imports them all.

A new endpoint: its line in `ROUTES`, and a module here with a handler and its `ENDPOINTS` list
(`Endpoint(name, handler, ...)`: what it needs; its route and methods come from `ROUTES`).
tests/test_cold_start.py checks that every route is served by the module it names.
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING

from shared.api.routes import ROUTES, Route, route_named

__all__ = ["ROUTES", "Route", "all_endpoints", "endpoint", "route_named"]

if TYPE_CHECKING:
    from shared.api.pipeline import Endpoint


@functools.cache
def _module_endpoints(module: str) -> dict[str, Endpoint]:
    imported = importlib.import_module(f"{__name__}.{module}")
    return {e.name: e for e in imported.ENDPOINTS}


def endpoint(name: str) -> Endpoint:
    """The endpoint of route `name`; its module is imported on first use."""
    return _module_endpoints(route_named(name).module)[name]


def all_endpoints() -> list[Endpoint]:
    """Every endpoint of every module of ROUTES, in ROUTES's module order."""
    modules = dict.fromkeys(r.module for r in ROUTES)
    return [e for m in modules for e in _module_endpoints(m).values()]


def __getattr__(name: str) -> object:
    # `from shared.api import ENDPOINTS` still works; it imports every handler (tests, tools).
    if name == "ENDPOINTS":
        return all_endpoints()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
