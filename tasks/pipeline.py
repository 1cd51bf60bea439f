"""Prefect tasks of the sweep: each loads from the run catalog, calls a pure stage function, saves.

Only references (part ids, counts) travel between tasks; the partition bodies are in tasks/bodies.py (they
run in worker processes) and the worker pool in modsweep/workers.py. Retries sit only on tasks that do I/O
and nothing else.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE as NO_CACHE
from prefect.tasks import exponential_backoff

from modsweep import resources, store
from modsweep.catalog import COORDINATION_PART, DATASETS, RunCatalog, catalog_of, to_table
from modsweep.config import get_settings
from modsweep.runs import RunContext
from modsweep.schemas import DECISIONS, METRICS, REVIEW_TASKS
from modsweep.tasks import approval, audit, banks, bodies, findings, reviews_io, sample, shadow, trends_io
from modsweep.tasks.bodies import PartitionOutcome
from modsweep.tasks.gates import gate_lake_partitions
from modsweep.workers import cpu_pool, on_cpu, releasing_memory, warm_up_workers, worker_count

IO_RETRIES: dict[str, Any] = {"retries": 3, "retry_delay_seconds": exponential_backoff(1), "retry_jitter_factor": 0.5}
APPROVAL_ANSWER_EVENT = "removals.approval.answer"


# --- ingest -------------------------------------------------------------------------------------------------


@task(name="ingest-partition", cache_policy=NO_CACHE, **IO_RETRIES)
def ingest_partition(
    ctx: RunContext, source_file: str, index: int, valid_start: datetime | None, valid_end: datetime | None
) -> PartitionOutcome:
    """One source file → canonical items and quarantined rows with reasons (rows outside the file's `date=` day
    are misfiled; valid rows outside the run's window or regions are out of scope)."""
    window = (valid_start, valid_end)
    return on_cpu(bodies.ingest_file, ctx, source_file, index, window, get_settings().max_item_chars)


@task(name="quarantine-cross-partition-duplicates", cache_policy=NO_CACHE, **IO_RETRIES)
@releasing_memory
def quarantine_cross_partition_duplicates(
    ctx: RunContext, parts: list[str], source_files: list[str] | None = None
) -> list[dict[str, int]]:
    """Items whose id already appeared in an earlier part move to quarantine; every part's final counts.

    Quarantined rows name the source file of their part (`source_files`, one per part; else the items part).
    """
    cat = catalog_of(ctx)
    sources = source_files if source_files is not None else [cat.path("items", p) for p in parts]
    moves = [m for m in zip(parts, sources, bodies.find_repeats(ctx, parts), strict=True) if len(m[2])]
    with ThreadPoolExecutor(max_workers=worker_count(), thread_name_prefix="dedupe") as pool:  # parts side by side
        list(pool.map(lambda m: on_cpu(bodies.move_repeats, ctx, *m), moves))
    return [cat.meta("items", p)["counts"] for p in parts]


# --- gates --------------------------------------------------------------------------------------------------


@task(name="gate-partitions", cache_policy=NO_CACHE)
@releasing_memory
def gate_dataset(ctx: RunContext, name: str, parts: list[str] | None = None) -> list[dict[str, Any]]:
    """Validate a dataset's committed parts against the suite the catalog declares for it."""
    cat = catalog_of(ctx)
    suite = DATASETS[name].suite
    if suite is None:
        raise ValueError(f"the catalog declares no gate for {name}")
    return gate_lake_partitions(
        cat, suite, name, cat.parts(name) if parts is None else parts, get_settings().gate_batch_rows
    )


# --- detection ----------------------------------------------------------------------------------------------


def detect_slices(partitions: int) -> int:
    """Slices each part is scored in: 1, unless a day has fewer parts than worker processes (a one-file day
    would otherwise keep one core busy)."""
    return max(1, worker_count() // max(partitions, 1))


def warm_up_detectors(ctx: RunContext) -> None:
    """Each worker compiles the run's detector bank (pack, model, lexicons) while the items gate runs here."""
    warm_up_workers(banks.bank_for, ctx.pack, ctx.profile, ctx.models_dir, ctx.model_version, ctx.policy_sha256)


@task(name="detect-partition", cache_policy=NO_CACHE)
def score_items_part(ctx: RunContext, part: str, slices: int = 1) -> PartitionOutcome:
    """Every per-item detector on one items part; its detections and coordination signatures committed.
    With `slices` > 1 its rows are scored side by side in that many worker processes, then committed whole."""
    settings, cat = get_settings(), catalog_of(ctx)
    if cat.exists("detections", part):
        return PartitionOutcome(part, cat.meta("detections", part)["rows"], {}, reused=True)
    if slices <= 1 or cpu_pool() is None:
        return on_cpu(bodies.score_part, ctx, part, settings.max_scoring_chars, settings.detect_chunk_rows)
    edges = bodies.slice_edges(cat.meta("items", part)["rows"], slices)
    with ThreadPoolExecutor(max_workers=slices, thread_name_prefix="detect-slice") as pool:
        scored = list(
            pool.map(
                lambda e: on_cpu(
                    bodies.score_rows, ctx, part, *e, settings.max_scoring_chars, settings.detect_chunk_rows
                ),
                edges,
            )
        )
    return bodies.save_scores(
        ctx,
        part,
        pd.concat([f for f, _ in scored], ignore_index=True),
        pd.concat([s for _, s in scored], ignore_index=True),
    )


@task(name="cluster-coordinated-behaviour", cache_policy=NO_CACHE)
@releasing_memory
def cluster_coordinated_behaviour(ctx: RunContext, parts: list[str]) -> PartitionOutcome:
    """Cross-part near-duplicate bursts → detections of the coordination policies (from committed signatures)."""
    cat = catalog_of(ctx)
    if cat.exists("detections", COORDINATION_PART) and all(cat.exists("coordination", p) for p in parts):
        return PartitionOutcome(COORDINATION_PART, cat.meta("detections", COORDINATION_PART)["rows"], {}, reused=True)
    return bodies.cluster_coordination(ctx, parts)


# --- decisions ----------------------------------------------------------------------------------------------


@task(name="decide-partition", cache_policy=NO_CACHE)
def decide_items_part(
    ctx: RunContext, part: str, automation_paused: list[str], keep_per_stratum: int, total_views: int, n_prevalence: int
) -> PartitionOutcome:
    """Detector scores → decisions, and this part's QA strata and sample candidates."""
    return on_cpu(bodies.decide_part, ctx, part, automation_paused, keep_per_stratum, total_views, n_prevalence)


@task(name="read-paused-policies", cache_policy=NO_CACHE, **IO_RETRIES)
def read_paused_policies() -> list[str]:
    """Policies whose automation the circuit breaker has paused (their actions go to review)."""
    return store.paused_policies(resources.store_engine())


@task(name="read-live-run-automation", cache_policy=NO_CACHE, **IO_RETRIES)
def paused_during_live_run(live_run_key: str) -> list[str]:
    """Policies whose automation was paused when the live run of this key decided (a shadow decides the same
    way); the current state when there is no completed live run (the comparison then says so)."""
    engine = resources.store_engine()
    live = store.last_completed_run(engine, live_run_key)
    if live is None:
        return store.paused_policies(engine)
    return sorted(((live.get("stage_counts") or {}).get("audit") or {}).get("automation_paused_during_run") or [])


@task(name="find-removals-over-ceiling", cache_policy=NO_CACHE)
def find_removals_over_ceiling(ctx: RunContext) -> tuple[pd.DataFrame, str]:
    """Policy × region pairs above the removal ceiling (a small frame), and the markdown an approver will see."""
    cols = ["item_id", "policy_id", "region", "action", "automated", "score"]
    decisions = catalog_of(ctx).load_all("decisions", columns=cols).to_pandas()
    ceiling = get_settings().removal_ceiling
    over = approval.removals_over_ceiling(decisions, ceiling)
    return over, approval.approval_request_markdown(over, decisions, ceiling) if len(over) else ""


@task(name="read-approval-answer", cache_policy=NO_CACHE, **IO_RETRIES)
def recorded_approval(ctx: RunContext) -> dict[str, Any] | None:
    """The answer `modsweep approve` recorded for this run key (audit log), if any: approve, approver, note."""
    entry = store.latest_audit_entry(resources.store_engine(), event=APPROVAL_ANSWER_EVENT, subject=ctx.run_key)
    if entry is None:
        return None
    return {
        "approve": bool(entry["payload"].get("approve")),
        "approver": entry["actor"],
        "note": str(entry["payload"].get("note") or ""),
    }


@task(name="route-held-removals-to-review", cache_policy=NO_CACHE)
def route_held_removals_to_review(ctx: RunContext, over: pd.DataFrame) -> int:
    """Rewrite the decision parts so the held removals become escalations (idempotent)."""
    cat, changed = catalog_of(ctx), 0
    for part in cat.parts("decisions"):
        rewritten, n = approval.route_removals_to_review(cat.load("decisions", part).to_pandas(), over)
        if n:
            cat.save("decisions", part, to_table(rewritten, DECISIONS))
            changed += n
    return changed


@task(name="persist-decisions", cache_policy=NO_CACHE, **IO_RETRIES)
def persist_decisions(ctx: RunContext) -> dict[str, int]:
    """The run's decisions into the store, part by part in one transaction (idempotent: unique decision ids), in
    a worker process: their conversion to rows does not compete for this process's lock with the flow's."""
    return on_cpu(bodies.store_decisions, ctx)


# --- sampling -----------------------------------------------------------------------------------------------


@task(name="draw-review-sample", cache_policy=NO_CACHE)
@releasing_memory
def draw_review_sample(ctx: RunContext, parts: list[str], keep_per_stratum: int) -> dict[str, Any]:
    """Route escalations into queues and draw the stratified QA, prevalence and golden samples within each queue's
    capacity; committed as `review_tasks` (a resumed run keeps the committed one: it is the sample of record)."""
    cat = catalog_of(ctx)
    if cat.exists("review_tasks", "tasks"):
        return {"review_tasks": cat.meta("review_tasks", "tasks")["rows"], "carried_over_reopened": 0}
    drawn = on_cpu(bodies.draw_sample, ctx, parts, keep_per_stratum)  # a worker draws: the flow stores meanwhile
    engine = resources.store_engine()
    carried = store.fetch_review_tasks(engine, status="carried_over")
    capacity = get_settings().review_capacity_per_queue
    tasks, reopen = sample.apply_queue_capacity(drawn, carried, capacity, run_key=ctx.run_key)
    reopened = store.reopen_carried_over(engine, reopen)
    rows = cat.save("review_tasks", "tasks", to_table(tasks, REVIEW_TASKS))
    return {"review_tasks": rows, "carried_over_reopened": reopened}


@task(name="store-review-tasks", cache_policy=NO_CACHE, **IO_RETRIES)
def store_review_tasks(ctx: RunContext) -> dict[str, Any]:
    """The committed review sample into the store (idempotent: unique task ids); counts by reason and status."""
    capacity = get_settings().review_capacity_per_queue
    tasks = catalog_of(ctx).load("review_tasks", "tasks").to_pandas()
    stored = sample.with_carry_over_reasons(tasks, capacity).assign(day=ctx.day)
    inserted = store.insert_review_tasks(resources.store_engine(), stored)
    by_reason = tasks.groupby(["reason", "status"]).size()
    return {"review_tasks_inserted": inserted, **{f"tasks.{r}.{s}": int(n) for (r, s), n in by_reason.items()}}


@task(name="simulate-reviews", cache_policy=NO_CACHE)
def simulate_reviews(ctx: RunContext, truth_dir: str) -> dict[str, int]:
    """Simulated reviewers against ground truth on the run's open sampled tasks, imported through the audited
    import like a real review file."""
    settings, engine = get_settings(), resources.store_engine()
    out = settings.exports_dir / "reviews" / "simulated" / f"decisions-{ctx.run_key}-{ctx.run_id}.csv"
    open_tasks, report = reviews_io.simulate_reviews(
        engine,
        truth_dir=Path(truth_dir),
        out_path=out,
        accuracy=settings.reviewer_accuracy,
        false_positive_rate=settings.reviewer_false_positive_rate,
        run_key=ctx.run_key,
        actor="simulated-reviewers",
        tasks=bodies.sampled_tasks(ctx, engine),  # the whole sample: tasks another run stored first are reviewed too
    )
    if report is None:
        return {"reviews_open": open_tasks, "reviews_applied": 0, "reviews_unchanged": 0, "reviews_rejected": 0}
    return {
        "reviews_open": open_tasks,
        "reviews_applied": report.applied,
        "reviews_unchanged": report.unchanged,
        "reviews_rejected": report.rejected,
    }


# --- audit --------------------------------------------------------------------------------------------------


@task(name="audit-quality", cache_policy=NO_CACHE)
@releasing_memory
def audit_quality(ctx: RunContext, baseline_days: int = 7) -> dict[str, int]:
    """Quality metrics with CIs from the run's decided review tasks, drift and volume against the completed runs
    of the same flow in the previous `baseline_days` days; committed as the run's `metrics`."""
    engine = resources.store_engine()
    metrics = audit.run_metrics(**bodies.audit_inputs(ctx, engine, baseline_days), day=ctx.day, run_id=ctx.run_id)
    return {"metrics": catalog_of(ctx).save("metrics", "metrics", to_table(metrics, METRICS))}


@task(name="persist-metrics", cache_policy=NO_CACHE, **IO_RETRIES)
def persist_metrics(ctx: RunContext) -> int:
    """The run's committed metrics into the store (upserted on their key)."""
    metrics = catalog_of(ctx).load("metrics", "metrics").to_pandas()
    return store.insert_metrics(resources.store_engine(), metrics.assign(run_key=ctx.run_key))


@task(name="apply-findings", cache_policy=NO_CACHE)
def apply_findings(ctx: RunContext) -> list[dict[str, Any]]:
    """Findings against the pack's floors; a precision finding trips the policy's circuit breaker. The findings,
    one sentence each (the same in every view), go to the audit log."""
    metrics = catalog_of(ctx).load("metrics", "metrics").to_pandas()
    p = resources.pack(ctx.pack, ctx.profile, ctx.model_version)
    found = audit.findings(metrics, {pol.id: pol.precision_floor for pol in p.policies()})
    engine = resources.store_engine()
    for f in (f for f in found if f["kind"] == "precision_below_floor"):
        why = _breaker_reason(f, ctx.run_id)
        f["circuit_breaker_tripped"] = store.set_policy_automation(
            engine, str(f["policy_id"]), state="paused", reason=why, changed_by="circuit-breaker", run_id=ctx.run_id
        )
    found = findings.with_text(findings.annotate(found, metrics))
    if found:
        entry = _findings_entry(ctx, found)
        store.append_audit(engine, actor="system", event="audit.findings", subject=ctx.run_id, payload=entry)
    return found


def _breaker_reason(finding: dict[str, Any], run_id: str) -> str:
    """Why the circuit breaker paused a policy, as the automation history shows it."""
    f = finding
    return (
        f"audited automated precision {f['value']:.3f} (95% CI upper {f['ci_high']:.3f}, n={f['n']}) "
        f"below the floor {f['floor']:.2f} in run {run_id}"
    )


def _findings_entry(ctx: RunContext, found: list[dict[str, Any]]) -> dict[str, Any]:
    """The audit-log payload of a run's findings: their sentences and the policies whose breaker tripped."""
    return {
        "run_key": ctx.run_key,
        "findings": findings.sentences(found),
        "circuit_breaker_tripped": [f["policy_id"] for f in found if f.get("circuit_breaker_tripped")],
    }


@task(name="summarise-outputs", cache_policy=NO_CACHE, **IO_RETRIES)
def summarise_outputs(ctx: RunContext) -> dict[str, Any]:
    """Actions by policy (from the lake) and review tasks by reason and status (from the store)."""
    decisions = catalog_of(ctx).load_all("decisions", columns=["policy_id", "action"]).to_pandas()
    actions = {p: {a: int(n) for a, n in g["action"].value_counts().items()} for p, g in decisions.groupby("policy_id")}
    tasks = store.count_review_tasks(resources.store_engine(), run_key=ctx.run_key)
    return {"actions": actions, "review_tasks": {f"{r}.{s}": n for (r, s), n in sorted(tasks.items())}}


# --- emerging-risk radar -------------------------------------------------------------------------------------


@task(name="detect-trends", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def detect_trends(
    lake_root: str, day: date, run_key: str, pack: str, profile: str, model_version: str = "latest"
) -> dict[str, Any]:
    """The radar over the run's day in a worker process (not beside the flow's other stages under one interpreter
    lock); ledger counts with the task's own `seconds` (the sweep's `trends` stage is only the wait for it) and a
    Markdown artifact."""
    t0 = time.perf_counter()
    # Nothing waits for the radar until the report: it takes a worker only when one is free.
    outcome = on_cpu(trends_io.radar_for_run, lake_root, day, run_key, pack, profile, model_version, when_idle=True)
    create_markdown_artifact(
        key=f"trends-{run_key}".lower(), markdown=trends_io.trends_markdown(outcome), description="Emerging-risk radar"
    )
    return {**outcome.counts(), "seconds": round(time.perf_counter() - t0, 2)}


# --- shadow -------------------------------------------------------------------------------------------------


@task(name="compare-with-live", cache_policy=NO_CACHE)
def compare_with_live(ctx: RunContext, live_run_key: str, decided_paused: list[str]) -> dict[str, Any]:
    """Diff this (shadow) run's decisions against the live run's, with expected precision from past reviews;
    the circuit breaker's effects (`decided_paused`: the live run's paused policies) are reported apart."""
    cat, live_cat = catalog_of(ctx), RunCatalog(ctx.lake_root, ctx.day, live_run_key)
    cols = ["item_id", "policy_id", "action", "score", "automated", "region"]
    if not live_cat.parts("decisions"):
        raise FileNotFoundError(f"no live decisions for {ctx.day} (run key {live_run_key}): run the daily sweep first")
    engine = resources.store_engine()
    result = shadow.compare_runs(
        live_cat.load_all("decisions", columns=cols).to_pandas(),
        cat.load_all("decisions", columns=cols).to_pandas(),
        store.fetch_review_tasks(engine, status="decided"),
        decided_paused,
        store.paused_policies(engine),
    )
    cat.save("samples", "shadow-diff", to_table(result.diff))
    return {
        "report": str(_publish_shadow_diff(ctx, live_run_key, result)),
        "live_run_key": live_run_key,
        **result.outputs,
    }


def _publish_shadow_diff(ctx: RunContext, live_run_key: str, result: shadow.ShadowComparison) -> Path:
    """A shadow comparison's summary as a CSV beside the reports and a Markdown artifact; returns the CSV path."""
    out_dir = get_settings().reports_dir / ctx.day.isoformat()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"shadow-{ctx.run_key}.csv"
    result.summary.to_csv(path, index=False)
    notes_md = "".join(f"\n- {approval.markdown_text(n)}" for n in result.notes)
    create_markdown_artifact(
        key=f"shadow-{ctx.run_key}",
        markdown=f"# Shadow run vs live ({live_run_key})\n\n{result.table}\n{notes_md}",
        description="Candidate pack vs live pack",
    )
    return path
