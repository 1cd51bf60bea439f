"""The daily sweep's stages called directly, without Prefect: the baseline of the orchestration-overhead ratio.

Mirrors `flows/sweep.py` (`run_sweep` and `_run_stages`) stage by stage: the same task bodies (`.fn`), in the
same order, with the same partition parallelism (a thread pool of `MODSWEEP_MAX_WORKERS`, the flow's
`ThreadPoolTaskRunner` size; detection goes through the same `_cpu_pool` of scoring processes), the gates via
`tasks.gates.check_gate` on the committed lake partitions, and the same ledger writes (`RunRecorder`) and lake I/O.
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

from modsweep import resources
from modsweep.config import get_settings
from modsweep.flows.sweep import QuarantineCeilingError, RunSummary, _gates, _sum_counts, _worst_gate_results
from modsweep.ledger import RunRecorder
from modsweep.runs import RunContext, code_version, day_window, input_fingerprint, list_window_files, make_run_key
from modsweep.tasks import pipeline as t
from modsweep.tasks import report as report_mod
from modsweep.tasks.gates import DataQualityError, check_gate, warm_up_in_background

log = logging.getLogger("bench.direct")
FLOW_NAME = "daily-sweep"


def _no_artifact(*_: Any, **__: Any) -> None:
    """Stands in for Prefect's artifact calls (the direct run has no flow run to attach them to)."""
    return None


def daily_sweep_direct(day: date, source: str, pack: str = "community-guidelines", profile: str = "standard",
                       requested_by: str = "bench-direct") -> RunSummary:  # fmt: skip
    """`flows.daily_sweep.daily_sweep` + `flows.sweep.run_sweep`, minus Prefect."""
    report_mod.create_markdown_artifact = _no_artifact  # type: ignore[assignment]
    report_mod.create_table_artifact = _no_artifact  # type: ignore[assignment]
    settings = get_settings()
    window = day_window(day)
    files = list_window_files(Path(source), window)
    policy_pack = resources.pack(pack, profile)
    model_version = resources.model_version_for(pack, profile)
    run_key = make_run_key(FLOW_NAME, window, None, policy_pack.sha256, profile)
    parameters = {"day": day.isoformat(), "source": source, "pack": pack, "profile": profile,
                  "simulate_reviews_from": None, "golden_set_from": None}  # fmt: skip
    recorder = RunRecorder.start(
        resources.store_engine(), run_key=run_key, flow=FLOW_NAME, trigger="manual", requested_by=requested_by,
        parameters={**parameters, "source_files": len(files), "model_version": model_version},
        policy_pack=policy_pack.name, policy_version=policy_pack.version, policy_sha256=policy_pack.sha256,
        code_version=code_version(), input_fingerprint=input_fingerprint(files), prefect_flow_run_id=None,
    )  # fmt: skip
    ctx = RunContext(run_id=recorder.run_id, run_key=run_key, flow=FLOW_NAME, day=window[0].date(),
                     window_start=window[0], window_end=window[1], regions=None, pack=pack, profile=profile,
                     policy_sha256=policy_pack.sha256, seed=run_key, lake_root=settings.lake_root,
                     model_version=model_version, golden_dir=None,
                     models_dir=str(settings.models_dir.resolve()))  # fmt: skip
    with ThreadPoolExecutor(max_workers=settings.max_workers, thread_name_prefix="direct") as pool:
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


