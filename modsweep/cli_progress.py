"""Progress on long commands: a line per finished stage (with its counts and seconds) from the ledger's stage
events, and a live spinner naming the current stage when attached to a terminal."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from rich.console import Console

from modsweep.ledger import stage_events

MAX_COUNTS_SHOWN = 4


def counts_text(counts: dict[str, Any]) -> str:
    """The first few whole-number counts of a stage, e.g. 'read 100,000 · processed 99,870'."""
    shown = [
        f"{k.replace('_', ' ')} {v:,}" for k, v in counts.items() if isinstance(v, int) and not isinstance(v, bool)
    ]
    return " · ".join(shown[:MAX_COUNTS_SHOWN])


class StageLines:
    """Turns stage events into one line per finished stage; `status` (a rich Status) follows the current one."""

    def __init__(self, out: Console, label: str, status: Any = None, update: Callable[[str], None] | None = None):
        self.out, self.label, self.status, self.update = out, label, status, update
        self.stage: str | None = None
        self.counts: dict[str, dict[str, Any]] = {}
        self.started = time.perf_counter()
        self.entered = self.started

    def __call__(self, event: str, stage: str, detail: dict[str, Any]) -> None:
        if event == "counts":
            self.counts[stage] = detail
            return
        now = time.perf_counter()
        if self.stage is not None:
            self._line(self.stage, now - self.entered)
        if event == "enter":
            self.stage, self.entered = stage, now
            text = f"{self.label}: {stage} …"
            if self.status is not None:
                self.status.update(text)
            if self.update is not None:
                self.update(text)
        elif event == "end":
            self.stage = None
            if self.update is None:
                self.out.print(f"{self.label}: run {stage} after {now - self.started:.1f} s", highlight=False)

    def _line(self, stage: str, seconds: float) -> None:
        if self.update is not None:  # a progress bar shows the stage; no lines under it
            return
        counts = counts_text(self.counts.get(stage, {}))
        self.out.print(f"  {stage:<14} {seconds:6.1f} s  {counts}".rstrip(), highlight=False, markup=False)


@contextmanager
def run_progress(out: Console, label: str, update: Callable[[str], None] | None = None) -> Iterator[None]:
    """Show a run's stages while the body runs: a spinner in a terminal, plain lines otherwise; with `update`
    (e.g. a progress bar's description) only that is updated."""
    live = out.is_terminal and update is None
    spinner = out.status(f"{label}: starting …") if live else nullcontext()
    with spinner as status, stage_events(StageLines(out, label, status if live else None, update)):
        yield


@contextmanager
def busy(out: Console, text: str) -> Iterator[None]:
    """A spinner with `text` while the body runs, in a terminal only (the command prints its own result line)."""
    with out.status(text) if out.is_terminal else nullcontext():
        yield
