"""The sweep's lifecycle tasks: thin Prefect wrappers over `lifecycle_io` (the strike-ledger update after the sample;
the repeat offenders' active strikes before decide)."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NONE as NO_CACHE

from modsweep import resources
from modsweep.catalog import catalog_of
from modsweep.runs import RunContext
from modsweep.tasks import bodies
from modsweep.tasks.lifecycle_io import snapshot_actor_weights
from modsweep.tasks.pipeline import IO_RETRIES
from modsweep.workers import on_cpu


@task(name="update-strike-ledger", cache_policy=NO_CACHE, **IO_RETRIES)
def update_strike_ledger(ctx: RunContext) -> dict[str, Any]:
    """Strikes for the run's stored enforcement decisions and the account actions they reach, in a worker process
    (the flow stores the review sample and audits meanwhile: the update reads no review task of the run, and the
    audit's metrics read no account-review task); idempotent, so a retry or a re-run of the key adds nothing."""
    return on_cpu(bodies.update_strikes, ctx)


@task(name="snapshot-actor-strikes", cache_policy=NO_CACHE, **IO_RETRIES)
def snapshot_actor_strikes(ctx: RunContext) -> dict[str, int]:
    """Before decide, when the pack uses actor risk (`enforcement.repeat_offenders`): the authors' active strike
    weights as of the run's window start, into the run catalog (`actor_weights`) for every decide part."""
    pack = resources.pack(ctx.pack, ctx.profile, ctx.model_version)
    if not pack.spec.enforcement.repeat_offenders.reads_strikes:
        return {}
    rows = snapshot_actor_weights(resources.store_engine(), catalog_of(ctx), day=ctx.day, as_of=ctx.window_start)
    return {"authors_with_active_strikes": rows}
