"""Process-wide objects, built once per worker on first use from the environment.

Built lazily (not at import) so that a bad setting gives a clear error response and log line
instead of an app that fails to index, and so tests can point a fresh app at their own storage
with `reset()`. Imported lazily too, for a short cold start: importing this module reads no
setting and loads nothing but the settings module; each builder imports what it builds (and so
the SDK it uses) the first time it is called, so a worker that never replays dead-letters never
loads the blob SDK, and indexing the app loads no SDK at all (tests/test_cold_start.py).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shared.platform.settings import API_SETTINGS, KEYS, SettingProblem, Settings, SettingsError

if TYPE_CHECKING:
    from azure.core.pipeline.transport import RequestsTransport
    from azure.storage.queue import QueueServiceClient

    from shared.domain.access import KeyRing
    from shared.domain.repositories import (
        GroupOptOuts,
        HistoryReader,
        MirrorJournal,
        OptOutListing,
        SenderPrograms,
    )
    from shared.feed.change_feed import ChangeFeed
    from shared.feed.mirror import AcsOptOuts, MirrorDrainer, MirroredSenders
    from shared.feed.settings import FeedSettings
    from shared.inbound.deadletter import ReplayResult
    from shared.inbound.processor import InboundProcessor
    from shared.optouts.imports import ImportService
    from shared.optouts.membership import OptOutMembership
    from shared.optouts.pagetoken import PageTokens
    from shared.optouts.reconcile import Reconciler
    from shared.optouts.service import OptOutService
    from shared.sending.gateway import SendGateway
    from shared.tables import TableStore

# Fail fast when storage is down: the caller (a client or the queue host) retries.
STORAGE_CLIENT_OPTIONS: dict[str, Any] = {
    "retry_total": 2,
    "retry_backoff_factor": 0.4,
    "connection_timeout": 5,
    "read_timeout": 15,
}

EVENT_SENDS_IN_PARALLEL = 16

log = logging.getLogger(__name__)
_lock = threading.RLock()
_cache: dict[str, Any] = {}


def _get(name: str, build: Any) -> Any:
    value = _cache.get(name)
    if value is None:
        with _lock:
            value = _cache.get(name)
            if value is None:
                value = build()
                _cache[name] = value
    return value


def settings() -> Settings:
    return _get("settings", Settings.from_env)


def keyring() -> KeyRing:
    """The access keys: OPTOUT_ACCESS_KEYS (full keys key1, key2, ...) and OPTOUT_KEYS (named,
    scoped). SettingsError naming OPTOUT_KEYS and why when it is unusable (the API then answers
    500 ServiceMisconfigured; keyword events do not use keys)."""

    def build() -> KeyRing:
        from shared.domain.access import InvalidAccessKeys, parse_keyring

        s = settings()
        try:
            return parse_keyring(s.keys_json, s.access_keys)
        except InvalidAccessKeys as exc:
            raise SettingsError(f"{KEYS}: {exc}") from None

    return _get("keyring", build)


def access_problems() -> tuple[SettingProblem, ...]:
    """What makes the keys unusable, as settings problems (setting name and reason only)."""
    if any(p.setting == KEYS for p in settings().problems):
        return ()  # already one of the settings' problems (an unresolved Key Vault reference)
    try:
        keyring()
    except SettingsError as exc:
        return (SettingProblem(KEYS, str(exc).removeprefix(f"{KEYS}: ")),)
    return ()


# Every invocation the worker runs at once (PYTHON_THREADPOOL_THREAD_COUNT is at most 32).
MAX_CONCURRENT_INVOCATIONS = 32


def pooled_transport(pool_size: int) -> RequestsTransport:
    """azure-core's requests transport keeps 10 connections per host by default; beyond that,
    each extra connection is opened, used once and dropped."""
    from shared.platform import http_transport

    timeouts = {k: v for k, v in STORAGE_CLIENT_OPTIONS.items() if k.endswith("_timeout")}
    return http_transport.pooled_transport(pool_size, **timeouts)


def store() -> TableStore:
    def build() -> TableStore:
        from shared.platform.connections import table_service_client
        from shared.tables import TableStore
        from shared.tables.base import MAX_PARALLEL_READS

        s = settings()
        # A connection per concurrent request: the store's parallel point reads, plus every
        # invocation running at once.
        pool_size = MAX_PARALLEL_READS + MAX_CONCURRENT_INVOCATIONS
        client = table_service_client(
            transport=pooled_transport(pool_size), **STORAGE_CLIENT_OPTIONS
        )
        return TableStore(
            client,
            s.optout_table,
            s.history_table,
            s.programs_table,
            groups_table=s.groups_table,
            mirror_table=s.mirror_table,
        )

    return _get("store", build)


def programs() -> SenderPrograms:
    """Sender programs, remembered up to 30 s per instance (`PROGRAM_CACHE_SECONDS`) and
    refreshed at once on this instance when they change here (the program API writes through
    it): one cache for `check`, sends, keyword events and the API."""

    def build() -> SenderPrograms:
        from shared.inbound.program_cache import CachedPrograms

        return CachedPrograms(store().programs)

    return _get("programs", build)


def history() -> HistoryReader:
    return store().history


def groups() -> GroupOptOuts:
    return store().groups


def ping() -> None:
    store().ping()


def membership() -> OptOutMembership:
    """Opted out of a sender, directly or through its revoke-all group: what `check` asks, and
    what a sending path must ask before it sends."""

    def build() -> OptOutMembership:
        from shared.optouts.membership import OptOutMembership

        tables = store()
        return OptOutMembership(tables.optouts, tables.groups, programs())

    return _get("membership", build)


def feed_settings() -> FeedSettings:
    from shared.feed.settings import FeedSettings

    return _get("feed_settings", FeedSettings.from_env)


def change_feed() -> ChangeFeed:
    """The change feed: the outboxes in the OptOuts table (senders' changes) and the
    GroupOptOuts table (group-wide changes), published to the events queue (and the Event Grid
    topic when configured)."""

    def build() -> ChangeFeed:
        from shared.feed.change_feed import ChangeFeed
        from shared.feed.mirror import MirrorPublisher
        from shared.feed.publishers import FanoutPublisher, make_publisher
        from shared.platform.connections import queue_service_client

        s = feed_settings()
        # Its own connection pool: events of different recipients are sent in parallel.
        transport = pooled_transport(EVENT_SENDS_IN_PARALLEL)
        queues = queue_service_client(transport=transport, **STORAGE_CLIENT_OPTIONS)
        queue = queues.get_queue_client(s.queue_name)
        tables = store()
        # Then the mirror into ACS: changes of mirrored senders noted, their drain nudged.
        mirror = MirrorPublisher(mirrored_senders(), tables.mirror, nudge_mirror)
        publisher = FanoutPublisher(
            [make_publisher(s, queue, parallel=EVENT_SENDS_IN_PARALLEL), mirror]
        )
        grace = timedelta(seconds=s.sweep_grace_seconds)
        return ChangeFeed(tables.feed, publisher, groups=tables.groups, sweep_grace=grace)

    return _get("change_feed", build)


def sweep_events() -> int:
    return change_feed().sweep()


# -- the mirror into ACS (docs/acs-mirror.md) ----------------------------------------------------


def mirrored_senders() -> MirroredSenders:
    def build() -> MirroredSenders:
        from shared.feed.mirror import MirroredSenders

        return MirroredSenders(store().programs)

    return _get("mirrored_senders", build)


def program_stored(sender: str) -> None:
    """A program was stored or deleted here: this instance reads its mirror switch again."""
    mirrored_senders().forget(sender)


def mirror_journal() -> MirrorJournal:
    return store().mirror


def acs_optouts() -> AcsOptOuts:
    """ACS's opt-out API through the official client (the send endpoint's credentials)."""

    def build() -> AcsOptOuts:
        from shared.api.acs_optouts import make_acs_optouts

        client = make_acs_optouts(settings())
        if client is None:
            raise SettingsError(
                "ACS_CONNECTION_STRING / ACS_ENDPOINT: not set; the mirror into ACS and "
                "reconcile need the ACS resource"
            )
        return client

    return _get("acs_optouts", build)


def _mirror_queue() -> Any:
    def build() -> Any:
        from azure.core.exceptions import ResourceExistsError

        from shared.feed.mirror import MIRROR_QUEUE
        from shared.platform.connections import queue_service_client

        queue = queue_service_client(**_storage_options()).get_queue_client(MIRROR_QUEUE)
        with contextlib.suppress(ResourceExistsError):
            queue.create_queue()
        return queue

    return _get("mirror_queue", build)


def nudge_mirror(sender: str, delay: float = 0.0) -> None:
    """A message on `optout-mirror` that makes a drain of `sender` run (after `delay` s)."""
    import json
    import math

    from azure.core.exceptions import AzureError

    from shared.domain.model import StorageUnavailable

    visibility = math.ceil(delay) + 1 if delay > 0 else 0  # never before the back-off ends
    try:
        _mirror_queue().send_message(
            json.dumps({"sender": sender}), visibility_timeout=visibility or None
        )
    except AzureError as exc:
        raise StorageUnavailable(f"mirror queue: {type(exc).__name__}") from exc


def mirror_drainer() -> MirrorDrainer:
    def build() -> MirrorDrainer:
        from shared.domain.phone import parse_e164
        from shared.domain.sender import parse_sender
        from shared.feed.mirror import MirrorDrainer

        def opted_out(sender: str, recipients: Any) -> set[str]:
            numbers = [parse_e164(r) for r in recipients]
            return membership().opted_out(parse_sender(sender), numbers)

        return MirrorDrainer(store().mirror, opted_out, acs_optouts())

    return _get("mirror_drainer", build)


def drain_mirror(body: bytes) -> None:
    """One `optout-mirror` message: drain its sender; a failure is retried by a delayed nudge
    (not by failing the message: the host would retry at once and then park it)."""
    import json

    try:
        sender = str(json.loads(body)["sender"])
    except (ValueError, KeyError, TypeError):
        log.error("optout-mirror: a message without a sender was dropped")
        return
    try:
        drainer = mirror_drainer()
    except SettingsError as exc:
        log.error("Mirror not drained: %s (the sweep tries again)", exc)
        return
    result = drainer.drain(sender)
    if result.retry_in is not None:
        nudge_mirror(sender, result.retry_in)
    elif result.more:
        nudge_mirror(sender, 0.0)


def sweep_mirror() -> int:
    """Nudge every mirrored sender with pending changes (a nudge lost, a back-off that ended);
    returns how many were nudged."""
    journal = store().mirror
    nudged = 0
    for sender in store().programs.mirrored_senders():
        if journal.pending(sender, 1):
            nudge_mirror(sender, 0.0)
            nudged += 1
    return nudged


def reconciler() -> Reconciler:
    def build() -> Reconciler:
        from shared.optouts.reconcile import Reconciler

        tables = store()
        return Reconciler(
            tables.known_recipients,
            membership(),
            acs_optouts(),
            tables.history,
            tables.history,
            change_feed(),
            tables.mirror,
            groups=tables.groups,
        )

    return _get("reconciler", build)


def optout_service() -> OptOutService:
    def build() -> OptOutService:
        from shared.optouts.service import OptOutService

        tables = store()
        return OptOutService(tables.optouts, tables.history, change_feed(), membership=membership())

    return _get("optout_service", build)


def inbound_processor() -> InboundProcessor:
    def build() -> InboundProcessor:
        from shared.inbound.processor import InboundProcessor
        from shared.inbound.reply_sender import make_reply_sender

        tables = store()
        replies = make_reply_sender(settings())
        return InboundProcessor(
            tables.optouts,
            tables.history,
            programs(),  # a burst for one sender reads it once
            replies,
            settings(),
            feed=change_feed(),
            groups=tables.groups,
        )

    return _get("inbound", build)


def listing() -> OptOutListing:
    return store().bulk


def imports() -> ImportService:
    def build() -> ImportService:
        from shared.optouts.imports import ImportService

        return ImportService(change_feed(), store().bulk, store().history)

    return _get("imports", build)


def page_tokens() -> PageTokens:
    def build() -> PageTokens:
        from shared.optouts.pagetoken import PageTokens

        return PageTokens.from_access_keys(keyring().secrets)

    return _get("page_tokens", build)


def send_gateway() -> SendGateway:
    """POST /sms: the opt-out membership `check` uses, ACS (or dry run / none) upstream."""

    def build() -> SendGateway:
        from shared.api.acs_upstream import make_upstream
        from shared.sending.gateway import SendGateway

        s = settings()
        upstream = make_upstream(s)
        # The same question `check` asks: the sender's own entries or its revoke-all group's.
        return SendGateway(membership(), upstream, check_timeout=s.send_check_timeout)

    return _get("send_gateway", build)


def _storage_options() -> dict[str, Any]:
    """Queue and blob clients retry with the storage SDKs' own policy, whose default back-off
    (15 s, then 15 + 3^n s) would hold a replay request for over 40 s when storage is down."""
    return {**STORAGE_CLIENT_OPTIONS, "initial_backoff": 0.5, "increment_base": 2}


def _queues() -> QueueServiceClient:
    from shared.platform.connections import queue_service_client

    return _get("queues", lambda: queue_service_client(**_storage_options()))


def replay_poison_messages(limit: int) -> int:
    from shared.inbound.poison import replay_poison

    return replay_poison(_queues(), limit)


def replay_deadletters(limit: int) -> ReplayResult:
    from shared.inbound.deadletter import DEADLETTER_CONTAINER
    from shared.inbound.deadletter import replay_deadletters as replay_deadletter_blobs
    from shared.inbound.poison import INBOUND_QUEUE
    from shared.platform.connections import blob_service_client

    queues = _queues()
    blobs = _get("blobs", lambda: blob_service_client(**_storage_options()))
    return replay_deadletter_blobs(
        blobs.get_container_client(DEADLETTER_CONTAINER),
        queues.get_queue_client(INBOUND_QUEUE),
        limit,
    )


def reset() -> None:
    """Forget everything built so far (tests; settings changes)."""
    with _lock:
        _cache.clear()


def startup_checks() -> None:
    """Say once, at start, what will not work (GET /health says the same)."""
    s = settings()
    # OPTOUT_KEYS is parsed by the first API request (its senders need the phone number library,
    # which a start does not load): its problems are logged then, and on GET /health.
    for problem in s.health:
        if problem.setting in API_SETTINGS:
            log.error(
                "Configuration problem: %s (API requests are refused until it is fixed; "
                "keyword events keep working)",
                problem,
            )
        else:
            log.error("Configuration problem: %s", problem)
    if not s.replies_enabled:
        log.warning(
            "ACS_CONNECTION_STRING and ACS_ENDPOINT are empty: keyword replies will be logged, "
            "not sent"
        )
    if s.send_dry_run:
        log.warning("SEND_DRY_RUN is on: POST /sms answers as if sent and sends nothing")
    elif not s.replies_enabled:
        log.warning("POST /sms will refuse every allowed recipient: no ACS resource is set")
