"""Settings of the change feed (events out), read from the environment like
`shared.platform.settings`.

Every name here is in the settings table of docs/configuration.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from shared.domain.changes import DEFAULT_EVENT_SOURCE
from shared.platform.settings import SettingsError

DEFAULT_EVENTS_QUEUE = "sms-optout-events"
DEFAULT_SWEEP_GRACE_SECONDS = 30


@dataclass(frozen=True)
class FeedSettings:
    queue_name: str = DEFAULT_EVENTS_QUEUE
    event_source: str = DEFAULT_EVENT_SOURCE
    # Event Grid: a custom topic's endpoint (…/api/events), or a namespace's endpoint together
    # with `topic_name` (a namespace topic). Empty: the storage queue only.
    topic_endpoint: str = ""
    topic_name: str = ""
    topic_key: str = ""  # local runs; in Azure the managed identity is used
    client_id: str = ""  # user-assigned identity for the topic (AZURE_CLIENT_ID)
    sweep_grace_seconds: int = DEFAULT_SWEEP_GRACE_SECONDS

    @property
    def topic_enabled(self) -> bool:
        return bool(self.topic_endpoint)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FeedSettings:
        env = os.environ if env is None else env
        queue = (env.get("OPTOUT_EVENTS_QUEUE_NAME") or DEFAULT_EVENTS_QUEUE).strip().lower()
        if not (3 <= len(queue) <= 63) or not queue.replace("-", "").isalnum():
            raise SettingsError("OPTOUT_EVENTS_QUEUE_NAME: not a valid queue name")
        grace = (env.get("OPTOUT_EVENTS_SWEEP_GRACE_SECONDS") or "").strip()
        try:
            grace_seconds = int(grace) if grace else DEFAULT_SWEEP_GRACE_SECONDS
        except ValueError as exc:
            raise SettingsError("OPTOUT_EVENTS_SWEEP_GRACE_SECONDS: expected an integer") from exc
        if grace_seconds < 0:
            raise SettingsError("OPTOUT_EVENTS_SWEEP_GRACE_SECONDS: must be at least 0")
        return cls(
            queue_name=queue,
            event_source=(env.get("OPTOUT_EVENTS_SOURCE") or DEFAULT_EVENT_SOURCE).strip(),
            topic_endpoint=(env.get("OPTOUT_EVENTS_TOPIC_ENDPOINT") or "").strip(),
            topic_name=(env.get("OPTOUT_EVENTS_TOPIC_NAME") or "").strip(),
            topic_key=(env.get("OPTOUT_EVENTS_TOPIC_KEY") or "").strip(),
            client_id=(env.get("AZURE_CLIENT_ID") or "").strip(),
            sweep_grace_seconds=grace_seconds,
        )
