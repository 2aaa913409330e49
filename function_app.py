"""Azure Functions bindings: declares the functions and translates Functions types to the domain.

All behaviour lives in `shared/`; see README.md for the API.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import azure.functions as func

from shared import http_api, inbound, runtime
from shared.settings import SettingsError

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
log = logging.getLogger("function_app")
runtime.startup_checks()


def _to_api(req: func.HttpRequest) -> http_api.ApiRequest:
    return http_api.ApiRequest(
        method=req.method,
        url=req.url,
        headers=req.headers,
        params=req.params,
        body=req.get_body() or b"",
    )


def _respond(handle: Callable[[], http_api.ApiResponse]) -> func.HttpResponse:
    try:
        result = handle()
    except SettingsError as exc:
        log.error("The service is misconfigured: %s", exc)
        result = http_api.error(500, "ServiceMisconfigured", "The service is misconfigured.")
    return func.HttpResponse(
        body=result.json_bytes(),
        status_code=result.status,
        headers=result.headers,
        mimetype="application/json",
        charset="utf-8",
    )


def _optouts(action: str, req: func.HttpRequest) -> func.HttpResponse:
    return _respond(
        lambda: http_api.handle_optouts(
            action, _to_api(req), runtime.settings(), runtime.optout_service()
        )
    )


@app.function_name("optouts_add")
@app.route(route="sms/optouts:add", methods=["POST"])
def optouts_add(req: func.HttpRequest) -> func.HttpResponse:
    return _optouts("add", req)


@app.function_name("optouts_remove")
@app.route(route="sms/optouts:remove", methods=["POST"])
def optouts_remove(req: func.HttpRequest) -> func.HttpResponse:
    return _optouts("remove", req)


@app.function_name("optouts_check")
@app.route(route="sms/optouts:check", methods=["POST"])
def optouts_check(req: func.HttpRequest) -> func.HttpResponse:
    return _optouts("check", req)


@app.function_name("health")
@app.route(route="health", methods=["GET"])
def health(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(lambda: http_api.handle_health(runtime.store().ping))


def _per_sender(
    handle: Callable[..., http_api.ApiResponse], req: func.HttpRequest, repo: Callable[[], object]
) -> func.HttpResponse:
    sender = req.route_params.get("sender", "")
    return _respond(lambda: handle(_to_api(req), sender, runtime.settings(), repo()))


@app.function_name("sender_program")
@app.route(route="sms/senders/{sender}/program", methods=["GET", "PUT", "DELETE"])
def sender_program(req: func.HttpRequest) -> func.HttpResponse:
    return _per_sender(http_api.handle_program, req, lambda: runtime.store().programs)


@app.function_name("sender_history")
@app.route(route="sms/senders/{sender}/history", methods=["GET"])
def sender_history(req: func.HttpRequest) -> func.HttpResponse:
    return _per_sender(http_api.handle_history, req, lambda: runtime.store().history)


@app.function_name("inbound_poison_replay")
@app.route(route="sms/inbound/poison:replay", methods=["POST"])
def inbound_poison_replay(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(
        lambda: http_api.handle_replay(
            _to_api(req), runtime.settings(), runtime.replay_poison_messages
        )
    )


@app.function_name("sms_inbound")
@app.queue_trigger(arg_name="msg", queue_name="sms-inbound", connection="AzureWebJobsStorage")
def sms_inbound(msg: func.QueueMessage) -> None:
    inbound.handle_queue_message(msg.get_body(), runtime.inbound_processor())
