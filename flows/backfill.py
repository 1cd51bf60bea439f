"""Backfill: the daily sweep over a range of days; days already swept with the same pack are skipped."""

from __future__ import annotations

from datetime import date, timedelta

from prefect import flow, get_run_logger

from modsweep import resources, store
from modsweep.flows.daily_sweep import daily_sweep
from modsweep.runs import day_window, make_run_key


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
    day = start
    while day <= end:
        key = make_run_key("daily-sweep", day_window(day), None, sha, profile)
        if store.last_completed_run(engine, key) is not None:
            done["skipped"].append(day.isoformat())
        else:
            state = daily_sweep(day=day, source=source, pack=pack, profile=profile, trigger="backfill",
                                requested_by=requested_by, return_state=True)  # fmt: skip
            done["swept" if state.is_completed() else "failed"].append(day.isoformat())
        logger.info("backfill %s: %s", day, "skipped" if day.isoformat() in done["skipped"] else "swept")
        day += timedelta(days=1)
    return done
