"""Test support (tests and `make bench`; not deployed): a private Azurite, and the host as a
subprocess.

    from devhost.testing import start_azurite
    az = start_azurite()            # in memory, free loopback ports; az.stop() when done

Run the host as a subprocess for tests: `python -m devhost serve` on a free port.

    from devhost.testing import run_host

    with run_host(script_root, env={"AzureWebJobsStorage": azurite.connection_string}) as url:
        requests.get(url + "/health")

`run_host` waits until the host answers (GET /admin/host/status), and on exit stops it
(SIGTERM to its process group, then SIGKILL). `start_host` gives the `HostProcess` itself, whose
`output()` returns what the host printed (useful in assertions and failure messages).
"""

from __future__ import annotations

import os
import shutil
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
from devhost.processes import (
    LOOPBACK,
    azurite_binary,
    free_port,
    stop_process_group,
    wait_for_ports,
)

ROOT = REPO_ROOT
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public; documented by Microsoft).
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
__all__ = ["ACCOUNT", "ACCOUNT_KEY", "ROOT", "Azurite", "free_port", "start_azurite"]


@dataclass
class Azurite:
    """A private, in-memory Azurite on free loopback ports."""

    blob_port: int
    queue_port: int
    table_port: int
    proc: subprocess.Popen[bytes]
    workdir: str

    @property
    def connection_string(self) -> str:
        return (
            "DefaultEndpointsProtocol=http;"
            f"AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://{LOOPBACK}:{self.blob_port}/{ACCOUNT};"
            f"QueueEndpoint=http://{LOOPBACK}:{self.queue_port}/{ACCOUNT};"
            f"TableEndpoint=http://{LOOPBACK}:{self.table_port}/{ACCOUNT};"
        )

    def stop(self) -> None:
        stop_process_group(self.proc)
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_azurite() -> Azurite:
    binary = azurite_binary(REPO_ROOT)
    if not binary.exists():
        raise RuntimeError(f"{binary} is missing: run `npm ci` (make test does this for you)")
    blob, queue, table = free_port(), free_port(), free_port()
    workdir = tempfile.mkdtemp(prefix="azurite-test-")
    hosts = [f"--{s}Host={LOOPBACK}" for s in ("blob", "queue", "table")]
    ports = [f"--blobPort={blob}", f"--queuePort={queue}", f"--tablePort={table}"]
    proc = subprocess.Popen(
        [str(binary), "--silent", "--disableTelemetry", "--inMemoryPersistence", *hosts, *ports],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    az = Azurite(blob, queue, table, proc, workdir)
    try:
        wait_for_ports([blob, queue, table], proc)
    except BaseException:
        az.stop()
        raise
    return az


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
        stop_process_group(self.proc, timeout)
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
