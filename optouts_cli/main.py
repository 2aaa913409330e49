"""`optouts`: the command line. Parsing options and printing; the work is in the other modules."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import click

from optouts_cli import exporter, importer
from optouts_cli.client import Action, ApiError, Client, ExportFormat
from optouts_cli.config import ConfigError, resolve_target
from optouts_cli.output import err, print_import_summary, print_recipients, progress
from shared.domain.access import InvalidAccessKeys, parse_keyring
from shared.optouts.importfile import ImportFileError, ImportRow, InvalidRow, parse_number

EXAMPLES = """
\b
Examples (against `make run`; the key comes from local.settings.json):
  optouts import --sender +18005550100 optouts.csv
  optouts export --sender +18005550100 -o optouts.csv
  optouts check --sender +18005550100 +14255550123 14255550124
  optouts reconcile --sender +18005550100 --fix
  optouts keys new --name crm --permissions check,read --senders +18005550100,group:brand1
  optouts keys show
\b
Against Azure:
  export OPTOUT_CONNECTION_STRING='endpoint=https://<app>.azurewebsites.net;accesskey=<key>'"""


@dataclass(frozen=True)
class Options:
    """The group's options; the client is made when a command runs (so `--help` needs no key)."""

    endpoint: str | None
    key: str | None
    connection_string: str | None
    retries: int

    def client(self) -> Client:
        keys = os.environ.get("OPTOUT_ACCESS_KEYS")
        try:
            target = resolve_target(self.endpoint, self.key, keys, self.connection_string)
        except ConfigError as exc:
            raise click.UsageError(str(exc)) from exc
        return Client(target, retries=self.retries)


def sender_option() -> click.Option:  # type: ignore[return-value]
    return click.option(
        "--sender",
        "-s",
        required=True,
        metavar="NUMBER",
        help="The business number whose list this is (E.164, e.g. +18005550100).",
    )


@click.group(epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--endpoint",
    envvar="OPTOUT_ENDPOINT",
    metavar="URL",
    help="Base URL of the service [env OPTOUT_ENDPOINT; default http://127.0.0.1:7071].",
)
@click.option(
    "--key",
    envvar="OPTOUT_ACCESS_KEY",
    metavar="KEY",
    help="Access key (base64) [env OPTOUT_ACCESS_KEY, else the first of OPTOUT_ACCESS_KEYS, "
    "else local.settings.json here].",
)
@click.option(
    "--connection-string",
    envvar="OPTOUT_CONNECTION_STRING",
    metavar="CS",
    help="endpoint=...;accesskey=... instead of --endpoint and --key [env "
    "OPTOUT_CONNECTION_STRING].",
)
@click.option("--retries", default=4, show_default=True, help="Retries of a failed request.")
@click.pass_context
def cli(
    ctx: click.Context,
    endpoint: str | None,
    key: str | None,
    connection_string: str | None,
    retries: int,
) -> None:
    """Manage a sender's SMS opt-out list: bulk import, export, check, add and remove.

    Calls the opt-out service's HTTP API with ACS HMAC signatures, so it works the same
    against `make run` and an Azure deployment.
    """
    ctx.obj = Options(endpoint, key, connection_string, retries)


@cli.command(
    "import",
    short_help="Import a CSV / JSON / NDJSON file of opt-outs (resumable).",
    epilog="Invalid lines do not stop the import; they are listed in the errors file.",
)
@sender_option()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "ndjson"]),
    help="File format [default: from the extension, else csv].",
)
@click.option(
    "--chunk-size",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 5000),
    help="Rows per request.",
)
@click.option(
    "--concurrency",
    "-c",
    default=2,
    show_default=True,
    type=click.IntRange(1, 32),
    help="Requests in flight.",
)
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="State file for resuming [default: FILE.<sender>.import-state.json].",
)
@click.option(
    "--errors",
    "errors_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where per-line errors go [default: FILE.errors.csv].",
)
@click.option("--restart", is_flag=True, help="Ignore the state of an interrupted run; start over.")
@click.pass_obj
def import_command(
    options: Options,
    sender: str,
    file: Path,
    fmt: str | None,
    chunk_size: int,
    concurrency: int,
    state_path: Path | None,
    errors_path: Path | None,
    restart: bool,
) -> None:
    """Import the opt-outs in FILE (CSV with a header naming the number column, a JSON array,
    or NDJSON), with an optional optedOutAt column.

    The file is split into requests sent concurrently. If the run stops (an error, Ctrl-C),
    run the same command again: finished chunks are skipped, and nothing is imported twice.
    """
    try:
        parsed, digest = importer.read_file(file, importer.file_format(file, fmt))
    except (ImportFileError, OSError) as exc:
        raise click.ClickException(f"{file}: {exc}") from exc
    digits = re.sub(r"\D", "", sender)
    state_path = state_path or file.with_name(f"{file.name}.{digits}.import-state.json")
    if restart:
        state_path.unlink(missing_ok=True)
    try:
        state = importer.ImportState.open(state_path, digest, sender, chunk_size)
    except importer.StateMismatch as exc:
        raise click.ClickException(str(exc)) from exc
    started = time.monotonic()
    client = options.client()
    send_with_progress(client, state, importer.chunks(parsed.rows, state.chunk_size), concurrency)
    totals = importer.totals(parsed, state)
    errors_path = errors_path or file.with_name(file.name + ".errors.csv")
    if totals.errors:
        importer.write_errors(errors_path, totals.errors)
    state.remove()
    print_import_summary(totals, state.import_id, time.monotonic() - started, errors_path)


