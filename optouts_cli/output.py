"""What the tool prints: progress bars (rows, rate, ETA) on stderr, summaries and tables."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from optouts_cli.client import Action
from optouts_cli.importer import Totals

err = Console(stderr=True)


class RateColumn(ProgressColumn):
    """Rows per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if task.finished and task.elapsed:  # the average over the whole run
            speed = task.completed / task.elapsed
        return Text(f"{speed:,.0f} rows/s" if speed else "- rows/s", style="progress.data.speed")


def progress(total: int | None) -> Progress:
    columns: list[ProgressColumn] = [SpinnerColumn(), TextColumn("{task.description}")]
    columns += (
        [BarColumn(), MofNCompleteColumn()]
        if total is not None
        else [TextColumn("{task.completed:,} rows")]
    )
    columns += [RateColumn(), TimeElapsedColumn()]
    columns += [TimeRemainingColumn()] if total is not None else []
    return Progress(*columns, console=err, transient=False)


def print_import_summary(totals: Totals, import_id: str, seconds: float, errors_path: Path) -> None:
    table = Table(title="Import finished", show_header=False, title_justify="left", box=None)
    table.add_row("rows in file", f"{totals.rows:,}")
    table.add_row("added", f"{totals.added:,}")
    table.add_row("already opted out", f"{totals.already_opted_out:,}")
    table.add_row("duplicates folded", f"{totals.duplicates:,}")
    table.add_row("invalid", f"{totals.invalid:,}")
    table.add_row("import id", import_id)
    table.add_row("time", f"{seconds:.1f} s")
    err.print(table)
    if totals.errors:
        err.print(f"Per-line errors written to {errors_path}")


def print_recipients(action: Action, items: list[dict[str, object]]) -> None:
    table = Table("number", "result")
    for item in items:
        status = int(str(item.get("httpStatusCode", 200)))
        if status >= 400:
            result = f"[red]error {status}:[/] {item.get('errorMessage', '')}"
        elif action is Action.CHECK:
            result = "[bold]opted out[/]" if item.get("isOptedOut") else "not opted out"
        else:
            result = "opted out" if action is Action.ADD else "opted in (removed)"
        table.add_row(str(item.get("to")), result)
    Console().print(table)
