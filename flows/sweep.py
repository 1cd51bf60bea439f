"""The sweep both the daily and the surge flows run: orchestration only, stage by stage, with gates between.

ingest → gate → detect → gate → decide → gate → approval → sample → gate → (review) → audit → gate → report
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.runtime import flow_run
from pydantic import BaseModel

from modsweep import resources
from modsweep.config import get_settings
from modsweep.ledger import RunRecorder
from modsweep.runs import (
    RunContext,
    code_version,
    input_fingerprint,
    list_window_files,
    make_run_key,
    reject_parent_references,
    resolve_source,
)
from modsweep.serving import run_key_lock
from modsweep.tasks import approval
from modsweep.tasks import pipeline as t
from modsweep.tasks.approval import RemovalApproval
from modsweep.tasks.gates import DataQualityError, warm_up_in_background
from modsweep.tasks.report import publish_report, report_file


class QuarantineCeilingError(RuntimeError):
    """More rows were quarantined than the configured ceiling allows."""


class UnreadableSourceFilesError(RuntimeError):
    """Source files could not be parsed, and settings say a run stops then (or no file at all was readable)."""


class RunSummary(BaseModel):
    run_id: str
    run_key: str
    state: str
    day: date
    items_read: int
    items_processed: int
    quarantined: int
    actions: dict[str, dict[str, int]]
    review_tasks: dict[str, int]
    gates: dict[str, str]
    report_path: str | None
    out_of_scope: int = 0  # valid rows outside the run's window or regions (read = processed + quarantined + this)
    note: str | None = None  # e.g. "no items in window …": the run completed with nothing to do


def run_sweep(
    *,
    flow_name: str,
    window: tuple[datetime, datetime],
    regions: list[str] | None,
    source: str,
    pack: str,
    profile: str,
    trigger: str,
    requested_by: str,
    simulate_reviews_from: str | None,
    parameters: dict[str, Any],
    golden_set_from: str | None = None,
    shadow_of: str | None = None,
) -> RunSummary:
    """Record the run in the ledger, then run every stage; a failure is recorded with its stage, then raised."""
    reject_parent_references(source=source, pack=pack, simulate_reviews_from=simulate_reviews_from,
                             golden_set_from=golden_set_from)  # fmt: skip
    settings = get_settings()
    source = str(resolve_source(Path(source))[0])  # generator output: its items/, not truth/ or golden/
    files = list_window_files(Path(source), window)
    policy_pack = resources.pack(pack, profile)
    model_version = resources.model_version_for(pack, profile)
    run_key = make_run_key(flow_name, window, regions, policy_pack.sha256, profile)
    recorder = RunRecorder.start(
        resources.store_engine(), run_key=run_key, flow=flow_name, trigger=trigger, requested_by=requested_by,
        parameters={**parameters, "source_files": len(files), "model_version": model_version},
        policy_pack=policy_pack.name, policy_version=policy_pack.version, policy_sha256=policy_pack.sha256,
        code_version=code_version(), input_fingerprint=input_fingerprint(files), prefect_flow_run_id=flow_run.get_id(),
    )  # fmt: skip
    ctx = RunContext(run_id=recorder.run_id, run_key=run_key, flow=flow_name, day=window[0].date(),
                     window_start=window[0], window_end=window[1], regions=tuple(sorted(regions)) if regions else None,
                     pack=pack, profile=profile, policy_sha256=policy_pack.sha256, seed=run_key,
                     lake_root=settings.lake_root, model_version=model_version, golden_dir=golden_set_from,
                     models_dir=str(settings.models_dir.resolve()))  # fmt: skip
    try:
        with run_key_lock(run_key):  # two runs of one key never overlap (a Prefect global concurrency limit per key)
            return _run_stages(ctx, recorder, files, simulate_reviews_from, shadow_of)
    except BaseException as exc:
        if _stopped_from_outside(exc):  # SIGTERM or Ctrl-C: cancelled, not failed; re-running the key resumes
            recorder.cancel(f"stopped by {type(exc).__name__}")
            raise
        partition = getattr(exc, "modsweep_partition", None)
        if isinstance(exc, DataQualityError):
            partition = exc.result.partition
        recorder.fail(exc, partition=partition)
        raise


def _stopped_from_outside(exc: BaseException) -> bool:
    from prefect.exceptions import TerminationSignal

    return isinstance(exc, KeyboardInterrupt | TerminationSignal) or (isinstance(exc, SystemExit) and exc.code == 143)


def _results(futures: list[Any], parts: list[str]) -> list[Any]:
    """Results of per-partition futures; a failure carries the partition it happened in (for the ledger)."""
    out = []
    for future, part in zip(futures, parts, strict=True):
        try:
            out.append(future.result())
        except Exception as exc:
            exc.modsweep_partition = part  # type: ignore[attr-defined]
            exc.add_note(f"while processing partition {part}")
            raise
    return out


def _gates(recorder: RunRecorder, futures: list[Any]) -> list[dict[str, Any]]:
    """Resolve gate futures, recording every result (a critical failure is recorded, then raised)."""
    results, failure = [], None
    for f in futures:
        try:
            outcome = f.result()
            results += outcome if isinstance(outcome, list) else [outcome]
        except DataQualityError as exc:
            results.append(exc.result.to_dict())
            failure = failure or exc
    recorder.record_gates(results)
    if failure is not None:
        raise failure
    return results


def _run_stages(ctx: RunContext, recorder: RunRecorder, files: list[Path], truth_dir: str | None,
                shadow_of: str | None = None) -> RunSummary:  # fmt: skip
    settings = get_settings()
    logger = get_run_logger()
    recorder.enter("ingest")
    if not files:  # a partitioned source with no date= folder for the window's days
        recorder.record_counts("ingest", {"read": 0, "processed": 0, "quarantined": 0, "out_of_scope": 0})
        return _finish_empty(ctx, recorder, {"read": 0, "processed": 0, "quarantined": 0, "out_of_scope": 0},
                             "no source partition for its days")  # fmt: skip
    warm_up_in_background()  # Great Expectations loads (≈ 2 s) while the workers ingest
    ingested = [t.ingest_partition.submit(ctx, str(f), i, *window) for i, (f, window) in enumerate(files)]
    outcomes = _results(ingested, [f"part-{i:05d}" for i in range(len(files))])
    parts = [o.part for o in outcomes]
    ingest_counts = _sum_counts(t.quarantine_cross_partition_duplicates(ctx, parts, [str(f) for f, _ in files]))
    recorder.record_counts("ingest", ingest_counts)
    unreadable = [str(f) for (f, _), o in zip(files, outcomes, strict=True) if o.counts.get("unreadable_files")]
    if unreadable and (settings.unreadable_files == "fail" or len(unreadable) == len(files)):
        raise UnreadableSourceFilesError(
            f"{len(unreadable)} of {len(files)} source files unreadable (quarantined with the parser's reason): "
            + ", ".join(unreadable[:10])
            + (" …" if len(unreadable) > 10 else "")
        )
    share = ingest_counts["quarantined"] / max(ingest_counts["read"], 1)
    if share > settings.quarantine_ceiling:
        raise QuarantineCeilingError(
            f"{share:.2%} of rows quarantined, above the ceiling {settings.quarantine_ceiling:.2%}"
        )
    if ingest_counts["processed"] == 0:  # every valid row outside the window or regions: nothing to decide
        return _finish_empty(
            ctx, recorder, ingest_counts, f"{ingest_counts.get('out_of_scope', 0):,} rows out of scope"
        )
    recorder.enter("gate:items.ingested")
    _gates(recorder, [t.gate_partitions.submit(ctx, "items.ingested", "items", parts, settings.gate_batch_rows)])

    recorder.enter("detect")
    _record_skipped_detectors(ctx, recorder)
    slices = t.detect_slices(len(parts))  # a day of fewer partitions than cores: each one scored in slices
    detected = [t.detect_partition.submit(ctx, p, slices) for p in parts]
    detect_results = _results(detected, parts)
    coordination = t.cluster_coordinated_behaviour(ctx, parts)
    recorder.record_counts("detect", _sum_counts([o.counts for o in detect_results] + [coordination.counts]))
    recorder.enter("gate:detections.scored")
    _gates(recorder, [t.gate_partitions.submit(ctx, "detections.scored", "detections", [*parts, t.COORDINATION_PART],
                                               settings.gate_batch_rows)])  # fmt: skip

    recorder.enter("decide")
    # A shadow decides under the live run's circuit-breaker state, so its differences are the candidate pack's.
    paused = t.read_paused_policies() if shadow_of is None else t.paused_during_live_run(shadow_of)
    keep = t.qa_keep_per_stratum(ctx)
    decided = [t.decide_partition.submit(ctx, p, paused, keep, ingest_counts["views"]) for p in parts]
    decide_results = _results(decided, parts)
    recorder.enter("gate:decisions.made")
    _gates(recorder, [t.gate_partitions.submit(ctx, "decisions.made", "decisions", parts, settings.gate_batch_rows)])
    if shadow_of is not None:  # a shadow run enforces nothing: compare with the live run and stop
        recorder.enter("shadow-diff")
        outputs = t.compare_with_live(ctx, shadow_of, paused)
        recorder.record_counts("shadow", outputs)
        recorder.finish(outputs)
        return RunSummary(run_id=recorder.run_id, run_key=ctx.run_key, state="completed", day=ctx.day,
                          items_read=ingest_counts["read"], items_processed=ingest_counts["processed"],
                          quarantined=ingest_counts["quarantined"], gates=_worst_gate_results(recorder.gates),
                          report_path=outputs["report"], actions=outputs["candidate_actions"], review_tasks={},
                          out_of_scope=ingest_counts.get("out_of_scope", 0))  # fmt: skip
    recorder.enter("approval")
    _approve_removal_surges(ctx, recorder)
    recorder.enter("store:decisions")
    stored = t.persist_decisions(ctx)
    recorder.record_counts("decide", {**_sum_counts([d.outcome.counts for d in decide_results]), **stored})

    recorder.enter("sample")
    sampled = t.draw_review_sample(ctx, decide_results)
    recorder.record_counts("sample", sampled)
    recorder.enter("gate:review.sampled")
    _gates(recorder, [t.gate_partition.submit(ctx, "review.sampled", "review_tasks", "tasks")])

    if truth_dir:
        recorder.enter("review")
        recorder.record_counts("review", t.simulate_reviews(ctx, truth_dir))

    recorder.enter("audit")
    metrics = t.audit_quality(ctx)
    recorder.enter("gate:metrics.audited")
    _gates(recorder, [t.gate_frame.submit(metrics, "metrics.audited", "metrics")])
    written = t.persist_metrics(ctx, metrics)
    findings = t.apply_findings(ctx, metrics)
    recorder.record_counts("audit", {"metrics": len(metrics), "metrics_written": written, "findings": findings,
                                     "automation_paused_during_run": paused})  # fmt: skip
    recorder.update(outputs={"findings": findings})  # the latest audit's findings (a re-audit replaces them)

    recorder.enter("report")
    report_path = report_file(ctx)
    outputs = {"report": str(report_path), "lake": ctx.lake_root}
    summarised = t.summarise_outputs(ctx)
    recorder.finish(outputs)  # closed first, so the report shows the run's final state and end time
    with recorder.after_finish("report"):
        publish_report(ctx, recorder.run_id)
    summary = RunSummary(run_id=recorder.run_id, run_key=ctx.run_key, state="completed", day=ctx.day,
                         items_read=ingest_counts["read"], items_processed=ingest_counts["processed"],
                         quarantined=ingest_counts["quarantined"], gates=_worst_gate_results(recorder.gates),
                         report_path=str(report_path), out_of_scope=ingest_counts.get("out_of_scope", 0),
                         **summarised)  # fmt: skip
    logger.info("sweep %s finished: %s items, %s quarantined, report %s", ctx.run_key, summary.items_read,
                summary.quarantined, report_path)  # fmt: skip
    return summary


def _finish_empty(ctx: RunContext, recorder: RunRecorder, counts: dict[str, int], why: str) -> RunSummary:
    """A window without items to process completes as a run that says so: nothing decided, sampled or reported."""
    scope = f" for {', '.join(ctx.regions)}" if ctx.regions else ""
    note = (f"no items in window {ctx.window_start:%Y-%m-%dT%H:%M}Z – {ctx.window_end:%Y-%m-%dT%H:%M}Z{scope} "
            f"({why})")  # fmt: skip
    recorder.finish({"note": note, "empty_window": True})
    get_run_logger().info("sweep %s: %s", ctx.run_key, note)
    return RunSummary(run_id=recorder.run_id, run_key=ctx.run_key, state="completed", day=ctx.day,
                      items_read=counts.get("read", 0), items_processed=0, quarantined=counts.get("quarantined", 0),
                      out_of_scope=counts.get("out_of_scope", 0), actions={}, review_tasks={},
                      gates=_worst_gate_results(recorder.gates), report_path=None, note=note)  # fmt: skip


def _record_skipped_detectors(ctx: RunContext, recorder: RunRecorder) -> None:
    """Classifier detectors whose label the model lacks are skipped, not fatal: say so in the run's log, its
    ledger row (`outputs.skipped_detectors`) and the audit log. The policies' other detectors still run."""
    logger = get_run_logger()
    notes = list(resources.pack(ctx.pack, ctx.profile, ctx.model_version).threshold_notes)
    for note in notes:  # auto@P bands the model card cannot serve: said once per run, kept in its ledger row
        logger.info("%s", note)  # the CLI summary says how many and where to read them
    if notes:
        recorder.update(outputs={"threshold_notes": notes})
    skipped = resources.skipped_detectors(ctx.pack, ctx.profile, ctx.models_dir, ctx.model_version)
    if not skipped:
        return
    for s in (s for s in skipped if not s.get("optional")):
        logger.warning("detector %s/%s skipped: %s; the policy's other detectors still run",
                       s["policy_id"], s["detector_id"], s["reason"])  # fmt: skip
    recorder.update(outputs={"skipped_detectors": skipped})
    recorder.audit("detectors.skipped", {"model_version": ctx.model_version, "detectors": skipped})


