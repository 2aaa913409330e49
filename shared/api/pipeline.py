"""One request pipeline for every HTTP endpoint: an `Endpoint` declares what it needs (auth, a
body size limit, a JSON body, an api-version set) and its handler; `serve` refuses early, in
that order, then runs the handler and turns storage failures into 503 and bad settings into 500.
Every response carries the request's ids (`shared.platform.request_ids`), and every log line written
while it is handled ends with them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from shared.api.routes import route_named
from shared.api.wire import API_VERSIONS, ApiRequest, ApiResponse, error, storage_unavailable
from shared.domain.model import ConcurrencyConflict, StorageUnavailable
from shared.platform.hmac_auth import AuthError, verify_request
from shared.platform.request_ids import RequestIds
from shared.platform.settings import (
    ACCESS_KEYS,
    CLOCK_SKEW_SECONDS,
    MAX_BODY_BYTES,
    Settings,
    SettingsError,
)

if TYPE_CHECKING:
    from shared.domain.repositories import (
        GroupOptOuts,
        HistoryReader,
        MirrorJournal,
        OptOutListing,
        SenderPrograms,
    )
    from shared.inbound.deadletter import ReplayResult
    from shared.optouts.imports import ImportService
    from shared.optouts.pagetoken import PageTokens
    from shared.optouts.reconcile import Reconciler
    from shared.optouts.service import OptOutService
    from shared.sending.gateway import SendGateway

log = logging.getLogger(__name__)


class Services(Protocol):
    """What handlers may use; `shared.runtime` provides it (tests may pass their own)."""

    def settings(self) -> Settings: ...

    def optout_service(self) -> OptOutService: ...

    def programs(self) -> SenderPrograms: ...

    def history(self) -> HistoryReader: ...

    def groups(self) -> GroupOptOuts: ...

    def ping(self) -> None: ...

    def replay_poison_messages(self, limit: int) -> int: ...

    def send_gateway(self) -> SendGateway: ...
    def replay_deadletters(self, limit: int) -> ReplayResult: ...

    def listing(self) -> OptOutListing: ...

    def imports(self) -> ImportService: ...

    def page_tokens(self) -> PageTokens: ...

    def mirror_journal(self) -> MirrorJournal: ...

    def program_stored(self, sender: str) -> None: ...

    def reconciler(self) -> Reconciler: ...


@dataclass(frozen=True)
class Call:
    request: ApiRequest
    services: Services


Handler = Callable[[Call], ApiResponse]


@dataclass(frozen=True)
class Endpoint:
    """What one HTTP function needs and its handler. Its route and methods are its line of
    `ROUTES` (`shared/api/routes.py`), found by `name`: an endpoint without one fails at import."""

    name: str  # the function's name (Functions.<name> in the host's logs)
    handler: Handler
    auth: bool = True  # HMAC-signed with one of OPTOUT_ACCESS_KEYS
    limit_body: bool = True  # 413 over OPTOUT_MAX_BODY_BYTES
    json_methods: frozenset[str] = frozenset()  # methods whose body must be JSON (415)
    api_versions: frozenset[str] | None = None  # the route takes ?api-version= from this set

    def __post_init__(self) -> None:
        route_named(self.name)

    @property
    def route(self) -> str:
        """Under routePrefix "": "sms/optouts:add", "sms/senders/{sender}/program"."""
        return route_named(self.name).route

    @property
    def methods(self) -> tuple[str, ...]:
        return route_named(self.name).methods


def serve(endpoint: Endpoint, request: ApiRequest, services: Services) -> ApiResponse:
    ids = RequestIds.from_headers(request.headers)
    with ids.bound():
        result = _serve(endpoint, request, services)
        log.info("%s: %s answered %d", endpoint.name, request.method, result.status)
    return replace(result, headers={**result.headers, **ids.response_headers()})


def _serve(endpoint: Endpoint, request: ApiRequest, services: Services) -> ApiResponse:
    try:
        return _gates(endpoint, request, services) or endpoint.handler(Call(request, services))
    except SettingsError as exc:
        log.error("The service is misconfigured: %s", exc)
        return error(500, "ServiceMisconfigured", "The service is misconfigured.")
    except (StorageUnavailable, ConcurrencyConflict) as exc:
        log.error("%s failed: %s", endpoint.name, exc)
        return storage_unavailable()


def _gates(endpoint: Endpoint, request: ApiRequest, services: Services) -> ApiResponse | None:
    # Each gate checks the settings it uses (SettingsError: 500, naming the setting); keyword
    # events and anonymous endpoints never depend on them.
    needed = ({MAX_BODY_BYTES} if endpoint.limit_body else set()) | (
        {ACCESS_KEYS, CLOCK_SKEW_SECONDS} if endpoint.auth else set()
    )
    services.settings().require(needed)
    if endpoint.limit_body and (refusal := check_size(request, services.settings())):
        return refusal
    if endpoint.api_versions is not None and (
        refusal := check_api_version(request, endpoint.api_versions)
    ):
        return refusal
    if endpoint.auth and (refusal := authenticate(request, services.settings())):
        return refusal
    if request.method in endpoint.json_methods:
        return check_content_type(request)
    return None


def authenticate(request: ApiRequest, settings: Settings) -> ApiResponse | None:
    """None when the request is signed with a configured key, else the 401 to return."""
    try:
        verify_request(
            request.method,
            request.url,
            request.headers,
            request.body,
            settings.access_keys,
            max_skew_seconds=settings.clock_skew_seconds,
        )
    except AuthError as exc:
        log.warning("Request refused: %s", exc)
        return error(401, "Denied", str(exc))
    return None


def check_size(request: ApiRequest, settings: Settings) -> ApiResponse | None:
    if len(request.body) > settings.max_body_bytes:
        return error(
            413,
            "RequestEntityTooLarge",
            f"The request body exceeds {settings.max_body_bytes} bytes.",
        )
    return None


def check_content_type(request: ApiRequest) -> ApiResponse | None:
    """Bodies must be declared JSON (`application/json`, or a `+json` type), as ACS requires."""
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    ):
        return None
    return error(
        415,
        "UnsupportedMediaType",
        "The request body must be JSON, sent with 'Content-Type: application/json'.",
    )


def _version_error(code: str, message: str) -> ApiResponse:
    return ApiResponse(400, {"error": {"code": code, "message": message, "innerError": None}})


def check_api_version(
    request: ApiRequest, versions: frozenset[str] = API_VERSIONS
) -> ApiResponse | None:
    version = request.params.get("api-version")
    if version and "," in version and len(set(version.split(","))) == 1:
        version = version.split(",")[0]  # the same version given twice (?a=v&a=v)
    if version is None or version == "":
        return _version_error(
            "ApiVersionUnspecified", "An API version is required, but was not specified."
        )
    if version not in versions:
        return _version_error(
            "InvalidApiVersion",
            f"The requested API version '{version[:40]}' is not supported. "
            f"Supported versions: {', '.join(sorted(versions))}.",
        )
    return None
