"""The daily sweep: one UTC day of content, scheduled (see infra/prefect.yaml)."""

from __future__ import annotations

from datetime import date

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from modsweep.config import get_settings
from modsweep.flows.sweep import RunSummary, run_sweep
from modsweep.runs import day_window


@flow(name="daily-sweep", log_prints=True, task_runner=ThreadPoolTaskRunner(max_workers=get_settings().max_workers))
def daily_sweep(
    day: date,
    source: str,
    pack: str = "community-guidelines",
    profile: str = "standard",
    trigger: str = "schedule",
    requested_by: str = "scheduler",
    simulate_reviews_from: str | None = None,
    golden_set_from: str | None = None,
) -> RunSummary:
    """Sweep one UTC day of content from `source` with a policy pack; re-running the same day resumes."""
    return run_sweep(
        flow_name="daily-sweep", window=day_window(day), regions=None, source=source, pack=pack, profile=profile,
        trigger=trigger, requested_by=requested_by, simulate_reviews_from=simulate_reviews_from,
        golden_set_from=golden_set_from,
        parameters={"day": day.isoformat(), "source": source, "pack": pack, "profile": profile,
                    "simulate_reviews_from": simulate_reviews_from, "golden_set_from": golden_set_from},
    )  # fmt: skip
