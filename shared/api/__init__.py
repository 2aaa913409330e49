"""The HTTP surface: the only code that knows ACS's wire format.

`function_app.py` registers every endpoint of `ENDPOINTS` with the Functions host and hands each
request to `pipeline.serve`. A new endpoint: a module here with a handler and its `ENDPOINTS`
list (route, methods, what it needs), plus one line below.
"""

from __future__ import annotations

from shared.api import (
    admin,
    groups,
    health,
    history,
    openapi,
    optout_import,
    optout_list,
    optouts,
    programs,
    recipients,
    report,
    send,
)
from shared.api.pipeline import Endpoint

ENDPOINTS: list[Endpoint] = [
    *optouts.ENDPOINTS,
    *health.ENDPOINTS,
    *programs.ENDPOINTS,
    *history.ENDPOINTS,
    *admin.ENDPOINTS,
    *groups.ENDPOINTS,
    *openapi.ENDPOINTS,
    *send.ENDPOINTS,
    *recipients.ENDPOINTS,
    *report.ENDPOINTS,
    *optout_list.ENDPOINTS,
    *optout_import.ENDPOINTS,
]
