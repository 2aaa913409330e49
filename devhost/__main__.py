"""Command line: `python -m devhost [run|serve|sign] ...` (no command means `run`)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from devhost.functions import DEFAULT_APP_MODULE, IndexingError
from devhost.host import REPO_ROOT, LocalHost
from devhost.logs import configure_logging
from devhost.queues import ConnectionSettingError
from devhost.settings import ConfigError

log = logging.getLogger("devhost")


def _common(suppress: bool) -> argparse.ArgumentParser:
    """Options accepted before or after the command (`--port 8000 serve` = `serve --port 8000`);
    the copy on subcommands has no defaults so it never overrides the main parser's value."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--port",
        type=int,
        default=default(None),
        help="HTTP port (default 7071 or local.settings.json Host.LocalHttpPort)",
    )
    common.add_argument(
        "--bind", default=default("127.0.0.1"), help="listen address (default 127.0.0.1)"
    )
    common.add_argument(
        "--script-root",
        type=Path,
        default=default(REPO_ROOT),
        help="folder with host.json and the app module (default: the repository root)",
    )
    common.add_argument(
        "--app",
        default=default(DEFAULT_APP_MODULE),
        help="app module in the script root (default function_app)",
    )
    common.add_argument(
        "--verbose", action="store_true", default=default(False), help="debug logging"
    )
    return common


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devhost",
        description="Local Azure Functions host for this project (no command means `run`).",
        parents=[_common(suppress=False)],
    )
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser(
        "run",
        parents=[_common(suppress=True)],
        help="Azurite (started or reused) + the host (what make run does)",
    )
    run.add_argument("--no-azurite", action="store_true", help="do not start or check Azurite")
    serve = sub.add_parser("serve", parents=[_common(suppress=True)], help="the host only")
    serve.add_argument(
        "--no-local-settings", action="store_true", help="ignore local.settings.json"
    )
    sub.add_parser("sign", add_help=False, help="same as python -m devhost.sign")
    return parser


class _Stop:
    """SIGINT/SIGTERM: stop once, cleanly (uvicorn re-raises the signal after its shutdown)."""

    def __init__(self) -> None:
        self.stopping = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            return
        self.stopping = True
        raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "sign":
        from devhost.sign import main as sign_main

        return sign_main(args_list[1:])
    args = _parser().parse_args(args_list)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    configure_logging(args.verbose)
    handler = _Stop()
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    try:
        if args.command == "serve":
            LocalHost(
                args.script_root,
                args.app,
                args.port,
                bind=args.bind,
                use_local_settings=not args.no_local_settings,
            ).serve()
        else:
            from devhost.run import run

            run(
                port=args.port,
                script_root=args.script_root,
                app_module=args.app,
                with_azurite=not getattr(args, "no_azurite", False),
                bind=args.bind,
            )
    except KeyboardInterrupt:
        return 0
    except (ConfigError, IndexingError, ConnectionSettingError, OSError) as exc:
        log.error("%s", exc)
        return 1
    return 0


def _exit(code: int) -> None:
    """Exit now: everything was stopped, but a function stuck in user code (a thread that
    ignores shutdown) must not keep the process alive, as the real host kills its worker."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit(main())
