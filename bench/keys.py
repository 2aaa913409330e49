"""Benchmark: what each configured access key costs a request (docs/access.md).

    .venv/bin/python -m bench.keys        # part of `make bench`

ACS's HMAC names no key, so the service tries every key of OPTOUT_ACCESS_KEYS and OPTOUT_KEYS
on every request (no early exit: the timing does not say which key matched). This times
`verify_request` alone, with the signing key last, for 1 to MAX_KEYS keys, and prints the cost
per key: the figure docs/access.md quotes.
"""

from __future__ import annotations

import base64
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from requests.structures import CaseInsensitiveDict  # noqa: E402

from shared.domain.access import MAX_KEYS  # noqa: E402
from shared.platform.hmac_auth import sign_request, verify_request  # noqa: E402

URL = "http://127.0.0.1:7071/sms/optouts:check?api-version=2026-01-23"
BODY = b'{"from":"+18005550100","recipients":[{"to":"+14255550123"}]}'
CALLS = 2000


def time_keys(n: int) -> float:
    """Median microseconds of one verification among `n` keys (the signer last)."""
    keys = [os.urandom(32) for _ in range(n)]
    headers = CaseInsensitiveDict(
        sign_request("POST", URL, BODY, base64.b64encode(keys[-1]).decode())
    )
    headers["host"] = "127.0.0.1:7071"
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(CALLS):
            verify_request("POST", URL, headers, BODY, keys, max_skew_seconds=900)
        rounds.append((time.perf_counter() - start) / CALLS * 1e6)
    return statistics.median(rounds)


def main() -> None:
    print(f"HMAC verification by number of configured keys ({CALLS} calls x 5, median)")
    print(f"{'keys':>5} {'us/request':>11}")
    figures = {n: time_keys(n) for n in (1, 4, 8, 16, MAX_KEYS)}
    for n, us in figures.items():
        print(f"{n:>5} {us:>11.1f}")
    per_key = (figures[MAX_KEYS] - figures[1]) / (MAX_KEYS - 1)
    print(f"cost per extra key: {per_key:.1f} us")


if __name__ == "__main__":
    main()
