"""The daily sweep's stages called directly, without Prefect: the baseline of the orchestration-overhead ratio.

Mirrors `flows/sweep.py` (`run_sweep` and `_run_stages`) stage by stage: the same task bodies (`.fn`), in the
same order, with the same partition parallelism (a thread pool of `MODSWEEP_MAX_WORKERS`, the flow's
`ThreadPoolTaskRunner` size; partition bodies go through the same pool of worker processes), the same gates, and the same ledger writes (`RunRecorder`) and lake I/O.
What is left out is Prefect itself: task-run bookkeeping, the API, artifacts (the report's two artifacts are
no-ops here) and the removal-approval pause (the benchmark sets the removal ceiling out of reach in both runs).

Keep this file in step with `flows/sweep.py` when its stage sequence changes.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

from modsweep.catalog import COORDINATION_PART, DATASETS, part_name
from modsweep.config import get_settings
from modsweep.flows.sweep import RunSummary, _sample_sizes, _worst_gate_results, record_gate_results
from modsweep.ledger import RunRecorder
from modsweep.run_start import start_run
from modsweep.runs import RunContext, day_window, list_window_files
from modsweep.tasks import pipeline as t
from modsweep.tasks import report as report_mod
from modsweep.tasks.gates import DataQualityError, warm_up_in_background
from modsweep.tasks.ingest import check_ingested, sum_counts
from modsweep.tasks.strike_ledger_io import snapshot_actor_strikes, update_strike_ledger
from modsweep.tasks.trends_io import radar_for_run
from modsweep.workers import on_cpu, start_workers

log = logging.getLogger("bench.direct")
FLOW_NAME = "daily-sweep"


def _no_artifact(*_: Any, **__: Any) -> None:
    """Stands in for Prefect's artifact calls (the direct run has no flow run to attach them to)."""
    return None


def daily_sweep_direct(
    day: date,
    source: str,
    pack: str = "community-guidelines",
    profile: str = "standard",
    requested_by: str = "bench-direct",
) -> RunSummary:
    """`flows.daily_sweep.daily_sweep` + `flows.sweep.run_sweep`, minus Prefect."""
    report_mod.create_markdown_artifact = _no_artifact  # type: ignore[assignment]
    report_mod.create_table_artifact = _no_artifact  # type: ignore[assignment]
    window = day_window(day)
    files = list_window_files(Path(source), window)
    parameters = {
        "day": day.isoformat(),
        "source": source,
        "pack": pack,
        "profile": profile,
        "simulate_reviews_from": None,
        "golden_set_from": None,
    }
    start_workers()
    ctx, recorder = start_run(
        flow=FLOW_NAME,
        window=window,
        regions=None,
        files=files,
        pack=pack,
        profile=profile,
        trigger="manual",
        requested_by=requested_by,
        parameters=parameters,
        golden_dir=None,
        prefect_flow_run_id=None,
    )
    with ThreadPoolExecutor(max_workers=get_settings().max_workers, thread_name_prefix="direct") as pool:
        try:
            return _run_stages(pool, ctx, recorder, files)
        except BaseException as exc:
            partition = getattr(exc, "modsweep_partition", None)
            if isinstance(exc, DataQualityError):
                partition = exc.result.partition
            recorder.fail(exc, partition=partition)
            raise


def _results(futures: list[Future[Any]], parts: list[str]) -> list[Any]:
    out = []
    for future, part in zip(futures, parts, strict=True):
        try:
            out.append(future.result())
        except Exception as exc:
            exc.modsweep_partition = part  # type: ignore[attr-defined]
            raise
    return out


