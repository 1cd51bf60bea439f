"""Re-audit a run after reviews are imported: metrics with CIs, findings and circuit breaker, refreshed report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow

from modsweep import resources, store
from modsweep.run_start import context_of
from modsweep.tasks import pipeline as t
from modsweep.tasks.findings import sentences
from modsweep.tasks.report import publish_report, report_file


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
    metrics = t.audit_quality(ctx)["metrics"]
    gate = t.gate_dataset(ctx, "metrics", ["metrics"])[0]
    written = t.persist_metrics(ctx)
    findings = t.apply_findings(ctx)
    outcome = {
        "metrics": metrics,
        "metrics_written": written,
        "findings": findings,
        "gate": gate["severity"],
        "report": str(report_file(ctx)),
        "audited_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "requested_by": requested_by,
    }
    # The ledger first, then the report: the rewritten report shows this audit's findings.
    store.update_run(
        engine,
        record["run_id"],
        stage_counts={"re_audit": outcome},
        gate_results=[gate],
        outputs={"findings": findings},
    )
    store.append_audit(
        engine,
        actor=requested_by,
        event="run.audited",
        subject=record["run_id"],
        payload={k: v for k, v in outcome.items() if k != "findings"} | {"findings": sentences(findings)},
    )
    publish_report(ctx, record["run_id"])
    return outcome