def _run_stages(pool: ThreadPoolExecutor, ctx: RunContext, recorder: RunRecorder,
                files: list[tuple[Path, Any]]) -> RunSummary:  # fmt: skip
    settings = get_settings()
    submit = pool.submit
    recorder.enter("ingest")
    warm_up_in_background()
    ingested = [submit(t.ingest_partition.fn, ctx, str(f), i, *window) for i, (f, window) in enumerate(files)]
    parts = [o.part for o in _results(ingested, [t.part_name(i) for i in range(len(files))])]
    ingest_counts = _sum_counts(t.quarantine_cross_partition_duplicates.fn(ctx, parts))
    recorder.record_counts("ingest", ingest_counts)
    share = ingest_counts["quarantined"] / max(ingest_counts["read"], 1)
    if share > settings.quarantine_ceiling:
        raise QuarantineCeilingError(
            f"{share:.2%} of rows quarantined, above the ceiling {settings.quarantine_ceiling:.2%}"
        )
    recorder.enter("gate:items.ingested")
    _gates(recorder, [submit(t.gate_partitions.fn, ctx, "items.ingested", "items", parts, settings.gate_batch_rows)])

    recorder.enter("detect")
    slices = t.detect_slices(len(parts))
    detected = [submit(t.detect_partition.fn, ctx, p, slices) for p in parts]
    detect_results = _results(detected, parts)
    coordination = t.cluster_coordinated_behaviour.fn(ctx, parts)
    recorder.record_counts("detect", _sum_counts([o.counts for o in detect_results] + [coordination.counts]))
    recorder.enter("gate:detections.scored")
    _gates(recorder, [submit(t.gate_partitions.fn, ctx, "detections.scored", "detections", [*parts, t.COORDINATION_PART],
                             settings.gate_batch_rows)])  # fmt: skip

    recorder.enter("decide")
    paused = t.read_paused_policies.fn()
    keep = t.qa_keep_per_stratum(ctx)
    decided = [submit(t.decide_partition.fn, ctx, p, paused, keep, ingest_counts["views"]) for p in parts]
    decide_results = _results(decided, parts)
    recorder.enter("gate:decisions.made")
    _gates(recorder, [submit(t.gate_partitions.fn, ctx, "decisions.made", "decisions", parts, settings.gate_batch_rows)])

    recorder.enter("approval")
    over, _request = t.find_removals_over_ceiling.fn(ctx)
    if not over.empty:  # the flow would pause for a person here; unanswered, the removals go to review
        held = t.route_held_removals_to_review.fn(ctx, over)
        record = {"approved": False, "approver": None, "note": "direct benchmark run: no approver",
                  "pairs": over.to_dict("records"), "removals_routed_to_review": held}  # fmt: skip
        recorder.record_counts("approval", record)
        recorder.audit("removals.approval", record)
    recorder.enter("store:decisions")
    stored = t.persist_decisions.fn(ctx)
    recorder.record_counts("decide", {**_sum_counts([d.outcome.counts for d in decide_results]), **stored})

    recorder.enter("sample")
    sampled = t.draw_review_sample.fn(ctx, decide_results)
    recorder.record_counts("sample", sampled)
    recorder.enter("gate:review.sampled")
    _gates(recorder, [submit(t.gate_partition.fn, ctx, "review.sampled", "review_tasks", "tasks")])

    recorder.enter("audit")
    metrics = t.audit_quality.fn(ctx)
    recorder.enter("gate:metrics.audited")
    _gates(recorder, [submit(lambda: check_gate(metrics, "metrics.audited").to_dict())])
    written = t.persist_metrics.fn(ctx, metrics)
    findings = t.apply_findings.fn(ctx, metrics)
    recorder.record_counts("audit", {"metrics": len(metrics), "metrics_written": written, "findings": findings,
                                     "automation_paused_during_run": paused})  # fmt: skip

    recorder.enter("report")
    report_path = report_mod.publish_report.fn(ctx, recorder.run_id)
    outputs = {"report": str(report_path), "lake": ctx.lake_root}
    recorder.finish(outputs)
    summary = RunSummary(run_id=recorder.run_id, run_key=ctx.run_key, state="completed", day=ctx.day,
                         items_read=ingest_counts["read"], items_processed=ingest_counts["processed"],
                         quarantined=ingest_counts["quarantined"], gates=_worst_gate_results(recorder.gates),
                         report_path=str(report_path), **t.summarise_outputs.fn(ctx))  # fmt: skip
    log.info("direct sweep %s finished: %s items", ctx.run_key, summary.items_read)
    return summary
