"""The HTTP routes: what the Functions host is told at start (function name, route template,
methods) and which module of `shared.api` serves each. The one place a route and its methods are
written: an `Endpoint` (`shared.api.pipeline`) takes them from here by its name. Imports nothing,
so declaring the functions loads no handler (`shared/api/__init__.py`).
"""

from __future__ import annotations

from dataclasses import dataclass


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
    Route("sms_access", "sms/access", ("GET",), "access"),
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
    Route("console", "console", ("GET",), "console"),
    Route("console_file", "console/{file}", ("GET",), "console"),
    Route("sender_mirror_status", "sms/senders/{sender}/mirror", ("GET",), "mirror"),
    Route(
        "sender_optouts_reconcile", "sms/senders/{sender}/optouts:reconcile", ("POST",), "mirror"
    ),
)


_BY_NAME = {route.name: route for route in ROUTES}


def route_named(name: str) -> Route:
    """The route of function `name` (LookupError if there is none)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise LookupError(f"no route named {name!r}") from None
