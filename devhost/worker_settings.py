"""The Python worker settings the local host reads, as the Functions host and worker read them.

- `PYTHON_THREADPOOL_THREAD_COUNT` (1-32): how many invocations one worker process runs at once;
  default min(32, CPUs + 4), ThreadPoolExecutor's default, as the worker uses on Python 3.9+.
- `FUNCTIONS_WORKER_PROCESS_COUNT` (1-10): how many language worker processes the host starts;
  default 1. Invalid values fall back to the default with a warning; values above 10 are capped
  at 10, the most Azure allows.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

log = logging.getLogger("devhost")

THREAD_COUNT_SETTING = "PYTHON_THREADPOOL_THREAD_COUNT"
MAX_THREAD_COUNT = 32
PROCESS_COUNT_SETTING = "FUNCTIONS_WORKER_PROCESS_COUNT"
MAX_PROCESS_COUNT = 10
DEFAULT_PROCESS_COUNT = 1


def _integer(raw: str) -> int | None:
    try:
        return int(raw)
    except ValueError:
        return None


def worker_thread_count(environ: Mapping[str, str] | None = None) -> int:
    """How many sync invocations a Python worker runs at once: `PYTHON_THREADPOOL_THREAD_COUNT`
    (1-32), else Python's ThreadPoolExecutor default, as the worker does on Python 3.9+."""
    env = os.environ if environ is None else environ
    raw = (env.get(THREAD_COUNT_SETTING) or "").strip()
    default = min(MAX_THREAD_COUNT, (os.cpu_count() or 1) + 4)
    if not raw:
        return default
    value = _integer(raw) or 0
    if not 1 <= value <= MAX_THREAD_COUNT:
        log.warning(
            "%s must be an integer from 1 to %d; using %d", THREAD_COUNT_SETTING, MAX_THREAD_COUNT,
            default,
        )  # fmt: skip
        return default
    return value


def worker_process_count(environ: Mapping[str, str] | None = None) -> int:
    """How many Python worker processes the host runs: `FUNCTIONS_WORKER_PROCESS_COUNT`, 1-10
    (default 1; more than 10 is capped at 10, as in Azure)."""
    env = os.environ if environ is None else environ
    raw = (env.get(PROCESS_COUNT_SETTING) or "").strip()
    if not raw:
        return DEFAULT_PROCESS_COUNT
    value = _integer(raw)
    if value is None or value < 1:
        log.warning(
            "%s must be a positive integer (at most %d); using %d",
            PROCESS_COUNT_SETTING,
            MAX_PROCESS_COUNT,
            DEFAULT_PROCESS_COUNT,
        )
        return DEFAULT_PROCESS_COUNT
    if value > MAX_PROCESS_COUNT:
        log.warning("%s is at most %d; using %d", PROCESS_COUNT_SETTING, *(MAX_PROCESS_COUNT,) * 2)
        return MAX_PROCESS_COUNT
    return value
