"""Console logging in the Functions host's style: `[2026-11-26T06:40:00.123Z] message`."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime


class HostFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        text = f"[{stamp}.{int(record.msecs):03d}Z] {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure_logging(verbose: bool = False) -> None:
    """Send host and app logs to stdout; quiet the storage SDK and uvicorn's own chatter.

    The Azure SDK's HTTP logging policy prints request headers at INFO; it stays at WARNING.
    uvicorn's access log stays off (request lines are not the host's business to print).
    """
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(HostFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("azure", "uvicorn", "uvicorn.error", "urllib3", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").disabled = True
