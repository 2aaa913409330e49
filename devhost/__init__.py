"""A local Azure Functions host for this project (development and tests only; not deployed).

Azure Functions Core Tools cannot be installed here, so this package does what `func start`
does for a Python v2 app: index `function_app.py`, serve its HTTP triggers (Starlette on
uvicorn) and run its queue triggers against Azure Storage or Azurite, with host.json and
local.settings.json semantics.

    python -m devhost                  # make run: Azurite + host on http://127.0.0.1:7071
    python -m devhost serve --port N   # the host only
    python -m devhost.sign POST URL BODY   # ACS HMAC-signed curl command

Programmatic use: `devhost.host.LocalHost` (in-process) and `devhost.testing.run_host`
(subprocess, for tests). `devhost.acs_double` is a local HTTP double of ACS (send, HMAC
checked) that the tests and the benchmarks (`bench/`) both use.
"""

from __future__ import annotations

__all__ = ["LocalHost", "run_host", "start_host"]


def __getattr__(name: str) -> object:
    if name == "LocalHost":
        from devhost.host import LocalHost

        return LocalHost
    if name in ("run_host", "start_host"):
        from devhost import testing

        return getattr(testing, name)
    raise AttributeError(name)
