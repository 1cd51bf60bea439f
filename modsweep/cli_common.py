"""What every `modsweep` command module shares: consoles, the bad-input exit, path and date checks."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

console = Console(width=max(120, Console().width))
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print the error and return the exit to raise (2: bad usage or input; 1: a run failed)."""
    from rich.markup import escape

    err.print(f"[red]error:[/red] {escape(message)}")  # a message's own brackets (".[embeddings]") are text
    return typer.Exit(code)


def safe_path(value: Path, what: str) -> Path:
    """Reject path traversal in user-given paths ('..' components)."""
    if ".." in value.parts:
        raise fail(f"{what} {value} contains '..'; give a path without parent references")
    return value


def parse_day(value: str, what: str = "--day") -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise fail(f"{what} {value!r} is not a date (YYYY-MM-DD)") from exc


def actor() -> str:
    """Who runs the command (recorded in the ledger and the audit log)."""
    return os.environ.get("USER") or "cli"


def engine() -> Any:
    from modsweep import resources

    return resources.store_engine()


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (notes and continuation lines folded in)."""
    return " ".join(str(exc).split()) or type(exc).__name__


class _NoEngineTracebacks:
    """Console filter: the engine's failure records (a traceback, or an error line of a flow or task run) stay
    out of the console, where the CLI prints one line of its own; they still reach the log file."""

    def filter(self, record: Any) -> bool:
        if record.exc_info or record.exc_text:
            return False
        if record.levelno < 30 and record.name.startswith("great_expectations"):  # its INFO chatter
            return False
        return not (record.levelno >= 40 and record.name.startswith(("prefect.flow_runs", "prefect.task_runs")))


def route_engine_logs() -> Path:
    """Send Prefect's records to MODSWEEP_HOME/logs/prefect.log and keep tracebacks off the console (idempotent)."""
    import logging

    from prefect.logging.configuration import setup_logging

    from modsweep.config import get_settings

    path = (get_settings().home / "logs" / "prefect.log").resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    from prefect.logging import configuration

    if not configuration.PROCESS_LOGGING_CONFIG:
        setup_logging()
    root = logging.getLogger()
    if not any(getattr(h, "modsweep_log", None) == str(path) for h in root.handlers):
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.modsweep_log = str(path)  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    for h in root.handlers:
        if getattr(h, "modsweep_log", None) is None and not any(isinstance(f, _NoEngineTracebacks) for f in h.filters):
            h.addFilter(_NoEngineTracebacks())
    return path


def print_import_counts(
    title: str | None, counts: dict[str, int], rejections: dict[str, int], report_path: str | None
) -> None:
    """An import's outcome: one row per count, the rejections by reason under them, and where rejected rows went."""
    from rich.table import Table

    table = Table("", "rows", title=title)
    for label, n in counts.items():
        table.add_row(label, f"{n:,}")
    for reason, n in rejections.items():
        table.add_row(f"  {reason}", f"{n:,}")
    console.print(table)
    if report_path:
        console.print(f"rejected rows and reasons: [bold]{report_path}[/bold]")