def send_with_progress(
    client: Client,
    state: importer.ImportState,
    parts: list[Sequence[ImportRow]],
    concurrency: int,
) -> None:
    """Send the chunks under a progress bar; exit (state saved) on Ctrl-C or a failure."""
    if state.done:
        err.print(f"Resuming: {len(state.done)} of {len(parts)} chunks were already imported.")
    total = sum(len(p) for p in parts)
    problem, code = "", 0
    with progress(total) as bar:
        task = bar.add_task("Importing", total=total)
        bar.advance(task, sum(len(parts[i]) for i in state.done))
        try:
            importer.run_chunks(client, state, parts, concurrency, lambda n: bar.advance(task, n))
        except KeyboardInterrupt:
            problem, code = "[yellow]Interrupted.[/]", 130
        except ApiError as exc:
            problem, code = f"[red]Import stopped:[/] {exc}", 1
    if code:
        err.print(problem)
        err.print(
            f"{len(state.done)} of {len(parts)} chunks done (saved in {state.path}); "
            "run the same command again to resume."
        )
        sys.exit(code)


@cli.command("export", short_help="Export the list as CSV or NDJSON.")
@sender_option()
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in ExportFormat]),
    default="csv",
    show_default=True,
    help="csv: to,country,optedOutAt,source (RFC 4180); ndjson: one JSON object per line.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    show_default=True,
    help="File to write; - for stdout.",
)
@click.option("--since", metavar="DATETIME", help="Only opt-outs at or after this ISO 8601 time.")
@click.option(
    "--country", metavar="CC", help="Only numbers of this country (ISO 3166 alpha-2, e.g. US)."
)
@click.option(
    "--page-size",
    type=click.IntRange(1, 5000),
    help="Rows per request [default: the service's, 5000].",
)
@click.pass_obj
def export_command(
    options: Options,
    sender: str,
    fmt: str,
    output: str,
    since: str | None,
    country: str | None,
    page_size: int | None,
) -> None:
    """Export the sender's whole opt-out list, page by page (memory stays flat)."""
    with open_output(output) as out, progress(None) as bar:
        task = bar.add_task("Exporting", total=None)
        try:
            rows = exporter.export(
                options.client(),
                sender,
                ExportFormat(fmt),
                out,
                lambda n: bar.advance(task, n),
                since,
                country,
                page_size,
            )
        except ApiError as exc:
            raise click.ClickException(str(exc)) from exc
        bar.update(task, total=rows)  # finished: the bar shows the average rate
    err.print(f"Exported {rows:,} opt-outs" + (f" to {output}" if output != "-" else ""))


@contextmanager
def open_output(path: str) -> Iterator[BinaryIO]:
    if path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with open(path, "wb") as out:
        yield out


def normalised(numbers: tuple[str, ...]) -> list[str]:
    """E.164 when the tool can tell (with or without +, spaces...), else as typed (the service
    then says what is wrong with it)."""
    out = []
    for raw in numbers:
        try:
            out.append(parse_number(raw).e164)
        except InvalidRow:
            out.append(raw)
    return out


def recipients_command(action: Action, summary: str) -> click.Command:
    @click.command(action.value, help=summary)
    @sender_option()
    @click.argument("numbers", nargs=-1, required=True, metavar="NUMBER...")
    @click.pass_obj
    def command(options: Options, sender: str, numbers: tuple[str, ...]) -> None:
        try:
            items = options.client().recipients(action, sender, normalised(numbers))
        except ApiError as exc:
            raise click.ClickException(str(exc)) from exc
        print_recipients(action, items)
        if any(int(i.get("httpStatusCode", 200)) >= 400 for i in items):
            sys.exit(1)

    return command


