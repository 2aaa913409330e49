"""`make run`: Azurite (started, or reused if already listening) plus the host in the foreground.

Ctrl-C or SIGTERM stops the host and then the Azurite this run started (its whole process
group), so nothing is left behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path

from devhost.host import REPO_ROOT, LocalHost
from devhost.processes import (
    LOOPBACK,
    azurite_binary,
    port_open,
    stop_process_group,
    wait_for_ports,
)
from devhost.sign import KEYS_SETTING, curl_command, first_key, sign

AZURITE_PORTS = {"blob": 10000, "queue": 10001, "table": 10002}
AZURITE_HOST = LOOPBACK
EXAMPLE_BODY = '{"from":"+18005550100","recipients":[{"to":"+14255550123"}]}'
EXAMPLE_PATH = "/sms/optouts:check?api-version=2026-01-23"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the kernel sends Azurite SIGTERM if this process dies without cleaning up."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def start_azurite(root: Path, timeout: float = 30.0) -> subprocess.Popen[bytes] | None:
    """Start Azurite on the default ports, or return None if one already listens there."""
    states = {name: port_open(port) for name, port in AZURITE_PORTS.items()}
    if all(states.values()):
        print(f"Azurite already listening on {AZURITE_HOST}:10000-10002: reusing it.", flush=True)
        return None
    if any(states.values()):
        busy = ", ".join(str(AZURITE_PORTS[n]) for n, up in states.items() if up)
        raise SystemExit(
            f"Port(s) {busy} are in use but not all of 10000-10002 are: stop whatever uses "
            "them, or start Azurite with all three services yourself."
        )
    binary = azurite_binary(root)
    if not binary.exists():
        raise SystemExit(f"{binary} is missing: run `npm ci` (make run does it for you)")
    location = root / ".azurite"
    location.mkdir(exist_ok=True)
    cmd = [
        str(binary),
        "--disableTelemetry",
        "--silent",
        "--skipApiVersionCheck",
        "--location",
        str(location),
        "--blobHost",
        AZURITE_HOST,
        "--queueHost",
        AZURITE_HOST,
        "--tableHost",
        AZURITE_HOST,
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )
    try:
        wait_for_ports(list(AZURITE_PORTS.values()), proc, timeout)
    except RuntimeError as exc:
        stop_process_group(proc)
        raise SystemExit(f"Azurite did not start: {exc}") from exc
    print(f"Started Azurite (pid {proc.pid}, data in {location}).", flush=True)
    return proc


def _python_command(root: Path) -> str:
    exe = Path(sys.executable)
    try:
        return str(exe.relative_to(root))
    except ValueError:
        return str(exe)


def intro(base_url: str, root: Path) -> str:
    key = first_key(os.environ.get(KEYS_SETTING, ""))
    lines = [
        f"Base URL:   {base_url}",
        f"Health:     {base_url}/health",
    ]
    if not key:
        lines.append(f"{KEYS_SETTING} is not set: signed requests will be refused.")
        return "\n".join(lines) + "\n"
    url = base_url + EXAMPLE_PATH
    python = _python_command(root)
    sign_cmd = f"{python} -m devhost.sign POST '{url}' '{EXAMPLE_BODY}'"
    lines += [
        f"ACS client connection string: endpoint={base_url}/;accesskey={key}",
        "",
        "Sign a request (prints a curl command; add --send to send it):",
        f"  {sign_cmd}",
    ]
    try:
        headers = sign("POST", url, EXAMPLE_BODY.encode(), key)
    except Exception as exc:  # the signer lives in shared/; still serve if it is broken
        lines.append(f"(could not sign an example: {type(exc).__name__}: {exc})")
    else:
        lines += [
            "A signed example, valid for 15 minutes:",
            "  " + curl_command("POST", url, EXAMPLE_BODY.encode(), headers),
        ]
    lines.append("\nPress Ctrl-C to stop.")
    return "\n".join(lines) + "\n"


def run(
    port: int | None = None,
    script_root: Path = REPO_ROOT,
    app_module: str = "function_app",
    with_azurite: bool = True,
    bind: str = "127.0.0.1",
) -> int:
    root = Path(script_root).resolve()
    azurite = start_azurite(root) if with_azurite else None
    try:
        host = LocalHost(root, app_module, port, bind=bind)
        host.prepare()
        host.serve(intro=intro(host.base_url, root))
    finally:
        if azurite is not None:
            print("Stopping Azurite...", flush=True)
            stop_process_group(azurite)
    return 0
