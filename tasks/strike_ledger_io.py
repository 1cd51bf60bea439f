"""The sweep's lifecycle tasks: thin Prefect wrappers over `lifecycle_io` (the strike-ledger update after the sample;
the repeat offenders' active strikes before decide)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prefect import task
from prefect.cache_policies import NONE as NO_CACHE

from modsweep import resources
from modsweep.catalog import catalog_of
from modsweep.runs import RunContext
from modsweep.tasks import bodies
from modsweep.tasks.lifecycle_io import ledger_counts, snapshot_actor_weights
from modsweep.tasks.pipeline import IO_RETRIES
from modsweep.workers import on_cpu, worker_count


@task(name="update-strike-ledger", cache_policy=NO_CACHE, **IO_RETRIES)
def update_strike_ledger(ctx: RunContext) -> dict[str, Any]:
    """Strikes for the run's stored enforcement decisions (recorded in a worker process), then the account actions
    they reach, a page of struck authors per worker (the pages' authors are disjoint). The flow stores the review
    sample and audits meanwhile: the update reads no review task of the run, and the audit's metrics read no
    account-review task. Idempotent, so a retry or a re-run of the key adds nothing."""
    recorded = on_cpu(bodies.record_strikes, ctx)
    pages = bodies.struck_author_pages(ctx)
    with ThreadPoolExecutor(max_workers=worker_count(), thread_name_prefix="account-pages") as threads:
        evaluated = list(threads.map(lambda authors: on_cpu(bodies.evaluate_authors, ctx, authors), pages))
    return ledger_counts(recorded, evaluated)


@task(name="snapshot-actor-strikes", cache_policy=NO_CACHE, **IO_RETRIES)
def snapshot_actor_strikes(ctx: RunContext) -> dict[str, int]:
    """Before decide, when the pack uses actor risk (`enforcement.repeat_offenders`): the authors' active strike
    weights as of the run's window start, into the run catalog (`actor_weights`) for every decide part."""
    pack = resources.pack(ctx.pack, ctx.profile, ctx.model_version)
    if not pack.spec.enforcement.repeat_offenders.reads_strikes:
        return {}
    rows = snapshot_actor_weights(resources.store_engine(), catalog_of(ctx), day=ctx.day, as_of=ctx.window_start)
    return {"authors_with_active_strikes": rows}
