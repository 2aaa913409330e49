"""The `optouts` command-line tool against the running app (local host subprocess + Azurite),
run as a user runs it: a subprocess, key and endpoint from options or the environment."""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from azure.data.tables import TableServiceClient

from devhost.inprocess import OTHER_KEY, TEST_KEY
from devhost.testing import ROOT, Azurite, HostProcess, start_host
from optouts_cli.client import Action, Client, ExportFormat
from optouts_cli.config import Target
from shared.domain.access import parse_keyring

SENDER = "+18005550100"
CHECK_KEY = "Y2xpLWNoZWNrLW9ubHkta2V5LW9mLTMyLWJ5dGVzISE="  # OPTOUT_KEYS's "cli-check"


@dataclass
class Running:
    host: HostProcess
    tables: dict[str, str]

    @property
    def url(self) -> str:
        return self.host.base_url


@pytest.fixture(scope="module")
def running(azurite: Azurite) -> Iterator[Running]:
    suffix = uuid.uuid4().hex[:8]
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "OPTOUT_ACCESS_KEYS": TEST_KEY,
        "OPTOUT_KEYS": json.dumps(
            [{"name": "cli-check", "key": CHECK_KEY, "permissions": ["check"], "senders": ["*"]}]
        ),
        "OPTOUT_TABLE_NAME": f"CliOptOuts{suffix}",
        "OPTOUT_HISTORY_TABLE_NAME": f"CliHistory{suffix}",
        "SENDER_PROGRAMS_TABLE_NAME": f"CliPrograms{suffix}",
        # Its own events queue: the imports here owe thousands of events, which must not be in
        # the way of other tests that read the default queue of the same Azurite.
        "OPTOUT_EVENTS_QUEUE_NAME": f"cli-events-{suffix}",
    }
    host = start_host(ROOT, env=env, use_local_settings=False)
    try:
        yield Running(host, env)
    finally:
        host.stop()
        assert "4255550" not in host.output(), host.output()[-2000:]


