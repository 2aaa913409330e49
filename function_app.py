"""Azure Functions bindings: declares the functions and translates Functions types to the domain.

All behaviour lives in `shared/`; the HTTP endpoints are listed in `shared/api/__init__.py`
(route, methods, what each needs); see README.md for the API.
"""

from __future__ import annotations

import azure.functions as func

from shared import runtime
from shared.api import ENDPOINTS
from shared.api.pipeline import Endpoint, serve
from shared.api.wire import ApiRequest
from shared.inbound.processor import handle_queue_message

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
runtime.startup_checks()


def _register(endpoint: Endpoint) -> None:
    def http_function(req: func.HttpRequest) -> func.HttpResponse:
        request = ApiRequest(
            method=req.method,
            url=req.url,
            headers=req.headers,
            params=req.params,
            body=req.get_body() or b"",
            route_params=req.route_params,
        )
        result = serve(endpoint, request, runtime)
        return func.HttpResponse(
            body=result.json_bytes(),
            status_code=result.status,
            headers=result.headers,
            mimetype=result.media_type,
            charset="utf-8",
        )

    http_function.__name__ = http_function.__qualname__ = endpoint.name
    route = app.route(route=endpoint.route, methods=list(endpoint.methods))
    app.function_name(endpoint.name)(route(http_function))


for _endpoint in ENDPOINTS:
    _register(_endpoint)


@app.function_name("sms_inbound")
@app.queue_trigger(arg_name="msg", queue_name="sms-inbound", connection="AzureWebJobsStorage")
def sms_inbound(msg: func.QueueMessage) -> None:
    handle_queue_message(msg.get_body(), runtime.inbound_processor())


# Every 5 minutes, and when the host starts (after a crash, owed events go out at once).
@app.function_name("optout_events_sweep")
@app.timer_trigger(arg_name="timer", schedule="0 */5 * * * *", run_on_startup=True)
def optout_events_sweep(timer: func.TimerRequest) -> None:
    runtime.sweep_events()
