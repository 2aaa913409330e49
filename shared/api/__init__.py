"""The HTTP surface: the only code that knows ACS's wire format.

`function_app.py` registers every route of `ROUTES` with the Functions host and hands each
request to `pipeline.serve` with `endpoint(name)`. `ROUTES` is what the host is told at start
(function name, route, methods) and which module here serves it; it imports nothing, so
indexing the app loads no handler (nor what handlers use: phone numbers, storage, SDKs). A
module is imported by the first request to one of its routes. `ENDPOINTS`, every endpoint
(tests), imports them all.

A new endpoint: a module here with a handler and its `ENDPOINTS` list (route, methods, what it
needs), plus its line in `ROUTES` (tests/test_cold_start.py checks that the two agree).
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.api.pipeline import Endpoint


@dataclass(frozen=True)
class Route:
    name: str  # the function's name, as its Endpoint's
    route: str
    methods: tuple[str, ...]
    module: str  # the module of `shared.api` whose ENDPOINTS holds it


ROUTES: tuple[Route, ...] = (
    Route("optouts_add", "sms/optouts:add", ("POST",), "optouts"),
    Route("optouts_remove", "sms/optouts:remove", ("POST",), "optouts"),
    Route("optouts_check", "sms/optouts:check", ("POST",), "optouts"),
    Route("health", "health", ("GET",), "health"),
    Route("sender_program", "sms/senders/{sender}/program", ("GET", "PUT", "DELETE"), "programs"),
    Route("sender_history", "sms/senders/{sender}/history", ("GET",), "history"),
    Route("inbound_poison_replay", "sms/inbound/poison:replay", ("POST",), "admin"),
    Route("inbound_deadletter_replay", "sms/inbound/deadletter:replay", ("POST",), "admin"),
    Route("group_optouts", "sms/groups/{group}/optouts", ("GET",), "groups"),
    Route("openapi", "openapi.json", ("GET",), "openapi"),
    Route("sms_send", "sms", ("POST",), "send"),
    Route(
        "recipient_status",
        "sms/senders/{sender}/recipients/{recipient}",
        ("GET",),
        "recipients",
    ),
    Route("sender_report", "sms/senders/{sender}/report", ("GET",), "report"),
    Route("sender_optouts_list", "sms/senders/{sender}/optouts", ("GET",), "optout_list"),
    Route("sender_optouts_export", "sms/senders/{sender}/optouts:export", ("GET",), "optout_list"),
    Route(
        "sender_optouts_import", "sms/senders/{sender}/optouts:import", ("POST",), "optout_import"
    ),
)


@functools.cache
def _module_endpoints(module: str) -> dict[str, Endpoint]:
    imported = importlib.import_module(f"{__name__}.{module}")
    return {e.name: e for e in imported.ENDPOINTS}


def endpoint(name: str) -> Endpoint:
    """The endpoint of route `name`; its module is imported on first use."""
    route = next((r for r in ROUTES if r.name == name), None)
    if route is None:
        raise LookupError(f"no route named {name!r}")
    return _module_endpoints(route.module)[name]


def all_endpoints() -> list[Endpoint]:
    """Every endpoint of every module of ROUTES, in ROUTES's module order."""
    modules = dict.fromkeys(r.module for r in ROUTES)
    return [e for m in modules for e in _module_endpoints(m).values()]


def __getattr__(name: str) -> object:
    # `from shared.api import ENDPOINTS` still works; it imports every handler (tests, tools).
    if name == "ENDPOINTS":
        return all_endpoints()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
