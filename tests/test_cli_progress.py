"""The progress display of long commands: one line per finished stage, from the ledger's stage events."""

from __future__ import annotations

import io

from rich.console import Console

from modsweep.cli_progress import StageLines, counts_text, run_progress
from modsweep.ledger import _notify


def _console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=False, width=120), buffer


def test_each_finished_stage_prints_one_line_with_its_counts_and_the_run_its_state():
    out, buffer = _console()
    with run_progress(out, "sweep 2026-11-23"):
        _notify("enter", "ingest", {})
        _notify("counts", "ingest", {"read": 100_000, "processed": 99_870, "flag": True, "nested": {"a": 1}})
        _notify("enter", "detect", {})
        _notify("end", "completed", {"seconds": {}})
    _notify("enter", "after", {})  # outside the block: nobody listens
    lines = buffer.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["ingest", "detect", "sweep"]
    assert "read 100,000 · processed 99,870" in lines[0] and "flag" not in lines[0]
    assert lines[2].startswith("sweep 2026-11-23: run completed after")


def test_a_progress_bar_is_updated_instead_of_printing_lines():
    out, buffer = _console()
    seen: list[str] = []
    lines = StageLines(out, "backfill 2026-11-23", update=seen.append)
    for event, stage in (("enter", "ingest"), ("enter", "detect"), ("end", "failed")):
        lines(event, stage, {})
    assert seen == ["backfill 2026-11-23: ingest …", "backfill 2026-11-23: detect …"] and buffer.getvalue() == ""


def test_a_broken_display_never_breaks_a_run():
    def broken(event, stage, detail):
        raise RuntimeError("display")

    from modsweep.ledger import stage_events

    with stage_events(broken):
        _notify("enter", "ingest", {})  # no exception
    assert counts_text({"a_b": 3, "c": 1.5}) == "a b 3"
