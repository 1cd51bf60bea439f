"""The daily sweep: one UTC day of content, scheduled (see infra/prefect.yaml)."""

from __future__ import annotations

from datetime import UTC, date, timedelta

from prefect import flow
from prefect.runtime import flow_run

from modsweep.flows.sweep import RunSummary, run_sweep
from modsweep.runs import day_window
from modsweep.serving import task_runner


def _day_before_scheduled_start() -> date:
    """Yesterday (UTC) as of the run's scheduled start: a late or retried 02:00 run still sweeps the day it was for."""
    return flow_run.get_scheduled_start_time().astimezone(UTC).date() - timedelta(days=1)


@flow(name="daily-sweep", log_prints=True, task_runner=task_runner())
def daily_sweep(
    source: str,
    day: date | None = None,
    pack: str = "community-guidelines",
    profile: str = "standard",
    trigger: str = "schedule",
    requested_by: str = "scheduler",
    simulate_reviews_from: str | None = None,
    golden_set_from: str | None = None,
) -> RunSummary:
    """Sweep one UTC day (default: yesterday) of content from `source` with a policy pack; re-running resumes."""
    day = day or _day_before_scheduled_start()
    return run_sweep(
        flow_name="daily-sweep",
        window=day_window(day),
        regions=None,
        source=source,
        pack=pack,
        profile=profile,
        trigger=trigger,
        requested_by=requested_by,
        simulate_reviews_from=simulate_reviews_from,
        golden_set_from=golden_set_from,
        parameters={"day": day.isoformat()},
    )