def optouts(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the tool as `python -m optouts_cli` (what the installed `optouts` script runs)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPTOUT_")}
    clean["COLUMNS"] = "200"  # wide tables: numbers are never cut
    return subprocess.run(
        [sys.executable, "-m", "optouts_cli", *args],
        env={**clean, **(env or {})},
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_installed_script_reads_well() -> None:
    script = Path(sys.executable).parent / "optouts"
    assert script.is_file(), "make install must install the optouts command into the venv"
    out = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    for command in ("import", "export", "check", "add", "remove"):
        assert f"  {command} " in out
    assert "Usage: optouts" in out
    assert "--connection-string" in out


def test_add_check_remove_round_trip(running: Running) -> None:
    common = ["--endpoint", running.url, "--key", TEST_KEY]
    people = ["+14255550131", "1 425 555 0132"]  # with and without +, spaces ignored
    added = optouts(*common, "add", "--sender", SENDER, *people)
    assert added.returncode == 0, added.stderr
    checked = optouts(*common, "check", "-s", SENDER, "+14255550131", "+14255550132", "14255550133")
    assert checked.returncode == 0, checked.stderr
    lines = {ln.split()[1]: ln for ln in checked.stdout.splitlines() if "+1425" in ln}
    assert "not opted out" not in lines["+14255550131"]
    assert "opted out" in lines["+14255550131"]
    assert "opted out" in lines["+14255550132"]
    assert "not opted out" in lines["+14255550133"]
    removed = optouts(*common, "remove", "--sender", SENDER, "+14255550131")
    assert removed.returncode == 0, removed.stderr
    again = optouts(*common, "check", "--sender", SENDER, "+14255550131", "+14255550132")
    rows = {ln.split()[1]: ln for ln in again.stdout.splitlines() if "+1425" in ln}
    assert "not opted out" in rows["+14255550131"]
    assert "not opted out" not in rows["+14255550132"]


def test_invalid_number_is_reported_and_fails_the_command(running: Running) -> None:
    done = optouts(
        "--endpoint", running.url, "--key", TEST_KEY, "add", "-s", SENDER, "+123", "+14255550134"
    )
    assert done.returncode == 1
    assert "error 400" in done.stdout
    assert "Invalid recipient phone number format" in done.stdout
    checked = optouts(
        "--endpoint", running.url, "--key", TEST_KEY, "check", "-s", SENDER, "+14255550134"
    )
    assert "not opted out" not in checked.stdout  # the valid one was added anyway


def test_key_and_endpoint_from_environment_and_connection_string(running: Running) -> None:
    by_env = optouts(
        "check",
        "-s",
        SENDER,
        "+14255550135",
        env={"OPTOUT_ENDPOINT": running.url, "OPTOUT_ACCESS_KEYS": f"{TEST_KEY},{OTHER_KEY}"},
    )
    assert by_env.returncode == 0, by_env.stderr
    connection = f"endpoint={running.url}/;accesskey={TEST_KEY}"
    by_cs = optouts("--connection-string", connection, "check", "-s", SENDER, "+14255550135")
    assert by_cs.returncode == 0, by_cs.stderr
    assert "not opted out" in by_cs.stdout


def test_key_from_local_settings_in_the_current_directory(running: Running, tmp_path: Path) -> None:
    (tmp_path / "local.settings.json").write_text(
        json.dumps({"Values": {"OPTOUT_ACCESS_KEYS": TEST_KEY}}), encoding="utf-8"
    )
    done = optouts("--endpoint", running.url, "check", "-s", SENDER, "+14255550136", cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_wrong_key_is_a_clear_error(running: Running) -> None:
    done = optouts(
        "--endpoint", running.url, "--key", OTHER_KEY, "check", "-s", SENDER, "+14255550137"
    )
    assert done.returncode == 1
    assert "HTTP 401" in done.stderr
    assert "not valid for any configured access key" in done.stderr
    assert "Traceback" not in done.stderr


def test_no_key_is_a_usage_error(tmp_path: Path) -> None:
    done = optouts("check", "-s", SENDER, "+14255550138", cwd=tmp_path)
    assert done.returncode == 2
    assert "No access key" in done.stderr


def test_unreachable_service_is_a_clear_error(tmp_path: Path) -> None:
    done = optouts(
        "--endpoint", "http://127.0.0.1:9", "--key", TEST_KEY, "--retries", "0",
        "check", "-s", SENDER, "+14255550139",
    )  # fmt: skip
    assert done.returncode == 1
    assert "cannot reach http://127.0.0.1:9" in done.stderr
    assert "Traceback" not in done.stderr


# --- import / export end to end -----------------------------------------------------------


def write_list(path: Path, count: int, prefix: str, bad_every: int = 0) -> set[str]:
    """A CSV of `count` numbers (half without +, some quoted), with a bad line every
    `bad_every` rows; returns the valid numbers."""
    lines, valid = ["Name,Mobile,optedOutAt"], set()
    for i in range(count):
        number = f"{prefix}{i:07d}"
        valid.add(number)
        shown = number if i % 2 else number.removeprefix("+")
        lines.append(
            f'"Person {i}, Jr",{shown},' if i % 3 else f"P{i},{shown},2025-01-01T00:00:00Z"
        )
        if bad_every and i % bad_every == 0:
            lines.append(f"Bad {i},not-a-number,")
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return valid


def export_set(running: Running, sender: str, out: Path, *options: str) -> set[str]:
    done = optouts(
        "--endpoint", running.url, "--key", TEST_KEY, "export", "-s", sender, "-o", str(out),
        *options,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len({r["to"] for r in rows}), "each entry exactly once"
    return {r["to"] for r in rows}


def calls_of(running: Running, function: str) -> int:
    """How many times the host has run `function` so far (its log line per invocation)."""
    return running.host.output().count(f"Executing 'Functions.{function}'")


def imported_chunks(running: Running) -> int:
    """Import requests the host answered 200 so far."""
    return running.host.output().count("sender_optouts_import: POST answered 200")


def test_import_then_export_the_same_set_across_chunks_and_pages(
    running: Running, tmp_path: Path
) -> None:
    """The import / export round trip at a size that exercises every boundary: several import
    chunks sent concurrently, bad lines in several chunks, several export pages in both
    formats. The same run at scale (20,000 rows, with rows/s) is `make bench`
    (bench/cli_roundtrip.py): size adds time, not coverage."""
    sender = "+18005550111"
    source = tmp_path / "list.csv"
    valid = write_list(source, 1500, "+1206", bad_every=400)
    common = ["--endpoint", running.url, "--key", TEST_KEY]
    imports = imported_chunks(running)
    done = optouts(*common, "import", "-s", sender, str(source), "--chunk-size", "500")
    assert done.returncode == 0, done.stderr
    # 1,504 rows / 500: three chunks imported (a chunk that met a storage failure, a 503 on a
    # loaded machine where Azurite resets connections, is sent again by the tool: not a chunk)
    assert imported_chunks(running) - imports == 3, running.host.output()[-4000:]
    assert re.search(r"added\s+1,500", done.stderr), done.stderr
    assert re.search(r"invalid\s+4\b", done.stderr), done.stderr
    errors = (tmp_path / "list.csv.errors.csv").read_text(encoding="utf-8").splitlines()
    assert errors[0] == "line,reason"
    assert [int(e.split(",")[0]) for e in errors[1:]] == [3, 404, 805, 1206]
    assert not list(tmp_path.glob("*.import-state.json"))  # done: no state left behind
    exports = calls_of(running, "sender_optouts_export")
    out = tmp_path / "out.csv"
    assert export_set(running, sender, out, "--page-size", "400") == valid
    assert calls_of(running, "sender_optouts_export") - exports == 4  # 1,500 rows / 400
    assert out.read_text(encoding="utf-8").count("to,country,") == 1  # one header, not 4
    nd = optouts(*common, "export", "-s", sender, "--format", "ndjson", "--page-size", "700")
    lines = nd.stdout.splitlines()
    assert len(lines) == len(valid) and {json.loads(line)["to"] for line in lines} == valid


def test_the_client_follows_the_services_next_links(running: Running) -> None:
    """The client's readers walk a list by its nextLinks (JSON) and an export by its Link
    headers, each an absolute URL on the running host, GET as it is."""
    sender, people = "+18005550133", [f"+1425555{i:04d}" for i in range(700, 707)]
    client = Client(Target(running.url, TEST_KEY))
    client.recipients(Action.ADD, sender, people)
    pages = list(client.list_pages(sender, size=3))
    assert len(pages) >= 3 and all(len(page) <= 3 for page in pages)
    assert [entry["to"] for page in pages for entry in page] == people
    exported = list(client.export_pages(sender, ExportFormat.NDJSON, page_size=2))
    assert len(exported) >= 4
    assert [json.loads(line)["to"] for body in exported for line in body.splitlines()] == people


def interruptible() -> None:
    """In the tool's process before it starts: Ctrl-C (SIGINT) handled as in a terminal. A
    suite run in the background (`make test &`, nohup, some CI runners) inherits SIGINT
    ignored, and Python then never raises KeyboardInterrupt: the tool would finish the
    import instead of stopping, whatever it does."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_an_interrupted_import_resumes_without_duplicates(
    running: Running, azurite: Azurite, tmp_path: Path
) -> None:
    sender = "+18005550122"
    source = tmp_path / "big.csv"
    valid = write_list(source, 1000, "+1503")  # 20 chunks of 50, one at a time
    args = [sys.executable, "-m", "optouts_cli", "--endpoint", running.url, "--key", TEST_KEY]
    args += ["import", "-s", sender, str(source), "--chunk-size", "50", "-c", "1"]
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=interruptible,
    )
    state = tmp_path / "big.csv.18005550122.import-state.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if state.is_file() and len(json.loads(state.read_text())["done"]) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert "run the same command again to resume" in err.decode()
    done_before = len(json.loads(state.read_text())["done"])
    assert 3 <= done_before < 20
    resumed = optouts(*args[3:])
    assert resumed.returncode == 0, resumed.stderr
    assert f"Resuming: {done_before} of 20 chunks" in resumed.stderr
    assert re.search(r"added\s+1,000", resumed.stderr), resumed.stderr  # no more, no fewer
    assert not state.exists()
    assert export_set(running, sender, tmp_path / "out.csv") == valid
    history = TableServiceClient.from_connection_string(azurite.connection_string)
    table = history.get_table_client(running.tables["OPTOUT_HISTORY_TABLE_NAME"])
    rows = list(
        table.query_entities(
            f"PartitionKey eq '{sender}' and RowKey lt '~'",  # the rows, not their time copies
            select=["Recipient"],
        )
    )
    assert len(rows) == len({r["Recipient"] for r in rows}) == 1000


def test_keys_new_prints_a_fresh_key_and_its_entry_without_a_server() -> None:
    args = ["keys", "new", "--name", "crm", "--permissions", "check,read"]
    first = optouts(*args, "--senders", "+18005550100,group:brand1", env={})
    assert first.returncode == 0, first.stderr
    key, line = first.stdout.strip().splitlines()
    entry = json.loads(line)
    assert entry == {
        "name": "crm",
        "key": key,
        "permissions": ["check", "read"],
        "senders": ["+18005550100", "group:brand1"],
    }
    assert len(base64.b64decode(key, validate=True)) == 32
    (parsed,) = parse_keyring(json.dumps([entry])).keys  # what the service will accept
    assert parsed.name == "crm"
    again = optouts(*args, env={})
    assert again.returncode == 0
    assert again.stdout.splitlines()[0] != key  # random each time
    assert json.loads(again.stdout.splitlines()[1])["senders"] == ["*"]
    bad = optouts("keys", "new", "--name", "crm", "--permissions", "chek", env={})
    assert bad.returncode == 2 and "unknown permission" in bad.stderr


def test_keys_show_and_a_named_check_only_key(running: Running) -> None:
    shown = optouts("--endpoint", running.url, "--key", TEST_KEY, "keys", "show")
    assert shown.returncode == 0, shown.stderr
    assert "name:        key1" in shown.stdout
    common = ["--endpoint", running.url, "--key", CHECK_KEY]
    shown = optouts(*common, "keys", "show")
    assert "name:        cli-check" in shown.stdout and "permissions: check" in shown.stdout
    assert optouts(*common, "check", "-s", SENDER, "+14255550139").returncode == 0
    refused = optouts(*common, "add", "-s", SENDER, "+14255550139")
    assert refused.returncode == 1
    assert "403" in refused.stderr and "'check'" not in refused.stderr
    assert "'write' permission" in refused.stderr
