"""The sweep both the daily and the surge flows run (a shadow run too: `shadow_of`): the pipeline of DESIGN §1,
stage by stage under the run ledger, with one gate per boundary.

ingest → gate → detect → gate → decide → gate → approval → store → sample → gate → (review) → audit → gate → report
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.exceptions import FlowPauseTimeout, TerminationSignal
from prefect.flow_runs import pause_flow_run
from prefect.runtime import flow_run
from prefect.settings import PREFECT_API_URL
from prefect.states import Running
from pydantic import BaseModel

from modsweep import resources
from modsweep.catalog import COORDINATION_PART, DATASETS, part_name
from modsweep.config import get_settings
from modsweep.ledger import RunRecorder
from modsweep.run_start import start_run
from modsweep.runs import RunContext, list_window_files, reject_parent_references, resolve_source
from modsweep.serving import run_key_lock
from modsweep.tasks import approval, banks
from modsweep.tasks import pipeline as t
from modsweep.tasks.approval import RemovalApproval
from modsweep.tasks.gates import DataQualityError, warm_up_in_background
from modsweep.tasks.ingest import QuarantineCeilingError, UnreadableSourceFilesError, check_ingested, sum_counts
from modsweep.tasks.report import publish_report, report_file
from modsweep.tasks.strike_ledger_io import snapshot_actor_strikes, update_strike_ledger
from modsweep.workers import start_workers

__all__ = ["QuarantineCeilingError", "RunSummary", "UnreadableSourceFilesError", "run_sweep"]


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
    simulate_reviews_from: str | None = None,
    golden_set_from: str | None = None,
    shadow_of: str | None = None,
    parameters: dict[str, Any] | None = None,
) -> RunSummary:
    """Record the run in the ledger, then run every stage; a failure is recorded with its stage, then raised.
    `parameters`: what the flow adds to the recorded inputs (how it named its window; a shadow's live run)."""
    inputs = {"source": source, "pack": pack, "simulate_reviews_from": simulate_reviews_from}
    reject_parent_references(**inputs, golden_set_from=golden_set_from)
    parameters = {**inputs, "profile": profile, "golden_set_from": golden_set_from, **(parameters or {})}
    start_workers()  # the worker processes start (importing the stage bodies) while the run is recorded
    source = str(resolve_source(Path(source))[0])  # generator output: its items/, not truth/ or golden/
    files = list_window_files(Path(source), window)
    ctx, recorder = start_run(
        flow=flow_name,
        window=window,
        regions=regions,
        files=files,
        pack=pack,
        profile=profile,
        trigger=trigger,
        requested_by=requested_by,
        parameters=parameters,
        golden_dir=golden_set_from,
        prefect_flow_run_id=flow_run.get_id(),
    )
    try:
        with run_key_lock(ctx.run_key):  # two runs of one key never overlap (a Prefect global concurrency limit)
            return _run_stages(ctx, recorder, files, simulate_reviews_from, shadow_of)
    except BaseException as exc:
        if _stopped_from_outside(exc):  # SIGTERM or Ctrl-C: cancelled, not failed; re-running the key resumes
            recorder.cancel(f"stopped by {type(exc).__name__}")
            raise
        partition = (
            exc.result.partition if isinstance(exc, DataQualityError) else getattr(exc, "modsweep_partition", None)
        )
        recorder.fail(exc, partition=partition)
        raise


def _run_stages(
    ctx: RunContext, rec: RunRecorder, files: list[Any], truth_dir: str | None, shadow_of: str | None
) -> RunSummary:
    """The pipeline: each stage under the ledger (`stage`), one gate per boundary; a shadow enforces nothing."""
    stage = rec.running
    with stage("ingest"):
        parts, ingested = _ingest(ctx, rec, files)
    if not ingested["processed"]:  # no source file for the window's days, or every valid row out of scope
        return _finish_empty(ctx, rec, ingested, files)
    t.warm_up_detectors(ctx)  # the workers load the detectors while this process gates the items
    _gate(ctx, rec, "items", parts)
    with stage("detect") as detected:
        _record_skipped_detectors(ctx, rec)
        slices = t.detect_slices(len(parts))  # a day of fewer parts than cores: each one scored in slices
        scored = _results([t.score_items_part.submit(ctx, p, slices) for p in parts], parts)
        detected.update(sum_counts([o.counts for o in scored] + [t.cluster_coordinated_behaviour(ctx, parts).counts]))
    _gate(ctx, rec, "detections", [*parts, COORDINATION_PART])
    with stage("decide") as decided:
        decided.update(snapshot_actor_strikes(ctx))  # repeat offenders' strikes before the day (DESIGN §10)
        # A shadow decides under the live run's circuit-breaker state, so its differences are the candidate pack's.
        paused = t.read_paused_policies() if shadow_of is None else t.paused_during_live_run(shadow_of)
        keep, n_prevalence = _sample_sizes(ctx)
        inputs = (paused, keep, ingested["views"], n_prevalence)
        outcomes = _results([t.decide_items_part.submit(ctx, p, *inputs) for p in parts], parts)
        decided.update(sum_counts([o.counts for o in outcomes]))
    _gate(ctx, rec, "decisions", parts)
    if shadow_of is not None:  # a shadow run enforces nothing: its decisions are compared with the live run's
        with stage("shadow") as compared:
            compared.update(t.compare_with_live(ctx, shadow_of, paused))
        report, summarised = compared["report"], {"actions": compared["candidate_actions"], "review_tasks": {}}
    else:
        with stage("approval"):
            _approve_removal_surges(ctx, rec)
        with stage("store:decisions"):  # first to a worker: the strikes wait for it
            storing = t.persist_decisions.submit(ctx)
        with stage("sample"):  # drawn in the other worker while the decisions are stored
            drawing = t.draw_review_sample.submit(ctx, parts, keep)
        radar = _start_radar(ctx, stage)  # the emerging-risk radar: the final decisions, in a worker once one is free
        with stage("store:decisions"):
            rec.record_counts("decide", {**decided, **_results([storing], ["decisions"])[0]})
        with stage("strikes"):  # strikes and account actions of the stored enforcement (DESIGN §10), in a worker
            striking = update_strike_ledger.submit(ctx)  # beside the sample and the audit: it reads neither
        with stage("sample") as sampled:
            sampled.update(_results([drawing], ["tasks"])[0])
            sampled.update(t.store_review_tasks(ctx))
        _gate(ctx, rec, "review_tasks", ["tasks"])
        if truth_dir:  # confirmed escalations add strikes: the ledger update finishes first
            _finish_strikes(striking, stage)
            with stage("review") as reviewed:
                reviewed.update(t.simulate_reviews(ctx, truth_dir))
        with stage("audit"):
            metrics = t.audit_quality(ctx)["metrics"]
        _gate(ctx, rec, "metrics", ["metrics"])
        with stage("audit") as audited:
            audited.update(metrics=metrics, metrics_written=t.persist_metrics(ctx), findings=t.apply_findings(ctx))
            audited.update(automation_paused_during_run=paused)
        rec.update(outputs={"findings": audited["findings"]})  # the latest audit's findings (a re-audit replaces them)
        _finish_radar(radar, stage)
        if not truth_dir:
            _finish_strikes(striking, stage)  # the report shows the strikes' counts
        with stage("report"):
            report, summarised = str(report_file(ctx)), t.summarise_outputs(ctx)
    rec.finish({"report": report, "lake": ctx.lake_root})  # first: the report shows the final state
    if shadow_of is None:
        with rec.after_finish("report"):
            publish_report(ctx, rec.run_id)
    return _summary(ctx, rec, ingested, report, summarised["actions"], summarised["review_tasks"])


def _start_radar(ctx: RunContext, stage: Any) -> Any:
    """The emerging-risk radar (DESIGN §11: today against earlier days' aggregates) started in its own task, unless
    MODSWEEP_TRENDS=false; its future. It needs only the lake's items and final decisions."""
    if not get_settings().trends:
        return None
    with stage("trends"):
        return t.detect_trends.submit(ctx.lake_root, ctx.day, ctx.run_key, ctx.pack, ctx.profile, ctx.model_version)


def _finish_strikes(striking: Any, stage: Any) -> None:
    """Wait for the strike-ledger update started once the decisions were stored; its counts as the `strikes` stage's."""
    with stage("strikes") as struck:
        struck.update(_results([striking], ["strikes"])[0])


def _finish_radar(radar: Any, stage: Any) -> None:
    """Wait for the radar started by `_start_radar` (if any) and record its counts as the `trends` stage's."""
    if radar is not None:
        with stage("trends") as trended:
            trended.update(_results([radar], ["day"])[0])


def _ingest(ctx: RunContext, rec: RunRecorder, files: list[Any]) -> tuple[list[str], dict[str, int]]:
    """Every source file ingested (parts side by side), cross-part duplicates quarantined; the day's counts are
    recorded, then the run stops if unreadable files or the quarantined share say so. Returns parts and counts."""
    if not files:  # a partitioned source with no date= folder for the window's days
        counts = {"read": 0, "processed": 0, "quarantined": 0, "out_of_scope": 0}
        rec.record_counts("ingest", counts)
        return [], counts
    settings = get_settings()
    warm_up_in_background()  # Great Expectations loads (≈ 2 s) while the workers ingest
    submitted = [t.ingest_partition.submit(ctx, str(f), i, *window) for i, (f, window) in enumerate(files)]
    outcomes = _results(submitted, [part_name(i) for i in range(len(files))])
    parts = [o.part for o in outcomes]
    counts = sum_counts(t.quarantine_cross_partition_duplicates(ctx, parts, [str(f) for f, _ in files]))
    rec.record_counts("ingest", counts)
    unreadable = [str(f) for (f, _), o in zip(files, outcomes, strict=True) if o.counts.get("unreadable_files")]
    check_ingested(
        counts,
        unreadable,
        len(files),
        stop_on_unreadable=settings.unreadable_files == "fail",
        quarantine_ceiling=settings.quarantine_ceiling,
    )
    return parts, counts


def _sample_sizes(ctx: RunContext) -> tuple[int, int]:
    """QA candidates kept per stratum and part (the largest per-stratum sample the profile can ask for), and the
    prevalence sample per policy."""
    settings = get_settings()
    multiplier = resources.pack(ctx.pack, ctx.profile, ctx.model_version).profile_spec.qa_multiplier
    return int(settings.qa_cap * multiplier), int(settings.prevalence_sample_size * multiplier)


def _gate(ctx: RunContext, rec: RunRecorder, dataset: str, parts: list[str]) -> None:
    """The gate the catalog declares for `dataset`, over `parts`, as its own ledger stage. It runs in this thread:
    a gate waits for no task-runner thread the strikes or the radar hold."""
    with rec.running(f"gate:{DATASETS[dataset].suite}"):
        record_gate_results(rec, lambda: t.gate_dataset(ctx, dataset, parts))


def _stopped_from_outside(exc: BaseException) -> bool:
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


def record_gate_results(recorder: RunRecorder, run_gate: Callable[[], list[dict[str, Any]]]) -> None:
    """Record a gate's results in the ledger; a critical failure is recorded, then raised."""
    try:
        results = run_gate()
    except DataQualityError as exc:
        recorder.record_gates([exc.result.to_dict()])
        raise
    recorder.record_gates(results)


def _summary(
    ctx: RunContext,
    rec: RunRecorder,
    counts: dict[str, Any],
    report_path: str | None,
    actions: dict[str, dict[str, int]],
    review_tasks: dict[str, int],
    note: str | None = None,
) -> RunSummary:
    summary = RunSummary(
        run_id=rec.run_id,
        run_key=ctx.run_key,
        state="completed",
        day=ctx.day,
        items_read=counts.get("read", 0),
        items_processed=counts.get("processed", 0),
        quarantined=counts.get("quarantined", 0),
        out_of_scope=counts.get("out_of_scope", 0),
        actions=actions,
        review_tasks=review_tasks,
        gates=_worst_gate_results(rec.gates),
        report_path=report_path,
        note=note,
    )
    get_run_logger().info(
        "sweep %s finished: %s items, %s quarantined, report %s",
        ctx.run_key,
        summary.items_read,
        summary.quarantined,
        report_path,
    )
    return summary


def _finish_empty(ctx: RunContext, recorder: RunRecorder, counts: dict[str, int], files: list[Any]) -> RunSummary:
    """A window without items to process completes as a run that says so: nothing decided, sampled or reported."""
    why = f"{counts.get('out_of_scope', 0):,} rows out of scope" if files else "no source partition for its days"
    scope = f" for {', '.join(ctx.regions)}" if ctx.regions else ""
    window = f"{ctx.window_start:%Y-%m-%dT%H:%M}Z – {ctx.window_end:%Y-%m-%dT%H:%M}Z"
    note = f"no items in window {window}{scope} ({why})"
    recorder.finish({"note": note, "empty_window": True})
    return _summary(ctx, recorder, {**counts, "processed": 0}, None, {}, {}, note=note)


def _record_skipped_detectors(ctx: RunContext, recorder: RunRecorder) -> None:
    """Classifier detectors whose label the model lacks are skipped, not fatal: say so in the run's log, its
    ledger row (`outputs.skipped_detectors`) and the audit log. The policies' other detectors still run."""
    logger = get_run_logger()
    notes = list(resources.pack(ctx.pack, ctx.profile, ctx.model_version).threshold_notes)
    for note in notes:  # auto@P bands the model card cannot serve: said once per run, kept in its ledger row
        logger.info("%s", note)  # the CLI summary says how many and where to read them
    if notes:
        recorder.update(outputs={"threshold_notes": notes})
    skipped = banks.skipped_detectors(ctx.pack, ctx.profile, ctx.models_dir, ctx.model_version)
    if not skipped:
        return
    for s in (s for s in skipped if not s.get("optional")):
        logger.warning(
            "detector %s/%s skipped: %s; the policy's other detectors still run",
            s["policy_id"],
            s["detector_id"],
            s["reason"],
        )
    recorder.update(outputs={"skipped_detectors": skipped})
    recorder.audit("detectors.skipped", {"model_version": ctx.model_version, "detectors": skipped})


def _approve_removal_surges(ctx: RunContext, recorder: RunRecorder) -> None:
    """When automated removals in a policy × region exceed the ceiling, a person decides: an answer already
    recorded by `modsweep approve` is applied; on a Prefect server the flow run pauses for one (saying what is
    awaited and how to answer); at a terminal without a server the run stops before enforcing anything (answer
    with `modsweep approve`); where nobody can answer (no server, no terminal: cron) they go to human review."""
    over, request = t.find_removals_over_ceiling(ctx)
    if over.empty:
        return
    settings = get_settings()
    held_line = approval.held_removals_line(over, settings.removal_ceiling)
    command = f"modsweep approve {recorder.run_id} --by NAME"
    answer = t.recorded_approval(ctx)
    if answer is not None:
        outcome = {
            "approved": answer["approve"],
            "approver": answer["approver"],
            "note": answer["note"],
            "answered_with": "modsweep approve",
        }
    elif (mode := _approval_wait()) == "review":
        outcome = {"approved": False, "approver": None, "note": NOBODY_TO_ASK}
        get_run_logger().warning("run %s: %s; %s", recorder.run_id, held_line, NOBODY_TO_ASK)
    elif mode == "pause":
        create_markdown_artifact(
            key=f"approval-{ctx.run_key}", markdown=request, description="Removals awaiting approval"
        )
        get_run_logger().warning(
            "run %s paused: %s. Waiting up to %s s for an answer: `%s` (or `--reject` to send them to human review), "
            "or resume flow run %s in the Prefect UI; no answer sends them to review",
            recorder.run_id,
            held_line,
            settings.approval_timeout_seconds,
            command,
            flow_run.get_id(),
        )
        try:
            form = pause_flow_run(
                wait_for_input=RemovalApproval,
                timeout=settings.approval_timeout_seconds,
                poll_interval=min(10, max(1, settings.approval_timeout_seconds // 4)),
                key=f"removal-approval-{ctx.run_key}",
            )
            outcome = {"approved": form.approve, "approver": form.approver, "note": form.note}
        except FlowPauseTimeout:
            outcome = {
                "approved": False,
                "approver": None,
                "note": f"no answer within {settings.approval_timeout_seconds} s",
            }
            _resume_own_run()
    else:
        pending = {
            "pending": True,
            "ceiling": settings.removal_ceiling,
            "pairs": over.to_dict("records"),
            "command": command,
        }
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


NOBODY_TO_ASK = (
    "nobody can answer this run (no Prefect server, not a terminal), so the held removals went to human review"
)


def _approval_wait() -> str:
    """MODSWEEP_APPROVAL_WAIT, or for `auto`: `pause` when a person can answer through Prefect (a server:
    PREFECT_API_URL), `hold` when a person at a terminal can answer with `modsweep approve`, else `review`."""
    mode = get_settings().approval_wait
    if mode != "auto":
        return mode
    if PREFECT_API_URL.value():
        return "pause"
    return "hold" if sys.stdin is not None and sys.stdin.isatty() else "review"


def _resume_own_run() -> None:
    """After a pause timed out, move this flow run back to Running so it can finish normally."""
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run.get_id(), Running(), force=True)


def _worst_gate_results(results: list[dict[str, Any]]) -> dict[str, str]:
    """Per suite, the worst result over its partitions."""
    order = ["ok", "warning", "critical"]
    worst: dict[str, str] = {}
    for g in results:
        worst[g["suite"]] = max(worst.get(g["suite"], "ok"), g["severity"], key=order.index)
    return worst
