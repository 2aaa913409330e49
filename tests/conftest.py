from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devhost.inprocess import RESPONSE_CHECKS  # noqa: E402
from devhost.testing import Azurite, start_azurite  # noqa: E402
from tests.openapi_check import check_response  # noqa: E402

# Every response a test gets from the app in process must be one shared/openapi.json describes
# (the end-to-end tests check the host's responses the same way, through its exchange log).
RESPONSE_CHECKS.append(check_response)


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """A private Azurite for the whole test session (loopback, free ports, in memory)."""
    az = start_azurite()
    try:
        yield az
    finally:
        az.stop()