def _approve_removal_surges(ctx: RunContext, recorder: RunRecorder) -> None:
    """When automated removals in a policy × region exceed the ceiling, a person decides: an answer already
    recorded by `modsweep approve` is applied; on a Prefect server the flow run pauses for one (saying what is
    awaited and how to answer); where nobody can answer (ephemeral API) the run stops before enforcing anything."""
    over, request = t.find_removals_over_ceiling(ctx)
    if over.empty:
        return
    settings = get_settings()
    held_line = approval.held_removals_line(over, settings.removal_ceiling)
    command = f"modsweep approve {recorder.run_id} --by NAME"
    answer = t.recorded_approval(ctx)
    if answer is not None:
        outcome = {"approved": answer["approve"], "approver": answer["approver"], "note": answer["note"],
                   "answered_with": "modsweep approve"}  # fmt: skip
    elif _approval_wait() == "pause":
        create_markdown_artifact(
            key=f"approval-{ctx.run_key}", markdown=request, description="Removals awaiting approval"
        )
        get_run_logger().warning(
            "run %s paused: %s. Waiting up to %s s for an answer: `%s` (or `--reject` to send them to human review), "
            "or resume flow run %s in the Prefect UI; no answer sends them to review", recorder.run_id, held_line,
            settings.approval_timeout_seconds, command, flow_run.get_id())  # fmt: skip
        try:
            form = pause_flow_run(wait_for_input=RemovalApproval, timeout=settings.approval_timeout_seconds,
                                  poll_interval=min(10, max(1, settings.approval_timeout_seconds // 4)),
                                  key=f"removal-approval-{ctx.run_key}")  # fmt: skip
            outcome = {"approved": form.approve, "approver": form.approver, "note": form.note}
        except FlowPauseTimeout:
            outcome = {
                "approved": False,
                "approver": None,
                "note": f"no answer within {settings.approval_timeout_seconds} s",
            }
            _resume_own_run()
    else:
        pending = {"pending": True, "ceiling": settings.removal_ceiling, "pairs": over.to_dict("records"),
                   "command": command}  # fmt: skip
        recorder.update(outputs={"approval": pending})
        recorder.audit("removals.held", pending)
        raise approval.ApprovalRequired(
            f"{held_line}; nothing was enforced (the run stopped before storing decisions). Apply them: `{command}`; "
            f"or send them to human review: `{command} --reject`. Either completes the run"
        )
    held = 0 if outcome["approved"] else t.route_held_removals_to_review(ctx, over)
    record = {**outcome, "pairs": over.to_dict("records"), "removals_routed_to_review": held}
    recorder.record_counts("approval", record)
    recorder.audit("removals.approval", record, actor=outcome["approver"] or "system")


def _approval_wait() -> str:
    """`pause` when a person can answer through Prefect (a server: PREFECT_API_URL), else `hold` (MODSWEEP_APPROVAL_WAIT)."""
    mode = get_settings().approval_wait
    if mode != "auto":
        return mode
    from prefect.settings import PREFECT_API_URL

    return "pause" if PREFECT_API_URL.value() else "hold"


def _resume_own_run() -> None:
    """After a pause timed out, move this flow run back to Running so it can finish normally."""
    from prefect.client.orchestration import get_client
    from prefect.states import Running

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run.get_id(), Running(), force=True)


def _sum_counts(dicts: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + int(v)
    return out


def _worst_gate_results(results: list[dict[str, Any]]) -> dict[str, str]:
    """Per suite, the worst result over its partitions."""
    order = ["ok", "warning", "critical"]
    worst: dict[str, str] = {}
    for g in results:
        worst[g["suite"]] = max(worst.get(g["suite"], "ok"), g["severity"], key=order.index)
    return worst
