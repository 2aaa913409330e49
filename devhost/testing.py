"""Run the host as a subprocess for tests: `python -m devhost serve` on a free port.

    from devhost.testing import run_host

    with run_host(script_root, env={"AzureWebJobsStorage": azurite.connection_string}) as url:
        requests.get(url + "/health")

`run_host` waits until the host answers (GET /admin/host/status), and on exit stops it
(SIGTERM to its process group, then SIGKILL). `start_host` gives the `HostProcess` itself, whose
`output()` returns what the host printed (useful in assertions and failure messages).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devhost.host import REPO_ROOT


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class HostProcess:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = self.base_url + "/admin/host/status"
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the host exited with code {self.proc.returncode}:\n{self.output()[-4000:]}"
                )
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the host did not answer within {timeout}s:\n{self.output()[-4000:]}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        return int(self.proc.returncode or 0)


def start_host(
    script_root: str | os.PathLike[str] = REPO_ROOT,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    *,
    app_module: str = "function_app",
    use_local_settings: bool = True,
    startup_timeout: float = 30.0,
    log_path: str | os.PathLike[str] | None = None,
) -> HostProcess:
    """Start `python -m devhost serve` and wait until it answers.

    `env` is added to this process's environment (and so wins over local.settings.json);
    `use_local_settings=False` ignores local.settings.json entirely.
    """
    port = free_port() if port is None else port
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="devhost-", suffix=".log")
        os.close(fd)
        log_path = name
    child_env = dict(os.environ)
    child_env.update(env or {})
    child_env["PYTHONUNBUFFERED"] = "1"
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), child_env.get("PYTHONPATH", "")) if p
    )
    cmd = [
        sys.executable,
        "-m",
        "devhost",
        "serve",
        "--port",
        str(port),
        "--script-root",
        str(Path(script_root).resolve()),
        "--app",
        app_module,
    ]
    if not use_local_settings:
        cmd.append("--no-local-settings")
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            cmd,
            cwd=str(Path(script_root).resolve()),
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    host = HostProcess(proc, port, Path(log_path))
    try:
        host.wait_ready(startup_timeout)
    except BaseException:
        host.stop()
        raise
    return host


@contextmanager
def run_host(
    script_root: str | os.PathLike[str] = REPO_ROOT,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    **kwargs: object,
) -> Iterator[str]:
    """Context manager: start the host subprocess, yield its base URL, stop it."""
    host = start_host(script_root, port, env, **kwargs)  # type: ignore[arg-type]
    try:
        yield host.base_url
    finally:
        host.stop()
