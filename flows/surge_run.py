"""The surge run: on demand, for some regions and a time window, usually with a stricter profile."""

from __future__ import annotations

from datetime import datetime

from prefect import flow

from modsweep.flows.sweep import RunSummary, run_sweep
from modsweep.runs import utc_window
from modsweep.serving import task_runner


@flow(name="surge-run", log_prints=True, task_runner=task_runner())
def surge_run(
    regions: list[str],
    since: datetime,
    until: datetime,
    source: str,
    pack: str = "community-guidelines",
    profile: str = "election-surge",
    requested_by: str = "unknown",
    simulate_reviews_from: str | None = None,
    golden_set_from: str | None = None,
) -> RunSummary:
    """Sweep `regions` between `since` and `until` (UTC); the same request again resumes, never duplicates."""
    window = utc_window(since, until)
    return run_sweep(
        flow_name="surge-run",
        window=window,
        regions=regions,
        source=source,
        pack=pack,
        profile=profile,
        trigger="surge",
        requested_by=requested_by,
        simulate_reviews_from=simulate_reviews_from,
        golden_set_from=golden_set_from,
        parameters={"regions": sorted(regions), "since": window[0].isoformat(), "until": window[1].isoformat()},
    )
