"""A shadow run: a candidate policy pack beside the live one on the same day; nothing is enforced."""

from __future__ import annotations

from datetime import date

from prefect import flow

from modsweep import resources
from modsweep.flows.sweep import RunSummary, run_sweep
from modsweep.runs import day_window, make_run_key
from modsweep.serving import task_runner


@flow(name="shadow-run", log_prints=True, task_runner=task_runner())
def shadow_run(
    candidate: str,
    day: date,
    source: str,
    live_pack: str = "community-guidelines",
    profile: str = "standard",
    requested_by: str = "unknown",
) -> RunSummary:
    """Decide `day` with the candidate pack and report the differences per policy against the live run."""
    live_key = make_run_key("daily-sweep", day_window(day), None, resources.pack(live_pack, profile).sha256, profile)
    return run_sweep(
        flow_name="shadow-run",
        window=day_window(day),
        regions=None,
        source=source,
        pack=candidate,
        profile=profile,
        trigger="shadow",
        requested_by=requested_by,
        shadow_of=live_key,
        parameters={"day": day.isoformat(), "live_pack": live_pack, "live_run_key": live_key},
    )