def _run_stages(
    pool: ThreadPoolExecutor, ctx: RunContext, rec: RunRecorder, files: list[tuple[Path, Any]]
) -> RunSummary:
    settings, submit, stage = get_settings(), pool.submit, rec.running

    def gate(dataset: str, parts: list[str]) -> None:
        with stage(f"gate:{DATASETS[dataset].suite}"):
            record_gate_results(rec, lambda: t.gate_dataset.fn(ctx, dataset, parts))

    with stage("ingest") as ingested:
        warm_up_in_background()
        outcomes = _results(
            [submit(t.ingest_partition.fn, ctx, str(f), i, *w) for i, (f, w) in enumerate(files)],
            [part_name(i) for i in range(len(files))],
        )
        parts = [o.part for o in outcomes]
        ingested.update(sum_counts(t.quarantine_cross_partition_duplicates.fn(ctx, parts, [str(f) for f, _ in files])))
    check_ingested(
        ingested,
        [],
        len(files),
        stop_on_unreadable=settings.unreadable_files == "fail",
        quarantine_ceiling=settings.quarantine_ceiling,
    )
    t.warm_up_detectors(ctx)
    gate("items", parts)
    with stage("detect") as detected:
        slices = t.detect_slices(len(parts))
        scored = _results([submit(t.score_items_part.fn, ctx, p, slices) for p in parts], parts)
        detected.update(
            sum_counts([o.counts for o in scored] + [t.cluster_coordinated_behaviour.fn(ctx, parts).counts])
        )
    gate("detections", [*parts, COORDINATION_PART])
    with stage("decide") as decided:
        decided.update(snapshot_actor_strikes.fn(ctx))
        paused = t.read_paused_policies.fn()
        keep, n_prevalence = _sample_sizes(ctx)
        outcomes = _results(
            [submit(t.decide_items_part.fn, ctx, p, paused, keep, ingested["views"], n_prevalence) for p in parts],
            parts,
        )
        decided.update(sum_counts([o.counts for o in outcomes]))
    gate("decisions", parts)
    with stage("approval"):
        over, _request = t.find_removals_over_ceiling.fn(ctx)
        if not over.empty:  # the flow would pause for a person here; unanswered, the removals go to review
            held = t.route_held_removals_to_review.fn(ctx, over)
            record = {
                "approved": False,
                "approver": None,
                "note": "direct benchmark run: no approver",
                "pairs": over.to_dict("records"),
                "removals_routed_to_review": held,
            }
            rec.record_counts("approval", record)
            rec.audit("removals.approval", record)
    with stage("store:decisions"):
        storing = submit(t.persist_decisions.fn, ctx)
    with stage("sample"):
        drawing = submit(t.draw_review_sample.fn, ctx, parts, keep)
    with stage("trends"):  # as the flow's task: in a worker once one is free
        radar = submit(
            on_cpu,
            radar_for_run,
            ctx.lake_root,
            ctx.day,
            ctx.run_key,
            ctx.pack,
            ctx.profile,
            ctx.model_version,
            when_idle=True,
        )
    with stage("store:decisions"):
        rec.record_counts("decide", {**decided, **storing.result()})
    with stage("strikes"):
        striking = submit(update_strike_ledger.fn, ctx)
    with stage("sample") as sampled:
        sampled.update(drawing.result())
        sampled.update(t.store_review_tasks.fn(ctx))
    gate("review_tasks", ["tasks"])
    with stage("audit"):
        metrics = t.audit_quality.fn(ctx)["metrics"]
    gate("metrics", ["metrics"])
    with stage("audit") as audited:
        audited.update(
            metrics=metrics,
            metrics_written=t.persist_metrics.fn(ctx),
            findings=t.apply_findings.fn(ctx),
            automation_paused_during_run=paused,
        )
    with stage("trends") as trended:
        trended.update(radar.result().counts())  # the flow's task, minus its artifact
    with stage("strikes") as struck:
        struck.update(striking.result())
    with stage("report"):
        report_path = report_mod.publish_report.fn(ctx, rec.run_id)
    rec.finish({"report": str(report_path), "lake": ctx.lake_root})
    summarised = t.summarise_outputs.fn(ctx)
    summary = RunSummary(
        run_id=rec.run_id,
        run_key=ctx.run_key,
        state="completed",
        day=ctx.day,
        items_read=ingested["read"],
        items_processed=ingested["processed"],
        quarantined=ingested["quarantined"],
        gates=_worst_gate_results(rec.gates),
        report_path=str(report_path),
        **summarised,
    )
    log.info("direct sweep %s finished: %s items", ctx.run_key, summary.items_read)
    return summary
