"""One request pipeline for every HTTP endpoint: an `Endpoint` declares what it needs (auth, a
body size limit, a JSON body, an api-version set, the permission of each method, its input's
target sender) and its handler; `serve` refuses early, in this order, then runs the handler and
turns storage failures into 503 and bad settings into 500:

    413 body too large, 400 api-version, 401 signature, 415 not JSON,
    400 bad input (`Endpoint.target` parses it), 403 MissingPermission, 403 SenderOutOfScope

so a refused request reads and changes nothing (the sender scope of a `group:` key reads the
sender's program, to know its group). Access model: `shared.domain.access`, docs/access.md.
Every response carries the request's ids (`shared.platform.request_ids`), and every log line written
while it is handled ends with them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from shared.api.routes import route_named
from shared.api.wire import API_VERSIONS, ApiRequest, ApiResponse, error, storage_unavailable
from shared.domain.access import AccessKey, KeyRing, Permission
from shared.domain.model import ConcurrencyConflict, StorageUnavailable
from shared.domain.sender import SenderId
from shared.platform.hmac_auth import AuthError, verify_request
from shared.platform.request_ids import RequestIds
from shared.platform.settings import (
    ACCESS_KEYS,
    CLOCK_SKEW_SECONDS,
    KEYS,
    MAX_BODY_BYTES,
    SettingProblem,
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

    def keyring(self) -> KeyRing: ...

    def access_problems(self) -> tuple[SettingProblem, ...]: ...

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
class Target:
    """What a request acts on, from its validated input: a sender, a group's own list, or
    neither (the replays: decided by the permission alone). `value` is what the endpoint's
    parser made of the request, for its handler (`Call.target.value`)."""

    sender: SenderId | None = None
    group: str | None = None
    value: Any = None


@dataclass(frozen=True)
class Call:
    request: ApiRequest
    services: Services
    key: AccessKey | None = None  # the key that signed the request (None: anonymous endpoint)
    target: Target = field(default_factory=Target)

    @property
    def actor(self) -> str:
        """Who is acting, for the audit: the key's name."""
        return self.key.name if self.key is not None else ""


Handler = Callable[[Call], ApiResponse]
Parser = Callable[[Call], Target | ApiResponse]
# `Endpoint.permission` for endpoints that need no permission: any valid key (GET /sms/access),
# or no key at all (health, openapi.json).
ANY_KEY = "any-key"
NO_KEY = "no-key"


@dataclass(frozen=True)
class Endpoint:
    """What one HTTP function needs and its handler. Its route and methods are its line of
    `ROUTES` (`shared/api/routes.py`), found by `name`: an endpoint without one fails at import."""

    name: str  # the function's name (Functions.<name> in the host's logs)
    handler: Handler
    # What the calling key must hold: one permission, one per method, ANY_KEY or NO_KEY. No
    # default: every endpoint says (tests/test_access.py holds each to docs/access.md).
    permission: Permission | Mapping[str, Permission] | str
    # Parses and validates the input (400) and names the sender or group it touches, before
    # the permission and the sender scope are checked; None: nothing to parse, no sender.
    target: Parser | None = None
    limit_body: bool = True  # 413 over OPTOUT_MAX_BODY_BYTES
    json_methods: frozenset[str] = frozenset()  # methods whose body must be JSON (415)
    api_versions: frozenset[str] | None = None  # the route takes ?api-version= from this set

    def __post_init__(self) -> None:
        route = route_named(self.name)
        if isinstance(self.permission, Mapping):
            if set(self.permission) != set(route.methods):
                raise ValueError(f"{self.name}: a permission for each of {route.methods}")
        elif not isinstance(self.permission, Permission) and self.permission not in (
            ANY_KEY,
            NO_KEY,
        ):
            raise ValueError(f"{self.name}: unknown permission {self.permission!r}")

    @property
    def auth(self) -> bool:
        """HMAC-signed with one of the configured keys."""
        return self.permission != NO_KEY

    def permission_for(self, method: str) -> Permission | None:
        """The permission `method` needs (None: any key, or no key)."""
        if isinstance(self.permission, Mapping):
            return self.permission.get(method.upper())
        return self.permission if isinstance(self.permission, Permission) else None

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
        result, key = _serve(endpoint, request, services)
        who = f" (key {key.name})" if key is not None else ""
        log.info("%s: %s answered %d%s", endpoint.name, request.method, result.status, who)
    return replace(result, headers={**result.headers, **ids.response_headers()})


