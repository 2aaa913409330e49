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

from azure.storage.queue import QueueServiceClient  # noqa: E402

from devhost.http import EXCHANGE_LOG_SETTING  # noqa: E402
from devhost.inprocess import RESPONSE_CHECKS  # noqa: E402
from devhost.query_rules import QUERY_LOG_SETTING, install  # noqa: E402
from devhost.queues import QUEUE_API_VERSION  # noqa: E402
from devhost.testing import Azurite, start_azurite  # noqa: E402
from tests.openapi_check import ExchangeLogs, check_response  # noqa: E402

# Every response a test gets from the app must be one that shared/openapi.json describes: in
# process through `call`, and from every local host the tests start (they inherit the setting
# and record what they answered; checked after each test, so a failure names the test).
RESPONSE_CHECKS.append(check_response)
EXCHANGES = ExchangeLogs(Path(tempfile.mkdtemp(prefix="devhost-exchanges-")))
os.environ[EXCHANGE_LOG_SETTING] = str(EXCHANGES.directory)


# Every Table query any test makes, in this process (the app in process, the tests' own
# reads) and in every local host the tests start, keeps the real service's query rules
# (devhost/query_rules.py): checked after each test, so a failure names the test.
QUERY_PROBLEMS: list[str] = []
install(QUERY_PROBLEMS.append)
QUERY_LOGS = Path(tempfile.mkdtemp(prefix="devhost-queries-"))
os.environ[QUERY_LOG_SETTING] = str(QUERY_LOGS)
_query_log_offsets: dict[Path, int] = {}


def pytest_unconfigure() -> None:
    shutil.rmtree(EXCHANGES.directory, ignore_errors=True)
    shutil.rmtree(QUERY_LOGS, ignore_errors=True)


def new_query_problems() -> list[str]:
    problems = QUERY_PROBLEMS[:]
    QUERY_PROBLEMS.clear()
    for path in sorted(QUERY_LOGS.glob("queries-*.log")):
        data = path.read_bytes()
        offset = _query_log_offsets.get(path, 0)
        complete = data[offset : data.rfind(b"\n") + 1]
        _query_log_offsets[path] = offset + len(complete)
        problems += complete.decode("utf-8").splitlines()
    return problems


@pytest.fixture(autouse=True)
def host_responses_are_described() -> Iterator[None]:
    yield
    EXCHANGES.check_new()


@pytest.fixture(autouse=True)
def queries_keep_the_rules() -> Iterator[None]:
    yield
    problems = new_query_problems()
    assert not problems, "Table queries that scan (devhost/query_rules.py):\n" + "\n".join(
        dict.fromkeys(problems)
    )


_SESSION_AZURITE: list[Azurite] = []


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """A private Azurite for the whole test session (loopback, free ports, in memory)."""
    az = start_azurite()
    _SESSION_AZURITE.append(az)
    try:
        yield az
    finally:
        _SESSION_AZURITE.clear()
        az.stop()


@pytest.fixture(scope="module", autouse=True)
def empty_session_queues() -> Iterator[None]:
    """After each test module, empty every queue of the session's Azurite. Messages nobody
    reads pile up (every change publishes a change-feed event), and Azurite's queue operations
    slow down with the number of messages in the account (500 put+get+delete: 1.7 s of its CPU
    with no backlog, 11.8 s beside 5,000 messages in another queue), so without this each
    module's queue tests would run slower than the one before. Runs after the module's own
    fixtures (hosts) are stopped."""
    yield
    if _SESSION_AZURITE:
        service = QueueServiceClient.from_connection_string(
            _SESSION_AZURITE[0].connection_string, api_version=QUEUE_API_VERSION
        )
        for queue in service.list_queues():
            service.get_queue_client(queue.name).clear_messages()
