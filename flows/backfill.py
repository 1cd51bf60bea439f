"""Backfill: the daily sweep over a range of days; days already swept with the same pack are skipped.

A day whose sweep fails does not stop the others, but the backfill then ends Failed (`BackfillFailed`, with
every day's result), and its artifact lists each failed day with its error.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.states import State

from modsweep import resources, store
from modsweep.flows.daily_sweep import daily_sweep
from modsweep.runs import day_window, make_run_key
from modsweep.tasks.approval import markdown_text


class BackfillFailed(RuntimeError):
    """The sweep of one or more days failed; carries every day's result and each failure's error."""

    def __init__(self, message: str, results: dict[str, list[str]], failures: list[dict[str, str]]) -> None:
        super().__init__(message, results, failures)

    def __str__(self) -> str:
        return str(self.args[0])

    @property
    def results(self) -> dict[str, list[str]]:
        return self.args[1]

    @property
    def failures(self) -> list[dict[str, str]]:
        return self.args[2]


@flow(name="backfill", log_prints=True)
def backfill(
    start: date,
    end: date,
    source: str,
    pack: str = "community-guidelines",
    profile: str = "standard",
    requested_by: str = "unknown",
) -> dict[str, list[str]]:
    """Sweep every day from `start` to `end` (inclusive) as a sub-flow; idempotent by run key."""
    if end < start:
        raise ValueError(f"backfill end {end} is before start {start}")
    logger = get_run_logger()
    sha = resources.pack(pack, profile).sha256
    engine = resources.store_engine()
    done: dict[str, list[str]] = {"swept": [], "skipped": [], "failed": []}
    failures: list[dict[str, str]] = []
    day = start
    while day <= end:
        key = make_run_key("daily-sweep", day_window(day), None, sha, profile)
        if store.last_completed_run(engine, key) is not None:
            done["skipped"].append(day.isoformat())
        else:
            state = daily_sweep(
                day=day,
                source=source,
                pack=pack,
                profile=profile,
                trigger="backfill",
                requested_by=requested_by,
                return_state=True,
            )
            if state.is_completed():
                done["swept"].append(day.isoformat())
            else:
                done["failed"].append(day.isoformat())
                failures.append(
                    {
                        "day": day.isoformat(),
                        "error": day_error(state),
                        "flow_run_id": str(state.state_details.flow_run_id or ""),
                    }
                )
        result = next(k for k, days in done.items() if day.isoformat() in days)
        logger.info("backfill %s: %s", day, result)
        day += timedelta(days=1)
    create_markdown_artifact(
        key=f"backfill-{start.isoformat()}-{end.isoformat()}",
        markdown=backfill_markdown(done, failures),
        description="Backfill: every day's result",
    )
    if failures:
        raise BackfillFailed(
            f"backfill {start} → {end}: {len(failures)} of {(end - start).days + 1} days failed: "
            + "; ".join(f"{f['day']}: {f['error']}" for f in failures),
            done,
            failures,
        )
    return done


def day_error(state: State) -> str:
    """A failed sub-flow's error in one line (`Type: message`)."""
    exc = state.result(raise_on_failure=False)
    if isinstance(exc, BaseException):
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:500]
    return str(state.message or state.name)[:500]


def backfill_markdown(done: dict[str, list[str]], failures: list[dict[str, str]]) -> str:
    """The backfill's artifact: counts per result, then one row per failed day."""
    md = markdown_text
    lines = ["# Backfill", "", "| result | days | which |", "|---|---|---|"]
    lines += [f"| {k} | {len(v)} | {md(', '.join(v))} |" for k, v in done.items()]
    if failures:
        lines += ["", f"## {len(failures)} failed day(s)", "", "| day | error | flow run |", "|---|---|---|"]
        lines += [f"| {md(f['day'])} | {md(f['error'])} | {md(f['flow_run_id'])} |" for f in failures]
    return "\n".join(lines)


def backfill_outcome(state: State) -> tuple[dict[str, list[str]], list[dict[str, str]]]:
    """Every day's result and the failures from a backfill's final state; any other failure is raised."""
    if state.is_completed():
        return state.result(), []
    exc: Any = state.result(raise_on_failure=False)
    if isinstance(exc, BackfillFailed):
        return exc.results, exc.failures
    if isinstance(exc, BaseException):
        raise exc
    raise RuntimeError(f"backfill ended {state.name}: {state.message}")
