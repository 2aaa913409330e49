"""Azure Functions bindings: declares the functions and translates Functions types to the domain.

All behaviour lives in `shared/`; the HTTP routes are listed in `shared/api/routes.py` and their
endpoints (what each needs, its handler) in the modules next to it; see README.md for the API.

Importing this module (what a worker does when it starts) declares every function and reads the
settings, nothing more: each function imports what it runs, and `shared.runtime` builds what it
uses (and loads its SDK), on the first invocation that needs it. A short cold start: see
tests/test_cold_start.py and bench/cold_start.py.
"""

from __future__ import annotations

import azure.functions as func

from shared import runtime
from shared.api import ROUTES, Route

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
runtime.startup_checks()


def _serve(name: str, req: func.HttpRequest) -> func.HttpResponse:
    # The first request to a route imports its handler, and the pipeline; later ones find them.
    from shared.api import endpoint
    from shared.api.pipeline import serve
    from shared.api.wire import ApiRequest

    request = ApiRequest(
        method=req.method,
        url=req.url,
        headers=req.headers,
        params=req.params,
        body=req.get_body() or b"",
        route_params=req.route_params,
    )
    result = serve(endpoint(name), request, runtime)
    return func.HttpResponse(
        body=result.json_bytes(),
        status_code=result.status,
        headers=result.headers,
        mimetype=result.media_type,
        charset="utf-8",
    )


def _register(route: Route) -> None:
    def http_function(req: func.HttpRequest) -> func.HttpResponse:
        return _serve(route.name, req)

    http_function.__name__ = http_function.__qualname__ = route.name
    trigger = app.route(route=route.route, methods=list(route.methods))
    app.function_name(route.name)(trigger(http_function))


for _route in ROUTES:
    _register(_route)


@app.function_name("sms_inbound")
@app.queue_trigger(arg_name="msg", queue_name="sms-inbound", connection="AzureWebJobsStorage")
def sms_inbound(msg: func.QueueMessage) -> None:
    from shared.inbound.processor import handle_queue_message

    handle_queue_message(msg.get_body(), runtime.inbound_processor())


# Every 5 minutes, and when the host starts (after a crash, owed events go out at once).
@app.function_name("optout_events_sweep")
@app.timer_trigger(arg_name="timer", schedule="0 */5 * * * *", run_on_startup=True)
def optout_events_sweep(timer: func.TimerRequest) -> None:
    runtime.sweep_events()
    runtime.sweep_mirror()


# The mirror into ACS's opt-out database (docs/acs-mirror.md): one message drains one sender.
@app.function_name("optout_mirror")
@app.queue_trigger(arg_name="msg", queue_name="optout-mirror", connection="AzureWebJobsStorage")
def optout_mirror(msg: func.QueueMessage) -> None:
    runtime.drain_mirror(msg.get_body())
