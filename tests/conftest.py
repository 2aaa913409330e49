from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devhost.http import EXCHANGE_LOG_SETTING  # noqa: E402
from devhost.inprocess import RESPONSE_CHECKS  # noqa: E402
from devhost.testing import Azurite, start_azurite  # noqa: E402
from tests.openapi_check import ExchangeLogs, check_response  # noqa: E402

# Every response a test gets from the app must be one that shared/openapi.json describes: in
# process through `call`, and from every local host the tests start (they inherit the setting
# and record what they answered; checked after each test, so a failure names the test).
RESPONSE_CHECKS.append(check_response)
EXCHANGES = ExchangeLogs(Path(tempfile.mkdtemp(prefix="devhost-exchanges-")))
os.environ[EXCHANGE_LOG_SETTING] = str(EXCHANGES.directory)


def pytest_unconfigure() -> None:
    shutil.rmtree(EXCHANGES.directory, ignore_errors=True)


@pytest.fixture(autouse=True)
def host_responses_are_described() -> Iterator[None]:
    yield
    EXCHANGES.check_new()


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """A private Azurite for the whole test session (loopback, free ports, in memory)."""
    az = start_azurite()
    try:
        yield az
    finally:
        az.stop()
