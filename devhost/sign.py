"""Sign a request to the local service the way ACS clients do, and print a curl command.

    python -m devhost.sign POST 'http://127.0.0.1:7071/sms/optouts:check?api-version=2026-01-23' \
        '{"from":"+18005550100","recipients":[{"to":"+14255550123"}]}'

prints a ready-to-run curl command (the signature is valid for the service's clock-skew window,
15 minutes by default); `--send` sends the request and prints the response instead. The body is
the third argument, `@file` for a file's contents or `-` for stdin. The access key comes from
`--key`, else the first key in the OPTOUT_ACCESS_KEYS environment variable, else the first key
in local.settings.json. The signing itself is `shared.platform.hmac_auth.sign_request`, the same
code the app verifies with.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from devhost.settings import ConfigError, load_local_settings

REPO_ROOT = Path(__file__).resolve().parent.parent
KEYS_SETTING = "OPTOUT_ACCESS_KEYS"


def first_key(raw: str) -> str:
    return next((k.strip() for k in raw.split(",") if k.strip()), "")


def resolve_key(
    cli_key: str | None = None,
    environ: Mapping[str, str] | None = None,
    script_root: Path = REPO_ROOT,
) -> str:
    """--key, else the first key of OPTOUT_ACCESS_KEYS (environment, then local.settings)."""
    if cli_key:
        return cli_key.strip()
    env = os.environ if environ is None else environ
    key = first_key(env.get(KEYS_SETTING, ""))
    if key:
        return key
    try:
        key = first_key(load_local_settings(script_root).values.get(KEYS_SETTING, ""))
    except ConfigError:
        key = ""
    if not key:
        raise SystemExit(
            f"No access key: pass --key, set {KEYS_SETTING}, or create local.settings.json "
            "(cp local.settings.sample.json local.settings.json)"
        )
    return key


def sign(method: str, url: str, body: bytes, key: str) -> dict[str, str]:
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from shared.platform.hmac_auth import sign_request

    return sign_request(method.upper(), url, body, key)


def curl_command(method: str, url: str, body: bytes, headers: Mapping[str, str]) -> str:
    parts = ["curl", "-sS", "-i", "--path-as-is", "-X", method.upper(), url]
    if body:
        parts += ["-H", "Content-Type: application/json"]
    for name, value in headers.items():
        parts += ["-H", f"{name}: {value}"]
    if body:
        parts += ["--data-binary", body.decode("utf-8")]
    return " ".join(shlex.quote(p) for p in parts)


def send(
    method: str, url: str, body: bytes, headers: Mapping[str, str], timeout: float = 30.0
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Send exactly this request (path and query untouched); return status, headers, body."""
    parts = urlsplit(url)
    conn_cls = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = conn_cls(parts.netloc, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    all_headers = dict(headers)
    if body:
        all_headers.setdefault("Content-Type", "application/json")
    try:
        conn.request(method.upper(), target, body=body or None, headers=all_headers)
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        conn.close()


def _read_body(arg: str) -> bytes:
    if arg == "-":
        return sys.stdin.buffer.read()
    if arg.startswith("@"):
        return Path(arg[1:]).read_bytes()
    return arg.encode("utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devhost.sign",
        description="Sign a request with ACS HMAC and print a curl command (or send it).",
    )
    parser.add_argument("method", help="HTTP method, e.g. POST")
    parser.add_argument("url", help="full URL, e.g. 'http://127.0.0.1:7071/sms/optouts:add?...'")
    parser.add_argument("body", nargs="?", default="", help="body text, @file, or - for stdin")
    parser.add_argument("--key", help="access key (base64); default: OPTOUT_ACCESS_KEYS")
    parser.add_argument("--send", action="store_true", help="send it and print the response")
    args = parser.parse_args(argv)
    body = _read_body(args.body)
    key = resolve_key(args.key)
    headers = sign(args.method, args.url, body, key)
    if not args.send:
        print(curl_command(args.method, args.url, body, headers))
        return 0
    status, response_headers, response_body = send(args.method, args.url, body, headers)
    print(f"HTTP {status}")
    for name, value in response_headers:
        print(f"{name}: {value}")
    print()
    print(response_body.decode("utf-8", errors="replace"))
    return 0 if status < 400 else 1


if __name__ == "__main__":
    raise SystemExit(main())
