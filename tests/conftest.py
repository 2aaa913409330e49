from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devhost.testing import Azurite, start_azurite  # noqa: E402


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """A private Azurite for the whole test session (loopback, free ports, in memory)."""
    az = start_azurite()
    try:
        yield az
    finally:
        az.stop()
