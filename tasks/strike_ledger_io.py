"""The sweep's strike-ledger task: a thin Prefect wrapper over `lifecycle_io.update_strike_ledger_run`."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NONE as NO_CACHE
from prefect.tasks import exponential_backoff

from modsweep import resources
from modsweep.catalog import catalog_of
from modsweep.config import get_settings
from modsweep.runs import RunContext
from modsweep.tasks.lifecycle_io import LedgerContext, raise_review_priority, update_strike_ledger_run


@task(
    name="update-strike-ledger",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=exponential_backoff(1),
    retry_jitter_factor=0.5,
)
def update_strike_ledger(ctx: RunContext) -> dict[str, Any]:
    """Strikes for the run's stored enforcement decisions (a decisions partition at a time) and the account actions
    they reach, then actor risk into its open escalations' priority when the pack asks; idempotent, so a retry or
    a re-run of the key adds nothing (run it after the sample is stored)."""
    ledger = LedgerContext(
        day=ctx.day,
        run_key=ctx.run_key,
        run_id=ctx.run_id,
        as_of=ctx.window_end,
        hmac_key=get_settings().hmac_key.get_secret_value(),
    )
    pack = resources.pack(ctx.pack, ctx.profile, ctx.model_version)
    engine, cat = resources.store_engine(), catalog_of(ctx)
    counts = update_strike_ledger_run(engine, cat, ledger, pack)
    return {**counts, **raise_review_priority(engine, cat, ledger, pack)}  # after the sample stored its tasks