def _serve(
    endpoint: Endpoint, request: ApiRequest, services: Services
) -> tuple[ApiResponse, AccessKey | None]:
    key: AccessKey | None = None
    try:
        gated = _gates(endpoint, request, services)
        if isinstance(gated, ApiResponse):
            return gated, None
        key = gated
        call = authorize(endpoint, Call(request, services, key))
        if isinstance(call, ApiResponse):
            return call, key
        return endpoint.handler(call), key
    except SettingsError as exc:
        log.error("The service is misconfigured: %s", exc)
        return error(500, "ServiceMisconfigured", "The service is misconfigured."), key
    except (StorageUnavailable, ConcurrencyConflict) as exc:
        log.error("%s failed: %s", endpoint.name, exc)
        return storage_unavailable(), key


def _gates(
    endpoint: Endpoint, request: ApiRequest, services: Services
) -> ApiResponse | AccessKey | None:
    """The refusal, else the key that signed the request (None for an anonymous endpoint)."""
    # Each gate checks the settings it uses (SettingsError: 500, naming the setting); keyword
    # events and anonymous endpoints never depend on them.
    needed = ({MAX_BODY_BYTES} if endpoint.limit_body else set()) | (
        {ACCESS_KEYS, KEYS, CLOCK_SKEW_SECONDS} if endpoint.auth else set()
    )
    services.settings().require(needed)
    if endpoint.limit_body and (refusal := check_size(request, services.settings())):
        return refusal
    if endpoint.api_versions is not None and (
        refusal := check_api_version(request, endpoint.api_versions)
    ):
        return refusal
    key = None
    if endpoint.auth:
        key = authenticate(request, services.settings(), services.keyring())
        if isinstance(key, ApiResponse):
            return key
    if request.method in endpoint.json_methods and (refusal := check_content_type(request)):
        return refusal
    return key


def authenticate(request: ApiRequest, settings: Settings, keys: KeyRing) -> AccessKey | ApiResponse:
    """The configured key the request is signed with, else the 401 to return."""
    try:
        index = verify_request(
            request.method,
            request.url,
            request.headers,
            request.body,
            keys.secrets,
            max_skew_seconds=settings.clock_skew_seconds,
        )
    except AuthError as exc:
        log.warning("Request refused: %s", exc)
        return error(401, "Denied", str(exc))
    return keys.keys[index]


def authorize(endpoint: Endpoint, call: Call) -> Call | ApiResponse:
    """The call with its target, once its input is valid (else 400), its key holds the
    permission (else 403 MissingPermission) and the target is in the key's scope (else 403
    SenderOutOfScope). Refusals are logged with the key's name, never the key."""
    target = endpoint.target(call) if endpoint.target is not None else Target()
    if isinstance(target, ApiResponse):
        return target
    key = call.key
    if key is None:
        return replace(call, target=target)
    needed = endpoint.permission_for(call.request.method)
    if needed is not None and not key.allows(needed):
        log.warning("Refused: key %s lacks the %s permission (%s)", key.name, needed, endpoint.name)
        return error(
            403,
            "MissingPermission",
            f"The key '{key.name}' does not hold the '{needed}' permission this operation needs.",
        )
    if not in_scope(key, target, call.services):
        what = f"group '{target.group}'" if target.group is not None else "this sender"
        sender = target.sender.masked if target.sender is not None else target.group
        log.warning("Refused: key %s may not act for %s (%s)", key.name, sender, endpoint.name)
        return error(
            403,
            "SenderOutOfScope",
            f"The key '{key.name}' may not act for {what}: it is outside the key's senders.",
        )
    return replace(call, target=target)


def in_scope(key: AccessKey, target: Target, services: Services) -> bool:
    """Whether `key` may act on `target`. A `group:` scope reads the sender's program (one
    point read) unless the key names the sender itself or holds every sender."""
    scope = key.scope
    if target.group is not None and not scope.covers_group(target.group):
        return False
    sender = target.sender
    if sender is None:
        return True
    group = None
    if scope.needs_program(sender.key):
        program = services.programs().get_program(sender)
        group = program.group if program is not None else None
    return scope.covers_sender(sender.key, group)


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
