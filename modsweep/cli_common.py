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
    err.print(f"[red]error:[/red] {message}")
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
