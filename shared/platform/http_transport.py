"""One HTTP transport for the Azure SDK clients, sized for the worker's concurrency.

azure-core's default `RequestsTransport` keeps at most 10 connections per host: with more
invocations running at once, every extra connection is opened, used once and discarded (urllib3
logs "Connection pool is full"), which costs a TCP handshake per request on both sides. This
transport keeps up to `pool_size` connections alive instead.

It also reads the environment once, not on every request: with no proxy set (`HTTP_PROXY`,
`HTTPS_PROXY`, ...), requests' per-request scan of the whole environment and of `~/.netrc` is
skipped, and a CA bundle named by `REQUESTS_CA_BUNDLE` / `CURL_CA_BUNDLE` is applied to the
session as requests would apply it to each request. With a proxy set, requests keeps its
default per-request behaviour, so proxies work as before.

requests and azure-core are imported by the first transport made, not with this module.
"""

from __future__ import annotations

import os
import urllib.request
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests
    from azure.core.pipeline.transport import RequestsTransport

# The Python worker runs at most min(32, cpu + 4) invocations at once by default, plus the
# store's own parallel queries; 64 leaves room for both.
DEFAULT_POOL_SIZE = 64


CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def environment_session() -> requests.Session:
    """A session that behaves as requests' default one does with this process's environment."""
    import requests

    session = requests.Session()
    session.trust_env = bool(urllib.request.getproxies())
    if not session.trust_env:
        bundle = next((os.environ[v] for v in CA_BUNDLE_VARIABLES if os.environ.get(v)), None)
        session.verify = bundle or True
    return session


def pooled_transport(pool_size: int = DEFAULT_POOL_SIZE, **connection: Any) -> RequestsTransport:
    """A transport for one SDK client; `connection` takes `connection_timeout`/`read_timeout`
    (azure-core's names), which a client passes to the transport only when it builds its own."""
    from azure.core.pipeline.transport import RequestsTransport
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    session = environment_session()
    # Retries are the SDK pipeline's job, as in azure-core's own adapter.
    adapter = HTTPAdapter(
        pool_connections=4,
        pool_maxsize=pool_size,
        max_retries=Retry(total=False, redirect=False, raise_on_status=False),
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return RequestsTransport(session=session, session_owner=True, **connection)