cli.add_command(recipients_command(Action.CHECK, "Say whether each NUMBER has opted out."))
cli.add_command(recipients_command(Action.ADD, "Opt each NUMBER out (idempotent)."))
cli.add_command(recipients_command(Action.REMOVE, "Remove each NUMBER's opt-out (opt in again)."))


@cli.command(
    "reconcile",
    short_help="Compare the list with ACS's opt-out database (and repair with --fix).",
    epilog="Exit code 0 when it ran, whatever it found; 1 when it could not run.",
)
@sender_option()
@click.option(
    "--fix",
    is_flag=True,
    help="Add to ACS what is opted out here only; import here (source carrier) what ACS holds "
    "alone, unless the history shows an opt-in after the last opt-out (then remove it from ACS).",
)
@click.option(
    "--page-size",
    type=click.IntRange(1, 1000),
    help="Rows the service reads per call [default: the service's, 100].",
)
@click.pass_obj
def reconcile_command(options: Options, sender: str, fix: bool, page_size: int | None) -> None:
    """Compare every recipient the service knows of the sender (its list and its history) with
    ACS's own opt-out database, and print the drift both ways (numbers masked).

    The work runs in the service, which holds the ACS credentials: only the usual access key
    is needed here. See docs/acs-mirror.md.
    """
    totals = {"checked": 0, "missingInAcs": 0, "missingHere": 0, "fixed": 0}
    lines: list[str] = []
    with progress(None) as bar:
        task = bar.add_task("Reconciling", total=None)
        try:
            for page in options.client().reconcile_pages(sender, fix=fix, page_size=page_size):
                bar.advance(task, int(page.get("checked", 0)))
                totals["checked"] += int(page.get("checked", 0))
                for number in page.get("missingInAcs", []):
                    totals["missingInAcs"] += 1
                    lines.append(f"{number}  opted out here, not in ACS")
                for number in page.get("missingHere", []):
                    totals["missingHere"] += 1
                    lines.append(f"{number}  opted out in ACS, not here")
                for item in page.get("fixed", []):
                    totals["fixed"] += 1
                    lines.append(f"{item.get('to')}  fixed: {item.get('action')}")
        except ApiError as exc:
            raise click.ClickException(f"reconcile could not run: {exc}") from exc
        bar.update(task, total=totals["checked"])
    for line in dict.fromkeys(lines):  # a number met twice (list, then history) once
        click.echo(line)
    click.echo(
        f"checked {totals['checked']:,}; opted out here, not in ACS: {totals['missingInAcs']:,}; "
        f"opted out in ACS, not here: {totals['missingHere']:,}"
        + (f"; fixed: {totals['fixed']:,}" if fix else "")
    )


@cli.group("keys", short_help="Make an OPTOUT_KEYS entry; show what a key may do.")
def keys_group() -> None:
    """Named, scoped access keys (OPTOUT_KEYS; docs/access.md)."""


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


@keys_group.command("new")
@click.option("--name", required=True, help="The key's name: what the audit records as actor.")
@click.option(
    "--permissions",
    required=True,
    metavar="LIST",
    help="Comma-separated: check, read, write, send, admin (read implies check).",
)
@click.option(
    "--senders",
    default="*",
    show_default=True,
    metavar="LIST",
    help="Comma-separated sender ids, group:<name>, or * for every sender.",
)
def keys_new(name: str, permissions: str, senders: str) -> None:
    """Print a fresh random key and the JSON entry to add to the OPTOUT_KEYS array. Makes no
    server call; the key is printed once and kept nowhere."""
    key = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    entry = {"name": name, "key": key, "permissions": _csv(permissions), "senders": _csv(senders)}
    try:
        parse_keyring(json.dumps([entry]))  # the service's own rules
    except InvalidAccessKeys as exc:
        raise click.UsageError(re.sub(r"^entry #1( \(.*?\))?: ", "", str(exc))) from exc
    err.print("The key (give it to the client: endpoint=https://<app>/;accesskey=<key>):")
    click.echo(key)
    err.print("The entry to add to the OPTOUT_KEYS array:")
    click.echo(json.dumps(entry))


@keys_group.command("show")
@click.pass_obj
def keys_show(options: Options) -> None:
    """Ask the service what the key in use may do (GET /sms/access)."""
    try:
        access = options.client().access()
    except ApiError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"name:        {access['name']}")
    click.echo(f"permissions: {', '.join(access['permissions'])}")
    click.echo(f"senders:     {', '.join(access['senders'])}")
