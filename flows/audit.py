"""Re-audit a run after reviews are imported: metrics with CIs, findings and circuit breaker, refreshed report."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from prefect import flow

from modsweep import resources, store
from modsweep.config import get_settings
from modsweep.runs import RunContext, day_window
from modsweep.tasks import pipeline as t
from modsweep.tasks.findings import sentences
from modsweep.tasks.report import publish_report, report_file


def context_of(record: dict[str, Any]) -> RunContext:
    """The context a recorded run had, rebuilt from its ledger entry."""
    params = record["parameters"]
    if "day" in params:
        window = day_window(date.fromisoformat(params["day"]))
    else:
        window = (datetime.fromisoformat(params["since"]), datetime.fromisoformat(params["until"]))
    regions = tuple(params["regions"]) if params.get("regions") else None
    return RunContext(run_id=record["run_id"], run_key=record["run_key"], flow=record["flow"], day=window[0].date(),
                      window_start=window[0], window_end=window[1], regions=regions, pack=params["pack"],
                      profile=params["profile"], policy_sha256=record["policy_sha256"], seed=record["run_key"],
                      lake_root=get_settings().lake_root, model_version=params.get("model_version", "latest"),
                      golden_dir=params.get("golden_set_from"))  # fmt: skip


@flow(name="audit", log_prints=True)
def audit_run(run: str, requested_by: str = "unknown") -> dict[str, Any]:
    """Recompute a completed run's quality metrics from the reviews decided so far."""
    engine = resources.store_engine()
    record = store.get_run(engine, run)
    if record is None:
        raise ValueError(f"no run matches {run!r}")
    if record["state"] != "completed":
        raise ValueError(f"run {record['run_id']} is {record['state']}; only completed runs can be audited")
    ctx = context_of(record)
    metrics = t.audit_quality(ctx)
    gate = t.gate_frame(metrics, "metrics.audited", "metrics")
    written = t.persist_metrics(ctx, metrics)
    findings = t.apply_findings(ctx, metrics)
    outcome = {"metrics": len(metrics), "metrics_written": written, "findings": findings, "gate": gate["severity"],
               "report": str(report_file(ctx)), "audited_at": datetime.now(UTC).isoformat(timespec="seconds"),
               "requested_by": requested_by}  # fmt: skip
    # The ledger first, then the report: the rewritten report shows this audit's findings.
    store.update_run(engine, record["run_id"], stage_counts={"re_audit": outcome}, gate_results=[gate],
                     outputs={"findings": findings})  # fmt: skip
    store.append_audit(engine, actor=requested_by, event="run.audited", subject=record["run_id"],
                       payload={k: v for k, v in outcome.items() if k != "findings"}
                       | {"findings": sentences(findings)})  # fmt: skip
    publish_report(ctx, record["run_id"])
    return outcome
