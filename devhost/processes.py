"""Process and port helpers shared by `make run`, the test support and the benchmark."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

LOOPBACK = "127.0.0.1"


def azurite_binary(root: Path) -> Path:
    return root / "node_modules" / ".bin" / "azurite"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = LOOPBACK, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_ports(ports: list[int], proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Until every port listens; RuntimeError if `proc` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while not all(port_open(p) for p in ports):
        if proc.poll() is not None:
            raise RuntimeError(f"the process exited during start-up (code {proc.returncode})")
        if time.monotonic() > deadline:
            raise RuntimeError(f"ports {ports} did not listen within {timeout:.0f}s")
        time.sleep(0.1)


def stop_process_group(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM to the process's group (it was started with start_new_session), then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass
